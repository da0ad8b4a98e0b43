"""The four causes of 500s the fuzzing found (issue 20), each answered now with a clear 4xx:
a multipart part without a name, a non-ASCII CSRF token, numbers beyond 64 bits in forms and URLs, and two
removals of one evidence item at once (and an error page after a failed flush)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import require_session
from lti_tool.portfolio.evidence import items as evidence_items
from lti_tool.portfolio.models import EvidenceItem
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound
from tests import factories as f
from tests.fuzz_support import assert_clean_refusal
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser
from tests.registration_helpers import launch_as

CUSTOM = {"certification": "TSTCERT", "route": "training"}
HUGE = str(2**70)


@pytest.fixture
def platform(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    return platform


@pytest.fixture
def ada(app, platform):
    f.make_certification("TSTCERT")
    browser = Browser(app, platform, "ada", custom=CUSTOM)
    browser.start()
    return browser


def _item(ada: Browser) -> tuple[int, int]:
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=[])
    return portfolio.id, db.session.scalar(select(EvidenceItem.id))


# --- a multipart part without name= ---------------------------------------------------------------


@pytest.mark.parametrize("part", ["field", "file"])
def test_a_multipart_part_without_a_name_is_a_clear_400(app, ada, part):
    portfolio_id = ada.portfolio().id
    disposition = 'form-data; filename="a.pdf"' if part == "file" else "form-data"
    body = (
        f'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{ada.csrf}\r\n'
        f"--B\r\nContent-Disposition: {disposition}\r\n\r\nvalue\r\n--B--\r\n"
    ).encode()
    for url in (f"/portfolio/{portfolio_id}/evidence/new", "/lti/launch", "/lti/register"):
        resp = ada.client.post(url, data=body, content_type="multipart/form-data; boundary=B")
        assert_clean_refusal(resp, url)
        assert "without a name" in resp.data.decode()


# --- a non-ASCII CSRF token -----------------------------------------------------------------------


@pytest.mark.parametrize("token", ["é", "💥" * 40, "İ", "\u202e", "ﬁ"])
def test_a_non_ascii_csrf_token_is_refused_as_an_expired_form(app, ada, token):
    portfolio_id, item_id = _item(ada)
    url = f"/portfolio/{portfolio_id}/evidence/{item_id}/remove"
    for resp in (
        ada.client.post(url, data={"csrf_token": token}),
        ada.client.post(url, headers={"X-CSRF-Token": token}),
    ):
        assert_clean_refusal(resp, token)
        assert resp.status_code == 400 and "expired" in resp.data.decode()
    assert db.session.get(EvidenceItem, item_id) is not None


# --- numbers beyond 64 bits -----------------------------------------------------------------------


@pytest.mark.parametrize("number", [HUGE, "9" * 5000, "²", "١٢", "-1", "1_0"])
def test_numbers_no_page_sends_are_clear_refusals_in_forms(app, ada, number):
    portfolio_id, item_id = _item(ada)
    for url, data in (
        (f"/portfolio/{portfolio_id}/submit", {"attempt": number}),
        (f"/portfolio/{portfolio_id}/evidence/{item_id}/edit", {"remove_files": number, "criteria": number}),
    ):
        resp = ada.post(url, data)
        assert resp.status_code < 500, (url, number, resp.status_code)


@pytest.mark.parametrize("number", [HUGE, "9" * 5000, "²", "2147483648"])
def test_numbers_no_page_sends_are_clear_refusals_in_admin_forms(app, number):
    client = app.test_client()
    admin = launch_as(client, "demo-admin-alex", tool_admin=True)
    partner = f.make_partner("north")
    data = {"csrf_token": admin.csrf_token}
    for url, extra in (
        (f"/admin/partners/{partner.id}/attach", {"deployment_id": number}),
        ("/admin/invites", {"hours": number, "partner_id": number}),
        ("/staff/admin/", {"user_id": number, "partner_id": number, "role": "assessor"}),
    ):
        resp = client.post(url, data={**data, **extra})
        assert 400 <= resp.status_code < 500 or resp.status_code in (200, 303), (url, number, resp.status_code)
    assert client.get("/staff/queues", query_string={"partner": number}).status_code < 500


@pytest.mark.parametrize("number", [HUGE, "99999999999999999999999999999", "2147483648"])
def test_numbers_beyond_any_row_id_in_urls_are_404s(app, ada, number):
    for url in (f"/portfolio/{number}", f"/portfolio/1/evidence/{number}/remove", f"/appeals/portfolio/{number}"):
        resp = ada.get(url)
        assert resp.status_code == 404, (url, resp.status_code)


# --- two removals of one item at once -------------------------------------------------------------


def test_a_removal_that_lost_the_race_is_a_clear_404_and_nothing_is_left_half_done(app, ada):
    portfolio_id, item_id = _item(ada)
    item = db.session.get(EvidenceItem, item_id)
    _ = item.files, item.criteria, item.portfolio  # loaded, as the request that loses the race has them
    # Meanwhile another request (its own session) removes the item.
    assert ada.post(f"/portfolio/{portfolio_id}/evidence/{item_id}/remove").status_code == 303
    with pytest.raises(NotFound):
        evidence_items.delete_item(item, actor=ada.session.user)
    assert db.session.scalar(select(EvidenceItem.id)) is None  # the session is usable again


def test_two_removals_at_once_answer_303_and_404(app, ada):
    portfolio_id, item_id = _item(ada)
    url = f"/portfolio/{portfolio_id}/evidence/{item_id}/remove"
    data = {"csrf_token": ada.csrf}
    cookie = ada.client.get_cookie("lti_tool_session")
    assert cookie is not None
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def remove() -> None:
        client = app.test_client()
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
        barrier.wait()
        statuses.append(client.post(url, data=data).status_code)

    threads = [threading.Thread(target=remove) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 303 in statuses and all(s in (303, 404, 409) for s in statuses), statuses


@pytest.mark.filterwarnings("ignore:New instance .* conflicts with persistent instance")
def test_the_error_page_renders_after_a_failed_flush(app, ada):
    """An unexpected error after a failed flush: the page is the calm 500 page (rendered with the person's
    session, which the layout reads), not PendingRollbackError inside the error handler."""
    cookie = ada.client.get_cookie("lti_tool_session")
    assert cookie is not None
    sess_id = ada.session.id
    db.session.remove()
    with app.test_request_context("/portfolio/", headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        require_session()
        db.session.add(ToolSession(id=sess_id, user_id=1, csrf_token="x"))  # a duplicate primary key
        with pytest.raises(IntegrityError):
            db.session.flush()
        assert not db.session.is_active  # every query now raises PendingRollbackError, until a rollback
        resp = app.handle_user_exception(RuntimeError("after a failed flush"))
        assert resp.status_code == 500 and "Something went wrong on our side" in resp.get_data(as_text=True)
        stale = app.handle_user_exception(StaleDataError("DELETE expected 1 row, 0 matched"))
        assert stale.status_code == 409 and "another request" in stale.get_data(as_text=True)

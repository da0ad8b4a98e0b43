"""Launches when the browser keeps no cookie of the tool in the LMS frame.

- Partitioned cookies (CHIPS) where the browser accepts a Secure cookie: then the frame works as usual.
- LTI client-side postMessage storage where the platform offers it, with the proof bound to the tool's page.
- Otherwise the verified-launch handoff (launch/handoff.py): the frame offers a new window, which shows who is
  signing in and completes the launch the frame verified, without repeating the platform's login (Moodle
  accepts a login hint once).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from lti_tool.launch import counters
from lti_tool.launch.models import CacheEntry, ToolSession
from lti_tool.store.db import db, utcnow
from tests.conftest import make_test_app, table_count
from tests.factories import make_certification
from tests.lti_helpers import DELETE, INSTRUCTOR, TestPlatform
from tests.registration_helpers import launch_as

FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site", "Origin": "https://lms.test"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document", "Origin": "http://localhost"}
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


def _data(page: str, name: str) -> str:
    return html.unescape(re.search(rf'data-{name}="([^"]*)"', page).group(1))


def _field(page: str, name: str) -> str:
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))


def _set_cookies(resp, name: str) -> list[str]:
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(name)]


# --- partitioned cookies ----------------------------------------------------------------------------------


def test_login_and_session_cookies_are_partitioned_where_the_browser_accepts_secure(client, platform):
    state, nonce = platform.login(client)  # http://localhost: browsers accept Secure there
    resp = client.post("/lti/launch", data={"id_token": platform.sign(platform.claims(nonce)), "state": state})
    assert resp.status_code == 303
    [session_cookie] = _set_cookies(resp, "lti_tool_session=")
    assert all(a in session_cookie for a in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"))
    login = client.get(
        "/lti/login",
        query_string={"iss": platform.issuer, "login_hint": "h", "target_link_uri": "http://localhost/lti/launch"},
    )
    [state_cookie] = _set_cookies(login, "lti1p3-state-")
    assert all(a in state_cookie for a in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"))


def test_cookies_over_plain_http_elsewhere_are_lax_and_unpartitioned(client, platform):
    login = client.get(
        "/lti/login",
        base_url="http://tool.example",
        query_string={"iss": platform.issuer, "login_hint": "h", "target_link_uri": "http://tool.example/lti/launch"},
    )
    [state_cookie] = _set_cookies(login, "lti1p3-state-")
    assert "SameSite=Lax" in state_cookie and "Secure" not in state_cookie and "Partitioned" not in state_cookie


def test_partitioned_cookies_can_be_turned_off(backend, tmp_path, keys_dir, jwks_server):
    app = make_test_app(backend, tmp_path, keys_dir, PARTITIONED_COOKIES=False)
    with app.app_context():
        client = app.test_client()
        platform = TestPlatform(jwks_server)
        state, nonce = platform.login(client)
        [state_cookie] = _set_cookies(client.get("/lti/login", query_string=_login_query(platform)), "lti1p3-state-")
        assert "Secure" in state_cookie and "SameSite=None" in state_cookie and "Partitioned" not in state_cookie
        resp = client.post("/lti/launch", data={"id_token": platform.sign(platform.claims(nonce)), "state": state})
        [session_cookie] = _set_cookies(resp, "lti_tool_session=")
        assert "SameSite=None" in session_cookie and "Partitioned" not in session_cookie
        db.session.remove()


def _login_query(platform, **extra: str) -> dict[str, str]:
    return {
        "iss": platform.issuer,
        "login_hint": "hint",
        "client_id": platform.client_id,
        "target_link_uri": "http://localhost/lti/launch",
        **extra,
    }


# --- the platform's postMessage storage -----------------------------------------------------------------


def _login_with_storage(client, platform):
    resp = client.get("/lti/login", query_string=_login_query(platform, lti_storage_target="_parent"))
    assert resp.status_code == 200
    page = resp.data.decode()
    args = parse_qs(urlsplit(_data(page, "next")).query)
    return page, args["state"][0], args["nonce"][0]


def test_login_with_storage_target_asks_the_platform_to_keep_the_secret(client, platform):
    page, state, _ = _login_with_storage(client, platform)
    assert _data(page, "mode") == "put"
    assert _data(page, "key") == "state_" + state
    assert _data(page, "origin") == "https://lms.test"  # only the platform's origin may receive it
    assert len(_data(page, "value")) >= 24
    assert "lti_storage.js" in page


def test_storage_launch_without_cookie_checks_the_platform_copy(client, platform):
    page, state, nonce = _login_with_storage(client, platform)
    secret = _data(page, "value")
    client.delete_cookie(f"lti1p3-{state}")
    token = platform.sign(platform.claims(nonce))
    check = client.post("/lti/launch", data={"id_token": token, "state": state}, headers=FRAME)
    assert check.status_code == 200
    check_page = check.data.decode()
    assert _data(check_page, "mode") == "get" and _data(check_page, "key") == "state_" + state
    assert table_count(ToolSession) == 0  # nothing happens until the browser proves it
    proof = {"id_token": token, "state": state, "lti_storage_proof": secret}
    ok = client.post("/lti/launch", data=proof, headers=SAME_ORIGIN)
    assert ok.status_code == 303, ok.data
    assert table_count(ToolSession) == 1
    # This session lives in a frame that keeps no cookie: it alone carries the token in its address.
    assert "_s=" in ok.location
    again = client.post("/lti/launch", data=proof, headers=SAME_ORIGIN)
    assert again.status_code == 401  # the proof works once: the login is used up


def test_storage_proof_is_refused_from_another_site_and_burnt_by_a_wrong_guess(client, platform):
    """Someone's id_token, state and proof posted by another site would sign the victim in as them (login CSRF)."""
    page, state, nonce = _login_with_storage(client, platform)
    client.delete_cookie(f"lti1p3-{state}")
    proof = {
        "id_token": platform.sign(platform.claims(nonce)),
        "state": state,
        "lti_storage_proof": _data(page, "value"),
    }
    cross = client.post(
        "/lti/launch", data=proof, headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}
    )
    assert cross.status_code == 403
    no_headers = client.post("/lti/launch", data=proof, headers={"Origin": "https://evil.test"})
    assert no_headers.status_code == 403
    wrong = client.post("/lti/launch", data={**proof, "lti_storage_proof": "gu\u00e9ss \u2603"}, headers=SAME_ORIGIN)
    assert wrong.status_code == 401  # a non-ASCII guess is just wrong (it once reached compare_digest as str: a 500)
    right = client.post("/lti/launch", data=proof, headers=SAME_ORIGIN)
    assert right.status_code == 401 and table_count(ToolSession) == 0  # one guess used the login up


# --- the verified-launch handoff ------------------------------------------------------------------------


def _frame_launch(client, platform, headers=FRAME, **claims):
    state, nonce = platform.login(client)
    client.delete_cookie(f"lti1p3-{state}")  # the frame kept no cookie
    token = platform.sign(platform.claims(nonce, **claims))
    return client.post("/lti/launch", data={"id_token": token, "state": state}, headers=headers), token, state


def test_frame_without_cookie_offers_a_new_window_calmly(client, platform, caplog):
    with caplog.at_level(logging.WARNING, logger="lti_tool.launch"):
        resp, token, state = _frame_launch(client, platform)
    assert resp.status_code == 200  # the normal path in today's browsers, not an error
    page = html.unescape(resp.data.decode())
    assert "Continue in a new window" in page and 'class="error' not in page and "error-message" not in page
    assert "nothing is wrong" in page and "Portfolio" in page  # the activity's title
    assert resp.headers["Cache-Control"] == "no-store"
    assert table_count(ToolSession) == 0  # no session in a frame that cannot keep it
    assert not _set_cookies(resp, "lti_tool_session=")
    assert any(r.levelno == logging.WARNING and "needs a new window" in r.getMessage() for r in caplog.records)
    assert counters.recent()["handoff_offered"] == 1
    # The launch was verified in full and its state and nonce are used up: the id_token cannot come again.
    replay = client.post("/lti/launch", data={"id_token": token, "state": state}, headers=FRAME)
    assert replay.status_code == 401


def _open_window(client, resp, headers=SAME_ORIGIN):
    token = _field(resp.data.decode(), "token")
    return client.post("/lti/handoff", data={"token": token}, headers=headers), token


def test_new_window_shows_who_and_completes_the_verified_launch_once(client, platform, caplog):
    resp, _, _ = _frame_launch(client, platform)
    ticket = _data(resp.data.decode(), "ticket")
    window, token = _open_window(client, resp)
    assert window.status_code == 200
    page = html.unescape(window.data.decode())
    assert "Continue as Lee Learner?" in page and "lee@example.org" in page and "Course One" in page
    assert "Test LMS" in page  # from which platform
    # Nobody may frame the page with the sign-in button (clickjacking), and it is not cached.
    assert "frame-ancestors 'none'" in window.headers["Content-Security-Policy"]
    assert window.headers["X-Frame-Options"] == "DENY" and window.headers["Cache-Control"] == "no-store"
    [bind_cookie] = _set_cookies(window, "lti_handoff=")
    assert "SameSite=Strict" in bind_cookie and "HttpOnly" in bind_cookie and "Path=/lti/handoff" in bind_cookie
    waiting = client.post("/lti/handoff/result", data={"ticket": ticket}, headers=SAME_ORIGIN)
    assert waiting.get_json() == {"state": "waiting"}

    done = client.post("/lti/handoff/confirm", data={"token": token, "bind": _field(page, "bind")}, headers=SAME_ORIGIN)
    assert done.status_code == 303 and "_s=" not in done.location  # no session id in a window's address
    assert urlsplit(done.location).path == "/start"  # where this launch lands (no certification placed)
    assert _set_cookies(done, "lti_tool_session=")
    assert table_count(ToolSession) == 1
    assert client.get(done.location, follow_redirects=True).status_code == 200
    assert client.post("/lti/handoff/result", data={"ticket": ticket}, headers=SAME_ORIGIN).get_json() == {
        "state": "open"
    }
    assert counters.recent()["handoff_completed"] == 1

    # Single use: the same token opens nothing again, and the confirmation cannot be repeated.
    with caplog.at_level(logging.WARNING, logger="lti_tool.launch"):
        again = client.post("/lti/handoff", data={"token": token}, headers=SAME_ORIGIN)
    assert again.status_code == 410 and b"Please open the activity again" in again.data
    assert any(r.levelno == logging.WARNING and "handoff refused" in r.getMessage() for r in caplog.records)
    repeat = client.post(
        "/lti/handoff/confirm", data={"token": token, "bind": _field(page, "bind")}, headers=SAME_ORIGIN
    )
    assert repeat.status_code == 410 and table_count(ToolSession) == 1
    assert counters.recent()["handoff_expired"] == 2


def test_handoff_pages_refuse_other_sites(client, platform):
    resp, _, _ = _frame_launch(client, platform)
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.test"},  # an older browser without Sec-Fetch-Site
        {},  # nothing says where it came from
    ):
        window, _ = _open_window(client, resp, headers)
        assert window.status_code == 403, headers
    # The tool's own page, from a browser that only sends Origin, is fine.
    window, _ = _open_window(client, resp, {"Origin": "http://localhost"})
    assert window.status_code == 200
    assert (
        client.post("/lti/handoff/result", data={"ticket": "x"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 403
    )


def test_confirmation_needs_the_browser_it_was_shown_in(client, platform, app):
    resp, _, _ = _frame_launch(client, platform)
    window, token = _open_window(client, resp)
    bind = _field(window.data.decode(), "bind")
    other = app.test_client()  # another browser: no binding cookie
    refused = other.post("/lti/handoff/confirm", data={"token": token, "bind": bind}, headers=SAME_ORIGIN)
    assert refused.status_code == 403
    wrong = client.post("/lti/handoff/confirm", data={"token": token, "bind": "not-it"}, headers=SAME_ORIGIN)
    assert wrong.status_code == 403
    missing = client.post("/lti/handoff/confirm", data={"token": token}, headers=SAME_ORIGIN)
    assert missing.status_code == 403
    cross = client.post(
        "/lti/handoff/confirm", data={"token": token, "bind": bind}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert table_count(ToolSession) == 0
    # None of that used the handoff up: the right browser still completes it.
    ok = client.post("/lti/handoff/confirm", data={"token": token, "bind": bind}, headers=SAME_ORIGIN)
    assert ok.status_code == 303 and table_count(ToolSession) == 1


def test_handoff_expires(client, platform):
    resp, _, _ = _frame_launch(client, platform)
    window, token = _open_window(client, resp)
    db.session.execute(
        update(CacheEntry).where(CacheEntry.key.like("handoff:%")).values(expires_at=utcnow() - dt.timedelta(seconds=1))
    )
    db.session.commit()
    late = client.post(
        "/lti/handoff/confirm", data={"token": token, "bind": _field(window.data.decode(), "bind")}, headers=SAME_ORIGIN
    )
    assert late.status_code == 410 and table_count(ToolSession) == 0
    assert counters.recent()["handoff_expired"] == 1


def test_top_level_launch_without_the_state_cookie_is_refused(client, platform, caplog):
    """A top-level window always gets the state cookie back: without it, the login began elsewhere."""
    with caplog.at_level(logging.WARNING, logger="lti_tool.launch"):
        resp, _, _ = _frame_launch(
            client, platform, headers={"Sec-Fetch-Dest": "document", "Origin": "https://lms.test"}
        )
    assert resp.status_code == 401 and b"did not begin in this browser window" in resp.data
    assert b"Continue in a new window" not in resp.data and table_count(ToolSession) == 0
    assert any(r.levelno == logging.WARNING and "launch refused" in r.getMessage() for r in caplog.records)
    posted_elsewhere, _, _ = _frame_launch(
        client, platform, headers={"Sec-Fetch-Dest": "iframe", "Origin": "https://evil.test"}
    )
    assert posted_elsewhere.status_code == 401
    assert counters.recent()["failed"] == 2
    assert db.session.scalar(select(CacheEntry.key).where(CacheEntry.key.like("handoff:%"))) is None


def test_deep_linking_response_goes_back_through_the_frame(client, platform):
    make_certification("CMIACR", credits=12)
    settings = {
        "deep_link_return_url": "https://lms.test/mod/lti/contentitem_return.php?course=2&sesskey=abc",
        "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe"],
        "accept_multiple": False,
    }
    resp, _, _ = _frame_launch(
        client,
        platform,
        CLAIM_message_type="LtiDeepLinkingRequest",
        CLAIM_roles=[INSTRUCTOR],
        CLAIM_resource_link=DELETE,
        **{DL + "deep_linking_settings": settings},
    )
    assert resp.status_code == 200
    frame_page = html.unescape(resp.data.decode())
    assert "Choose what to add to your course in the new window" in frame_page
    assert "https://lms.test" in resp.headers["Content-Security-Policy"].split("form-action")[1].split(";")[0]
    ticket = _data(frame_page, "ticket")
    window, token = _open_window(client, resp)
    assert "Adding activities to the course" in html.unescape(window.data.decode())
    done = client.post(
        "/lti/handoff/confirm", data={"token": token, "bind": _field(window.data.decode(), "bind")}, headers=SAME_ORIGIN
    )
    choose = client.get(done.location, follow_redirects=True)
    assert choose.request.path == "/grading/deep-link"
    picked = client.post(
        "/grading/deep-link", data={"choice": "CMIACR", "csrf_token": _field(choose.data.decode(), "csrf_token")}
    )
    assert picked.status_code == 200
    assert b"Done: go back to your course" in picked.data and b'name="JWT"' not in picked.data  # not posted here
    result = client.post("/lti/handoff/result", data={"ticket": ticket}, headers=SAME_ORIGIN).get_json()
    assert result["state"] == "deep_link" and result["action"] == settings["deep_link_return_url"]
    assert result["jwt"].count(".") == 2
    # Handed out once.
    assert client.post("/lti/handoff/result", data={"ticket": ticket}, headers=SAME_ORIGIN).status_code == 410


# --- no session id in a window's address -----------------------------------------------------------------


def test_top_level_window_loses_the_session_id_from_its_address(client, platform):
    platform.launch(client)
    sid = client.get_cookie("lti_tool_session").value
    with_cookie = client.get(f"/start?_s={sid}&page=2", headers={"Sec-Fetch-Dest": "document"})
    assert with_cookie.status_code == 303 and with_cookie.location == "/start?page=2"
    client.delete_cookie("lti_tool_session")
    # A tool link opened from a cookieless frame into a new tab: the session moves into the window's cookie.
    own_link = client.get(f"/start?_s={sid}", headers={"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "same-origin"})
    assert own_link.status_code == 303 and own_link.location == "/start"
    assert _set_cookies(own_link, "lti_tool_session=")
    client.delete_cookie("lti_tool_session")
    # A link from another site is never turned into a cookie; a frame keeps its token.
    foreign = client.get(f"/start?_s={sid}", headers={"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code != 303 and not _set_cookies(foreign, "lti_tool_session=")
    framed = client.get(f"/start?_s={sid}", headers={"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "same-origin"})
    assert framed.status_code != 303


def test_admin_console_counts_launches_that_needed_a_new_window(client, platform):
    _frame_launch(client, platform)
    _frame_launch(client, platform, headers={"Sec-Fetch-Dest": "document"})
    launch_as(client, "demo-admin-alex", tool_admin=True)
    page = html.unescape(client.get("/admin/", follow_redirects=True).data.decode())
    assert "1 needed a new window" in page and "0 completed it" in page and "1 failed" in page


# --- the Storage Access API: the frame completes the verified launch itself -------------------------------

FRAME_SAME_ORIGIN = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}


def test_frame_offers_to_stay_in_the_page_where_the_browser_can_grant_storage_access(client, platform):
    resp, _, _ = _frame_launch(client, platform)
    page = resp.data.decode()
    # The button is hidden until lti_handoff.js finds document.requestStorageAccess; the new window stays.
    assert re.search(r'<form id="lti-handoff-here" method="post" action="/lti/handoff/here" hidden>', page)
    assert _field(page, "ticket") == _data(page, "ticket")
    assert "Continue in this page" in page and "Continue in a new window" in page


def test_storage_access_completes_the_launch_in_the_frame_once(client, platform, app, caplog):
    resp, _, _ = _frame_launch(client, platform)
    page = resp.data.decode()
    token, ticket = _field(page, "token"), _data(page, "ticket")
    with caplog.at_level(logging.INFO, logger="lti_tool.launch"):
        done = client.post("/lti/handoff/here", data={"token": token, "ticket": ticket}, headers=FRAME_SAME_ORIGIN)
    assert done.status_code == 303
    assert urlsplit(done.location).path == "/start"
    # The session id rides along in the frame's address in case the browser still keeps the cookie from it.
    sid = parse_qs(urlsplit(done.location).query)["_s"][0]
    [cookie] = _set_cookies(done, "lti_tool_session=")
    assert sid in cookie and db.session.get(ToolSession, sid) is not None
    assert any("in the frame after storage access" in r.getMessage() for r in caplog.records)
    other = app.test_client()  # even without the cookie, the frame's next page goes on by the token
    landed = other.get(done.location, headers={"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"})
    assert landed.status_code == 200 and b"Lee Learner" in landed.data
    assert counters.recent()["handoff_in_frame"] == 1 and counters.recent()["handoff_completed"] == 0
    # Single use: neither the frame again nor the new window can use it.
    again = client.post("/lti/handoff/here", data={"token": token, "ticket": ticket}, headers=FRAME_SAME_ORIGIN)
    assert again.status_code == 410 and b"reload your course" in again.data
    assert "frame-ancestors 'none'" not in again.headers["Content-Security-Policy"]  # shown in the frame
    window = client.post("/lti/handoff", data={"token": token}, headers=SAME_ORIGIN)
    assert window.status_code == 410 and table_count(ToolSession) == 1


def test_staying_in_the_frame_needs_the_frames_ticket_its_own_site_and_a_frame(client, platform):
    resp, _, _ = _frame_launch(client, platform)
    page = resp.data.decode()
    token, ticket = _field(page, "token"), _data(page, "ticket")
    refusals = [
        ({"token": token}, FRAME_SAME_ORIGIN),  # no ticket: not the frame that was offered it
        ({"token": token, "ticket": "not-it"}, FRAME_SAME_ORIGIN),
        ({"token": token, "ticket": ticket}, {**FRAME_SAME_ORIGIN, "Sec-Fetch-Site": "cross-site"}),
        ({"token": token, "ticket": ticket}, {"Origin": "https://evil.test"}),
        ({"token": token, "ticket": ticket}, SAME_ORIGIN),  # a top-level window: it has the new-window path
    ]
    for data, headers in refusals:
        refused = client.post("/lti/handoff/here", data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
        assert b"Traceback" not in refused.data
    assert table_count(ToolSession) == 0
    # None of that used the handoff up.
    ok = client.post("/lti/handoff/here", data={"token": token, "ticket": ticket}, headers=FRAME_SAME_ORIGIN)
    assert ok.status_code == 303 and table_count(ToolSession) == 1


def test_admin_console_counts_launches_that_stayed_in_the_frame(client, platform):
    resp, _, _ = _frame_launch(client, platform)
    page = resp.data.decode()
    client.post(
        "/lti/handoff/here",
        data={"token": _field(page, "token"), "ticket": _data(page, "ticket")},
        headers=FRAME_SAME_ORIGIN,
    )
    launch_as(client, "demo-admin-alex", tool_admin=True)
    console = html.unescape(client.get("/admin/", follow_redirects=True).data.decode())
    assert "1 needed a new window" in console and "1 stayed in the page once the browser allowed" in console

"""Grade delivery against fake platforms that answer exactly as Open edX and Moodle do.

The demo platform's DEMO_AGS_PROFILE makes its AGS endpoints answer as:
- Open edX (lti-consumer-xblock, lti_consumer/plugin/views.py and lti_1p3/extensions/rest_framework/): a token
  it no longer accepts is 403 {"detail": "Invalid token signature."}; a score whose timestamp is not later
  than the stored one is 400 {"timestamp": ["Score already exists for the provided timestamp"]}; a line item
  label is at most 100 characters; results list scores with a scoreGiven only.
- Moodle (mod/lti/service/gradebookservices/classes/local/resources/scores.php): a score whose timestamp, in
  whole seconds, is not later than the stored grade's is 409 "Refusing score with an earlier timestamp ..."
  in the status line.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import delete, select

from lti_tool.demo_platform import services as demo_services
from lti_tool.demo_platform.models import DemoAccessToken, DemoLineItem, DemoScore
from lti_tool.demo_platform.services import token_requests
from lti_tool.grading import worker
from lti_tool.grading.cli import grading_cli
from lti_tool.grading.models import DELIVERED, FAILED, PENDING, GradeJob
from lti_tool.grading.outbox import enqueue_for_state
from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.store.db import db
from tests.grading_helpers import award, drain, jobs, live_app, make_certification, make_portfolio, submit
from tests.lti_helpers import demo_launch

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
LONG_TITLE = (
    "Qualified professional in the central monitoring of clinical trial data across many sites and many countries"
)


@pytest.fixture(params=["openedx", "moodle"])
def platform(request, backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir, DEMO_AGS_PROFILE=request.param) as (app, base):
        yield request.param, app


@pytest.fixture
def openedx(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir, DEMO_AGS_PROFILE="openedx") as (app, base):
        yield app


def _learner(app, sub: str = "demo-learner-ada") -> tuple[LtiUser, ResourceLink]:
    demo_launch(app.test_client(), sub)
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub)), db.session.scalar(select(ResourceLink))


def _resend(job: GradeJob) -> None:
    """As after a lost response (timeout) or a worker that died mid-batch: the job is due again."""
    job.status, job.delivered_at, job.next_attempt_at = PENDING, None, job.created_at
    db.session.commit()


def _received() -> list[dict]:
    return [s.payload for s in db.session.scalars(select(DemoScore).order_by(DemoScore.id))]


def test_a_resent_score_counts_as_delivered_as_the_platform_holds_it(platform):
    name, app = platform
    ada, link = _learner(app)
    portfolio = make_portfolio(ada, link, make_certification())
    enqueue_for_state(portfolio)
    submit(portfolio)
    award(portfolio)
    db.session.commit()
    drain()
    assert all(j.status == DELIVERED for j in jobs())
    sent = len(_received())

    for job in jobs():
        _resend(job)
    drain()
    assert all(j.status == DELIVERED for j in jobs()), [(j.id, j.last_error) for j in jobs()]
    assert len(_received()) == sent  # the platform refused every copy: nothing changed in its gradebook
    answers = (
        ("HTTP 400 'Score already exists for the provided timestamp'", "HTTP 400 'Score timestamp can only be updated")
        if name == "openedx"
        else ("HTTP 409 'Refusing score with an earlier timestamp'",)
    )
    notes = [j.last_error for j in jobs()]
    assert all(n.startswith("Delivered earlier: the platform answered") for n in notes), notes
    assert all(any(a in n for a in answers) for n in notes), notes
    # The awarded score has a scoreGiven: the platform's results (result.readonly) confirm it.
    awarded = [j for j in jobs() if j.payload.get("scoreGiven") is not None]
    assert awarded and all("its results list the learner's score" in j.last_error for j in awarded)

    # `lti-tool grading retry` of such a job no longer fails the same way each time.
    job = jobs()[-1]
    job.status = FAILED
    db.session.commit()
    result = app.test_cli_runner().invoke(grading_cli, ["retry", str(job.id)])
    assert result.exit_code == 0, result.output
    drain()
    assert db.session.get(GradeJob, job.id).status == DELIVERED


def test_an_older_score_after_a_later_one_counts_as_delivered_on_open_edx(openedx):
    ada, link = _learner(openedx)
    portfolio = make_portfolio(ada, link, make_certification())
    enqueue_for_state(portfolio)
    submit(portfolio)
    db.session.commit()
    drain()
    started = jobs()[0]
    _resend(started)  # its timestamp is older than the stored Submitted score's
    drain()
    started = db.session.get(GradeJob, started.id)
    assert started.status == DELIVERED and "can only be updated to a later point in time" in started.last_error


def test_a_held_score_the_results_do_not_show_fails_with_advice(openedx, monkeypatch):
    ada, link = _learner(openedx)
    portfolio = make_portfolio(ada, link, make_certification())
    submit(portfolio)
    award(portfolio)
    db.session.commit()
    drain()
    awarded = jobs()[-1]
    _resend(awarded)
    monkeypatch.setattr(worker, "read_results", lambda ags, url, user: [])
    drain()
    awarded = db.session.get(GradeJob, awarded.id)
    assert awarded.status == FAILED
    assert "yet its results show no score for learner demo-learner-ada" in awarded.last_error
    assert "\nWhat to do: " in awarded.last_error


def test_without_the_results_scope_the_platforms_answer_alone_counts(openedx):
    ada, link = _learner(openedx)
    link.ags_scopes = [s for s in link.ags_scopes if not s.endswith("result.readonly")]
    portfolio = make_portfolio(ada, link, make_certification())
    submit(portfolio)
    award(portfolio)
    db.session.commit()
    drain()
    _resend(jobs()[-1])
    drain()
    assert jobs()[-1].status == DELIVERED and jobs()[-1].last_error.endswith("or a later one).")


def test_open_edx_403_for_a_stale_token_gets_a_new_token_and_delivers(openedx):
    ada, link = _learner(openedx)
    portfolio = make_portfolio(ada, link, make_certification())
    enqueue_for_state(portfolio)
    db.session.commit()
    drain()
    assert token_requests() == 1
    # The platform rotated its keys (or its clock moved): it no longer accepts the cached token.
    db.session.execute(delete(DemoAccessToken))
    db.session.commit()
    submit(portfolio)
    db.session.commit()
    drain()
    last = jobs()[-1]
    assert last.status == DELIVERED and last.attempts == 1 and last.last_error == ""
    assert token_requests() == 1  # the one new token (the test deleted the first)


def test_a_403_that_a_new_token_does_not_cure_fails_with_what_to_do(openedx, monkeypatch):
    # An LMS admin withdrew the score scope: every token the platform issues lacks it.
    monkeypatch.setattr(demo_services, "KNOWN_SCOPES", demo_services.KNOWN_SCOPES - {AGS + "score"})
    ada, link = _learner(openedx)
    enqueue_for_state(make_portfolio(ada, link, make_certification()))
    db.session.commit()
    drain()
    job = jobs()[-1]
    assert job.status == FAILED and job.last_status == 403 and job.attempts == 1
    assert '"detail":"You do not have permission to perform this action."' in job.last_error
    assert "What to do: The platform refused the tool's access even with a new token" in job.last_error
    assert token_requests() == 2  # one new token, once

    result = openedx.test_cli_runner().invoke(grading_cli, ["list", "--status", "failed"])
    assert result.exit_code == 0 and "What to do: The platform refused" in result.output
    admin = openedx.test_client()
    demo_launch(admin, "demo-admin-alex")
    alex = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-admin-alex"))
    db.session.add(StaffGrant(user_id=alex.id, role=TOOL_ADMIN))
    db.session.commit()
    page = admin.get("/grading/jobs?status=failed")
    assert page.status_code == 200
    text = html.unescape(page.data.decode())
    # The platform's answer as it came, and apart from it what to do, in the reader's language.
    assert re.search(
        r'<pre class="job-error">[^<]*You do not have permission to perform this action\.[^<]*</pre>', text
    )
    assert "<strong>What to do:</strong> The platform refused the tool's access even with a new token" in text

    alex.locale = "es-ES"  # the admin's platform speaks Spanish
    db.session.commit()
    text = html.unescape(admin.get("/grading/jobs?status=failed").data.decode())
    assert "You do not have permission to perform this action." in text  # the platform's own words stay
    assert "<strong>Qué hacer:</strong> La plataforma rechazó el acceso de la herramienta" in text
    assert "The platform refused the tool's access" not in text


def test_advice_stored_by_an_earlier_release_is_shown_as_stored(openedx):
    from lti_tool.grading.worker import error_and_advice

    with openedx.test_request_context(headers={"Accept-Language": "es"}):
        assert error_and_advice("POST x answered HTTP 500: oops\nWhat to do: ask Sam") == (
            "POST x answered HTTP 500: oops",
            "ask Sam",
        )
        assert error_and_advice("network error: timeout") == ("network error: timeout", None)
        assert error_and_advice("") == ("", None) and error_and_advice(None) == ("", None)


def test_a_long_title_is_cut_to_the_open_edx_label_limit(openedx):
    ada, link = _learner(openedx)
    cert = make_certification()
    cert.title = LONG_TITLE
    db.session.commit()
    assert len(f"{LONG_TITLE} ({cert.code})") > 100
    enqueue_for_state(make_portfolio(ada, link, cert))
    db.session.commit()
    drain()
    assert jobs()[0].status == DELIVERED, jobs()[0].last_error
    item = db.session.scalar(select(DemoLineItem))
    assert len(item.label) <= 100 and item.label.endswith("… (CMIACR)")
    assert item.label.startswith("Qualified professional in the central monitoring")


def test_a_queued_job_with_a_long_label_is_cut_when_the_column_is_created(openedx):
    ada, link = _learner(openedx)
    enqueue_for_state(make_portfolio(ada, link, make_certification()))
    db.session.commit()
    job = jobs()[0]
    job.line_item = {**job.line_item, "label": "x" * 150}  # written before the limit was known
    db.session.commit()
    drain()
    assert jobs()[0].status == DELIVERED and len(db.session.scalar(select(DemoLineItem)).label) == 100


def test_a_score_missing_a_required_field_is_not_sent(openedx):
    ada, link = _learner(openedx)
    enqueue_for_state(make_portfolio(ada, link, make_certification()))
    db.session.commit()
    job = jobs()[0]
    job.payload = {**job.payload, "scoreGiven": 5}  # and no scoreMaximum
    db.session.commit()
    drain()
    job = jobs()[0]
    assert job.status == FAILED and "scoreGiven but no scoreMaximum" in job.last_error and not _received()


def test_two_scores_in_one_second_both_reach_moodle(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir, DEMO_AGS_PROFILE="moodle") as (app, _):
        ada, link = _learner(app)
        portfolio = make_portfolio(ada, link, make_certification())
        enqueue_for_state(portfolio)
        submit(portfolio)  # the same second as the start: Moodle compares whole seconds
        db.session.commit()
        first, second = jobs()
        seconds = [int(dt.datetime.fromisoformat(j.payload["timestamp"]).timestamp()) for j in (first, second)]
        assert seconds[1] > seconds[0]
        drain()
        assert [j.status for j in jobs()] == [DELIVERED, DELIVERED] and all(j.last_error == "" for j in jobs())
        assert [p["activityProgress"] for p in _received()] == ["Started", "Submitted"]

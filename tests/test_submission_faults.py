"""Submitting a portfolio while the database drops out for a moment: the learner is asked to try again
(503), nothing is half-written (no submission or snapshot without the state change, no grade job, no audit
event), and the retry submits exactly once."""

from __future__ import annotations

import pytest

from lti_tool.audit.trail import AuditEvent, verify_chain
from lti_tool.grading.models import GradeJob
from lti_tool.grading.outbox import SCOPE_SCORE
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.store.db import db
from tests import factories as f
from tests.fault_helpers import CommitBlip, DatabaseBlip, committed_count
from tests.fuzz_support import message_of
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner


@pytest.fixture
def ada(app, jwks_server):
    browser = acme_learner(app, TestPlatform(jwks_server), units=1, outcomes=1, criteria=2)
    portfolio = browser.portfolio()
    criteria = [c.id for c in criteria_for(portfolio.certification, None)]
    resp = browser.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=criteria)
    assert resp.status_code == 303, resp.data
    # The platform offers the score service, so submitting also writes a grade job (the outbox).
    link = portfolio.resource_link
    link.ags_scopes, link.ags_lineitem_url = [SCOPE_SCORE], "https://lms.test/lineitems/1"
    db.session.commit()
    return browser


def _committed(portfolio_id: int) -> dict[str, object]:
    with db.engine.connect() as conn:
        state = conn.scalar(
            Portfolio.__table__.select().with_only_columns(Portfolio.state).where(Portfolio.id == portfolio_id)
        )
    return {
        "state": state,
        "submissions": committed_count(Submission, Submission.portfolio_id == portfolio_id),
        "grade_jobs": committed_count(GradeJob, GradeJob.portfolio_id == portfolio_id),
        "audit": committed_count(AuditEvent),
    }


FAULTS = {
    "before-the-submission-insert": lambda: DatabaseBlip(Submission, "before_flush"),
    "after-the-submission-before-the-audit": lambda: DatabaseBlip(AuditEvent, "before_flush"),
    "after-the-grade-job-insert": lambda: DatabaseBlip(GradeJob, "after_flush"),
    "at-the-commit": CommitBlip,
}


@pytest.mark.parametrize("fault", FAULTS)
def test_database_blip_during_submit_is_a_503_then_the_retry_submits_once(app, ada, fault):
    portfolio_id = ada.portfolio().id
    before = _committed(portfolio_id)
    assert before["state"] == workflow.DRAFT and before["submissions"] == 0

    with FAULTS[fault]() as blip:
        resp = ada.submit(portfolio_id, 1, note="Please look at the escalation log first.")
    assert blip.fired
    assert resp.status_code == 503, resp.data
    assert int(resp.headers["Retry-After"]) > 0
    page = resp.data.decode()
    assert "try again" in page.lower() and "Nothing was half-saved" in message_of(resp)
    assert "Traceback" not in page
    assert _committed(portfolio_id) == before

    # The learner presses Submit again (same attempt number, from the same page): submitted, once.
    retry = ada.submit(portfolio_id, 1, note="Please look at the escalation log first.")
    assert retry.status_code == 303 and "notice=submitted" in retry.location
    again = ada.submit(portfolio_id, 1)
    assert again.status_code == 303 and "notice=already_submitted" in again.location
    after = _committed(portfolio_id)
    assert after == {"state": workflow.SUBMITTED, "submissions": 1, "grade_jobs": 1, "audit": before["audit"] + 1}
    submission = db.session.query(Submission).filter_by(portfolio_id=portfolio_id).one()
    assert submission.attempt == 1 and submission.snapshot["evidence"][0]["files"][0]["filename"] == "report.pdf"
    assert verify_chain().ok


def test_database_blip_during_submit_gives_json_to_json_clients(app, ada):
    portfolio_id = ada.portfolio().id
    with DatabaseBlip(Submission, "before_flush"):
        resp = ada.post(f"/portfolio/{portfolio_id}/submit", {"attempt": "1"}, headers={"Accept": "application/json"})
    assert resp.status_code == 503 and "database" in resp.get_json()["message"]
    assert _committed(portfolio_id)["submissions"] == 0

"""Submitting: the confirmation page, one submission per attempt, frozen snapshots, and resubmission
after a referral."""

from __future__ import annotations

import copy
import hashlib
import threading

import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.models import EvidenceItem, Portfolio, Submission, SubmissionIsImmutable
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment, CriterionJudgement
from lti_tool.store.db import db, utcnow
from tests import factories as f
from tests.conftest import table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser


@pytest.fixture
def platform(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    return platform


@pytest.fixture
def cert(app):
    return f.make_certification("TSTCERT", units=1, outcomes=2, criteria=2)  # four criteria


@pytest.fixture
def ada(app, platform, cert):
    browser = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    browser.start()
    return browser


def _ids(cert):
    return [c.id for c in criteria_for(cert, None)]


def _refer(
    portfolio: Portfolio,
    submission: Submission,
    judgements: dict[int, tuple[bool, str]],
    summary: str = "Good start; more evidence needed.",
) -> Assessment:
    """What the assessor's side does when it refers a portfolio back (built directly here)."""
    assessor = LtiUser(issuer="https://lms.test", sub="assessor-sam", name="Sam Assessor")
    db.session.add(assessor)
    db.session.flush()
    assessment = Assessment(
        submission_id=submission.id,
        assessor_id=assessor.id,
        decision=NOT_YET_COMPETENT,
        summary=summary,
        decided_at=utcnow(),
    )
    assessment.judgements = [
        CriterionJudgement(criterion_id=cid, met=met, feedback=feedback) for cid, (met, feedback) in judgements.items()
    ]
    db.session.add(assessment)
    workflow.transition(portfolio, workflow.REFERRED, duty="assessor", actor=assessor, rationale=summary)
    db.session.commit()
    return assessment


def test_confirmation_lists_criteria_without_evidence(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:2])
    page = ada.get(f"/portfolio/{portfolio.id}/submit").data.decode()
    assert "Warning: 2 criteria have no evidence" in page
    assert "Criterion 1.2.1" in page and "Criterion 1.2.2" in page and "Criterion 1.1.1</li>" not in page
    assert 'name="attempt" value="1"' in page and "Submit anyway" in page
    assert table_count(Submission) == 0  # showing the page submits nothing


def test_confirmation_without_gaps_has_no_warning(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=_ids(cert))
    page = ada.get(f"/portfolio/{portfolio.id}/submit").data.decode()
    assert "Warning" not in page and "Every criterion has at least one piece of evidence" in page


def test_submit_freezes_a_snapshot_and_moves_to_submitted(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:1], evidence_date="2024-05-01")
    resp = ada.submit(portfolio.id, 1, note="  Please look at the escalation log first.  ")
    assert resp.status_code == 303 and "notice=submitted" in resp.location
    submission = db.session.scalar(select(Submission))
    assert submission.attempt == 1 and submission.learner_note == "Please look at the escalation log first."
    snap = submission.snapshot
    assert snap["certification"] == {"id": cert.id, "code": "TSTCERT", "version": 1, "title": cert.title}
    assert [c["id"] for c in snap["criteria"]] == ids
    [item] = snap["evidence"]
    assert item["criteria"] == ids[:1] and item["date"] == "2024-05-01"
    assert item["files"] == [
        {
            "sha256": hashlib.sha256(f.PDF).hexdigest(),
            "filename": "r.pdf",
            "size": len(f.PDF),
            "media_type": "application/pdf",
        }
    ]
    db.session.refresh(portfolio)
    assert portfolio.state == workflow.SUBMITTED
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "portfolio.submitted"))
    assert event.after == {"state": "submitted", "attempt": 1, "submission_id": submission.id}
    assert event.role == "learner"
    page = ada.get(resp.location).data.decode()
    assert "Submitted, awaiting assessment" in page and "Add evidence" not in page


def test_double_submit_makes_one_submission(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=_ids(cert))
    first = ada.submit(portfolio.id, 1)
    second = ada.submit(portfolio.id, 1)  # a double click, or the back button and submit again
    assert first.status_code == 303 and second.status_code == 303
    assert "notice=already_submitted" in second.location
    assert b"nothing was submitted twice" in ada.get(second.location).data
    assert table_count(Submission) == 1
    assert len(list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "portfolio.submitted")))) == 1
    # Opening the submit page again just leads back to the portfolio.
    assert ada.get(f"/portfolio/{portfolio.id}/submit").status_code == 303


def test_concurrent_submits_make_one_submission(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=_ids(cert))
    csrf, cookie, url = ada.csrf, ada.client.get_cookie("lti_tool_session").value, f"/portfolio/{portfolio.id}/submit"
    db.session.commit()
    statuses: list[int] = []
    barrier = threading.Barrier(3)

    def post() -> None:
        client = app.test_client()
        client.set_cookie("lti_tool_session", cookie)
        barrier.wait()
        resp = client.post(url, data={"csrf_token": csrf, "attempt": "1"})
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [303, 303, 303]
    db.session.expire_all()
    assert table_count(Submission) == 1
    assert db.session.get(Portfolio, portfolio.id).state == workflow.SUBMITTED


def test_stale_or_forged_attempt_is_refused(app, ada, cert):
    portfolio = ada.portfolio()
    resp = ada.submit(portfolio.id, 2)
    assert resp.status_code == 409 and b"out of date" in resp.data
    resp = ada.post(f"/portfolio/{portfolio.id}/submit", {"attempt": "one"})
    assert resp.status_code == 400
    assert table_count(Submission) == 0 and ada.portfolio().state == workflow.DRAFT


def test_snapshot_is_immutable_and_keeps_its_files(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    report = b"%PDF-1.4\nthe monitoring report as submitted\n%%EOF\n"
    ada.add_item(portfolio.id, files=[(report, "report.pdf"), (f.PNG, "chart.png")], criteria=ids[:2])
    ada.submit(portfolio.id, 1)
    submission = db.session.scalar(select(Submission))
    frozen = copy.deepcopy(submission.snapshot)
    _refer(portfolio, submission, {ids[0]: (True, "Fine."), ids[1]: (False, "Needs a second example.")})

    # The learner reworks the live portfolio: edits the item, drops the submitted report, then removes the item.
    item = db.session.scalar(select(EvidenceItem))
    report_file = next(ef for ef in item.files if ef.filename == "report.pdf")
    assert (
        ada.edit_item(
            portfolio.id,
            item.id,
            criteria=ids[2:],
            title="Rewritten",
            remove=[report_file.id],
            files=[(f.TEXT, "notes.txt")],
        ).status_code
        == 303
    )
    assert ada.post(f"/portfolio/{portfolio.id}/evidence/{item.id}/remove").status_code == 303

    db.session.expire_all()
    submission = db.session.get(Submission, submission.id)
    assert submission.snapshot == frozen
    # Every blob the snapshot names is still stored and downloadable as submitted.
    report_sha = hashlib.sha256(report).hexdigest()
    assert storage().exists(report_sha)
    resp = ada.get(f"/portfolio/{portfolio.id}/submissions/1/files/{report_sha}")
    assert resp.status_code == 200 and resp.data == report
    assert resp.headers["Content-Disposition"] == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    # The notes file, used by nothing now, was cleaned up; the submitted ones were not.
    assert not storage().exists(hashlib.sha256(f.TEXT).hexdigest())
    # And the database refuses any change to what was submitted.
    submission.snapshot = {**frozen, "evidence": []}
    with pytest.raises(SubmissionIsImmutable):
        db.session.commit()
    db.session.rollback()


def test_resubmission_after_referral(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:3], title="Monitoring report")
    ada.submit(portfolio.id, 1, note="First try")
    first = db.session.scalar(select(Submission))
    _refer(
        portfolio,
        first,
        {ids[0]: (True, "Clear and complete."), ids[1]: (False, "Show how you escalated."), ids[2]: (True, "")},
        summary="Nearly there.",
    )

    page = ada.get(f"/portfolio/{portfolio.id}").data.decode()
    assert "Referred: more evidence needed" in page
    assert "Your assessor’s feedback" in page and "Nearly there." in page
    assert "Show how you escalated." in page and "Clear and complete." in page
    assert "Criteria met (assessor's decision):" in page and "<strong>2 of 4</strong>" in page
    assert "Not yet met" in page and "No evidence yet" in page

    # The learner adds evidence for the criterion not yet met and resubmits: attempt 2.
    assert (
        ada.add_item(
            portfolio.id, files=[(f.TEXT, "escalation.txt")], criteria=[ids[1], ids[3]], title="Escalation log"
        ).status_code
        == 303
    )
    confirm = ada.get(f"/portfolio/{portfolio.id}/submit").data.decode()
    assert "attempt 2" in confirm and 'name="attempt" value="2"' in confirm
    resp = ada.submit(portfolio.id, 2, note="Added the escalation log")
    assert "notice=submitted" in resp.location
    # Replaying attempt 1's form changes nothing.
    assert "already_submitted" in ada.submit(portfolio.id, 1).location

    submissions = list(db.session.scalars(select(Submission).order_by(Submission.attempt)))
    assert [s.attempt for s in submissions] == [1, 2]
    assert [e["title"] for e in submissions[0].snapshot["evidence"]] == ["Monitoring report"]
    assert [e["title"] for e in submissions[1].snapshot["evidence"]] == ["Monitoring report", "Escalation log"]
    db.session.refresh(portfolio)
    assert portfolio.state == workflow.SUBMITTED
    # With attempt 2 waiting for its assessment, the coverage shows the learner's mapping again.
    page = ada.get(f"/portfolio/{portfolio.id}").data.decode()
    assert "<strong>4 of 4</strong>" in page and "Not yet met" not in page
    # Each submission can be looked at as it was submitted.
    old = ada.get(f"/portfolio/{portfolio.id}/submissions/1").data.decode()
    assert "First try" in old and "Escalation log" not in old and "Show how you escalated." in old


def test_submitting_is_refused_outside_draft_and_referred(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=_ids(cert)[:1])
    ada.submit(portfolio.id, 1)
    # An assessor decided competent: the learner cannot submit attempt 2 now.
    workflow.transition(portfolio, workflow.ASSESSED, duty="assessor")
    db.session.commit()
    resp = ada.submit(portfolio.id, 2)
    assert resp.status_code == 409 and b"cannot become" in resp.data
    assert table_count(Submission) == 1

"""The audit chain detects tampering (altered, deleted, reordered events) and names the first broken link;
`lti-tool audit verify/show` report it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text, update

from lti_tool.audit.cli import audit_cli
from lti_tool.audit.trail import AuditEvent, record, verify_chain
from lti_tool.store.db import db
from tests import assessment_factories as f

COLUMNS = (
    "at",
    "actor_id",
    "actor_label",
    "role",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
    "rationale",
    "prev_hash",
    "hash",
)


@pytest.fixture
def chain(app):
    """Five decisions' worth of events on portfolio 42 (plus whatever setup recorded before)."""
    start = db.session.scalar(select(db.func.count()).select_from(AuditEvent)) or 0
    for i in range(5):
        record(
            "portfolio.assessed",
            actor_label=f"Assessor {i}",
            role="assessor",
            subject_type="portfolio",
            subject_id=42,
            before={"state": "submitted"},
            after={"state": "assessed", "n": i},
            rationale=f"Rationale {i}",
        )
    db.session.commit()
    ids = list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))[start:]
    return ids


def _cli(app, *args):
    return app.test_cli_runner().invoke(audit_cli, list(args))


def test_intact_chain_verifies(app, chain):
    report = verify_chain()
    assert report.ok and report.checked >= 5
    result = _cli(app, "verify")
    assert result.exit_code == 0 and result.output.startswith("OK:") and f"{report.checked} event(s)" in result.output


def test_altered_rationale_is_detected_at_that_event(app, chain):
    target = chain[2]
    db.session.execute(update(AuditEvent).where(AuditEvent.id == target).values(rationale="Rewritten later"))
    db.session.commit()
    report = verify_chain()
    assert report.broken_at == target and "content does not match" in report.reason
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert f"BROKEN at event {target}" in result.output and "altered" in result.output


def test_altered_rationale_with_recomputed_hash_breaks_the_next_link(app, chain):
    """A forger who recomputes the event's own hash still breaks the link from the next event."""
    from lti_tool.audit.trail import compute_hash

    target = db.session.get(AuditEvent, chain[1])
    target.rationale = "Forged"
    target.hash = compute_hash(target)
    db.session.commit()
    report = verify_chain()
    assert report.broken_at == chain[2] and "link" in report.reason


def test_deleted_event_is_detected_at_the_next_one(app, chain):
    db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": chain[2]})
    db.session.commit()
    report = verify_chain()
    assert report.broken_at == chain[3] and "removed, inserted or altered" in report.reason
    assert _cli(app, "verify").exit_code == 1


def test_reordered_events_are_detected_at_the_first_moved(app, chain):
    a, b = (db.session.get(AuditEvent, i) for i in chain[1:3])
    values_a = {c: getattr(a, c) for c in COLUMNS}
    values_b = {c: getattr(b, c) for c in COLUMNS}
    # Swap contents through a temporary hash (the column is unique).
    db.session.execute(update(AuditEvent).where(AuditEvent.id == a.id).values(hash="x" * 64))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == b.id).values(**values_a))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == a.id).values(**values_b))
    db.session.commit()
    report = verify_chain()
    assert report.broken_at == chain[1]


def test_show_filters_by_subject_and_prints_the_record(app, chain):
    record("staff.role_granted", actor_label="cli:root", role="operator", subject_type="lti_user", subject_id=7)
    db.session.commit()
    result = _cli(app, "show", "--subject", "portfolio:42")
    assert result.exit_code == 0
    lines = [ln for ln in result.output.splitlines() if ln.startswith("#")]
    assert len(lines) == 5 and all("portfolio.assessed portfolio:42" in ln for ln in lines)
    assert "why: Rationale 4" in result.output and '"n": 4' in result.output
    assert "staff.role_granted" not in result.output
    as_json = _cli(app, "show", "--subject", "portfolio:42", "--json", "--limit", "2")
    rows = [json.loads(ln) for ln in as_json.output.splitlines()]
    assert [r["rationale"] for r in rows] == ["Rationale 3", "Rationale 4"]
    assert _cli(app, "show", "--subject", "portfolio:999").output.strip() == "No events."
    bad = _cli(app, "show", "--subject", "portfolio")
    assert bad.exit_code == 2 and "TYPE:ID" in bad.output


def test_real_decisions_leave_a_verifiable_chain(app):
    w = f.world()
    from lti_tool.portfolio.review import assessment as assessment_service
    from lti_tool.portfolio.review.assessment_models import COMPETENT

    assessment_service.decide(
        w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), "Fine", rng=f.NeverSample()
    )
    db.session.commit()
    result = _cli(app, "show", "--subject", f"portfolio:{w.portfolio.id}")
    assert "portfolio.assessed" in result.output and "portfolio.verification_1" in result.output
    assert "by Sam Assessor (assessor)" in result.output
    assert _cli(app, "verify").exit_code == 0

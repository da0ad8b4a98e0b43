"""Everything recorded about one portfolio, read once: the EQA page and the pack's PDF show the same facts.

Per submission (attempt): the frozen snapshot, each decision with its criterion judgements and feedback, the
sampling choice, each verification step (who, when, why); then the appeals, the award and its credential, and
the portfolio's own audit events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from babel.dates import format_date, format_time
from flask_babel import get_locale
from sqlalchemy import and_, or_, select

from lti_tool.audit.trail import AuditEvent, compute_hash
from lti_tool.credentials.models import IssuedCredential
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.assessment_models import Assessment, Award
from lti_tool.portfolio.review.verification_models import SamplingDecision, VerificationRecord
from lti_tool.store.db import db
from lti_tool.web.errors import N_

# Shown through translated() on the page and gettext in the PDF summary.
DECISION_LABELS = {"competent": N_("Competent"), "not_yet_competent": N_("Not yet competent")}


@dataclass
class Decision:
    assessment: Assessment
    judgements: dict[int, tuple[bool, str]]  # criterion id -> (met, feedback)
    sampling: SamplingDecision | None = None

    @property
    def label(self) -> str:
        return DECISION_LABELS.get(self.assessment.decision or "", self.assessment.decision or N_("in progress"))


@dataclass
class Attempt:
    submission: Submission
    decisions: list[Decision] = field(default_factory=list)
    verifications: list[VerificationRecord] = field(default_factory=list)

    @property
    def snapshot(self) -> dict[str, Any]:
        return dict(self.submission.snapshot or {})

    def units(self) -> list[dict[str, Any]]:
        """Criteria by unit, each with the evidence mapped to it and every decision's judgement of it."""
        evidence = snap.evidence(self.snapshot)
        units: list[dict[str, Any]] = []
        for c in snap.criteria(self.snapshot):
            if not units or units[-1]["code"] != c["unit_code"]:
                units.append({"code": c["unit_code"], "title": c["unit_title"], "criteria": []})
            judged = [(d, d.judgements[c["id"]]) for d in self.decisions if c["id"] in d.judgements]
            units[-1]["criteria"].append(
                {**c, "evidence": [e for e in evidence if c["id"] in e.get("criteria", [])], "judged": judged}
            )
        return units


@dataclass
class PortfolioRecord:
    portfolio: Portfolio
    attempts: list[Attempt]
    appeals: list[Appeal]
    award: Award | None
    credential: IssuedCredential | None

    @property
    def learner(self) -> str:
        return self.portfolio.user.display_name()

    def files(self) -> list[dict[str, Any]]:
        """Every file submitted in any attempt, once each (by content)."""
        seen: dict[str, dict[str, Any]] = {}
        for attempt in self.attempts:
            for f in snap.files(attempt.snapshot):
                seen.setdefault(f["sha256"], f)
        return list(seen.values())


def load(portfolio: Portfolio) -> PortfolioRecord:
    submissions = list(
        db.session.scalars(
            select(Submission).where(Submission.portfolio_id == portfolio.id).order_by(Submission.attempt)
        )
    )
    ids = [s.id for s in submissions]
    attempts = {s.id: Attempt(s) for s in submissions}
    if ids:
        assessments = list(
            db.session.scalars(
                select(Assessment)
                .where(Assessment.submission_id.in_(ids), Assessment.decision.is_not(None))
                .order_by(Assessment.decided_at, Assessment.id)
            )
        )
        picks = (
            {
                p.assessment_id: p
                for p in db.session.scalars(
                    select(SamplingDecision).where(SamplingDecision.assessment_id.in_([a.id for a in assessments]))
                )
            }
            if assessments
            else {}
        )
        for a in assessments:
            attempts[a.submission_id].decisions.append(
                Decision(a, {j.criterion_id: (j.met, j.feedback) for j in a.judgements}, picks.get(a.id))
            )
        for r in db.session.scalars(
            select(VerificationRecord)
            .where(VerificationRecord.submission_id.in_(ids))
            .order_by(VerificationRecord.created_at, VerificationRecord.id)
        ):
            attempts[r.submission_id].verifications.append(r)
    appeals = list(
        db.session.scalars(select(Appeal).where(Appeal.portfolio_id == portfolio.id).order_by(Appeal.lodged_at))
    )
    award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
    credential = (
        db.session.scalar(select(IssuedCredential).where(IssuedCredential.award_id == award.id)) if award else None
    )
    return PortfolioRecord(portfolio, [attempts[i] for i in ids], appeals, award, credential)


def audit_events(record: PortfolioRecord) -> list[AuditEvent]:
    """The audit events about this portfolio: its own (transitions, claims, EQA views), its evidence items' and
    its award's, oldest first."""
    item_ids = {str(i.id) for i in record.portfolio.evidence}
    for attempt in record.attempts:
        item_ids.update(str(e["id"]) for e in snap.evidence(attempt.snapshot))
    subjects = [and_(AuditEvent.subject_type == "portfolio", AuditEvent.subject_id == str(record.portfolio.id))]
    if item_ids:
        subjects.append(and_(AuditEvent.subject_type == "evidence_item", AuditEvent.subject_id.in_(sorted(item_ids))))
    if record.award is not None:
        subjects.append(and_(AuditEvent.subject_type == "award", AuditEvent.subject_id == str(record.award.id)))
    return list(db.session.scalars(select(AuditEvent).where(or_(*subjects)).order_by(AuditEvent.id)))


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """One audit event as the pack carries it: every hashed field, its hash, and whether the hash still matches."""
    try:
        intact = compute_hash(event) == event.hash
    except (TypeError, ValueError, AttributeError):
        intact = False
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "role": event.role,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
        "rationale": event.rationale,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "hash_format": event.hash_format,
        "hash_matches_content": intact,
    }


def chain_head() -> dict[str, Any]:
    """The audit chain's latest event (id and hash) now: a pack records it, so a later check of the trail can
    show that nothing before it was removed or rewritten."""
    head = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    return {"id": head.id, "hash": head.hash, "at": head.at.isoformat()} if head else {"id": None, "hash": ""}


def when(value: dt.datetime | dt.date | None) -> str:
    """A date ("12 May 2025"), or a moment in UTC ("12 May 2025, 14:03 UTC"), written by Babel in the current
    locale (the pack's language while a pack is built; English outside a request)."""
    if value is None:
        return "—"
    locale = str(get_locale() or "en_GB")
    if isinstance(value, dt.datetime):
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        day, clock = format_date(utc.date(), format="long", locale=locale), format_time(utc, "HH:mm", locale=locale)
        return f"{day}, {clock} UTC"
    return format_date(value, format="long", locale=locale)

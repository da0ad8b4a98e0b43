"""Internal quality assurance in figures: for each assessor and certification, the decisions made, how many
were sampled for internal verification, and what the verifiers said (tool administrators read it in the tool,
staff/sampling_report.html). A few grouped queries, whatever the number of decisions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select

from lti_tool.launch.models import LtiUser
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import COMPETENT, Assessment
from lti_tool.portfolio.review.verification_models import (
    AGREED,
    CONFIRMED,
    DISAGREED,
    SENT_BACK,
    SamplingDecision,
    VerificationRecord,
)
from lti_tool.store.db import db


@dataclass
class AssessorLine:
    assessor: str
    certification_code: str
    decisions: int = 0
    competent: int = 0
    sampled: int = 0
    not_sampled: int = 0
    agreed: int = 0
    disagreed: int = 0
    confirmed: int = 0
    sent_back: int = 0
    last_decision: dt.datetime | None = None

    @property
    def not_yet_competent(self) -> int:
        return self.decisions - self.competent

    @property
    def sampled_percent(self) -> int:
        judged = self.sampled + self.not_sampled
        return round(100 * self.sampled / judged) if judged else 0


def assessor_lines(certification_code: str | None = None, *, partner_id: int | None = None) -> list[AssessorLine]:
    """One line per assessor and certification with a decision, by certification then assessor name; with
    `partner_id`, only the decisions on that partner's portfolios (what an external quality assurer limited to
    the partner may read)."""
    lines: dict[tuple[int, str], AssessorLine] = {}
    names: dict[int, str] = {}

    decided = (
        select(
            Assessment.assessor_id,
            Certification.code,
            func.count(),
            func.sum(case((Assessment.decision == COMPETENT, 1), else_=0)),
            func.max(Assessment.decided_at),
        )
        .join(Submission, Assessment.submission_id == Submission.id)
        .join(Portfolio, Submission.portfolio_id == Portfolio.id)
        .join(Certification, Portfolio.certification_id == Certification.id)
        .where(Assessment.decision.is_not(None))
        .group_by(Assessment.assessor_id, Certification.code)
    )
    if certification_code:
        decided = decided.where(Certification.code == certification_code)
    if partner_id is not None:
        decided = decided.where(Portfolio.partner_id == partner_id)
    for assessor_id, code, total, competent, last in db.session.execute(decided):
        lines[(assessor_id, code)] = AssessorLine("", code, total, int(competent or 0), last_decision=last)
        names[assessor_id] = ""

    sampled = select(
        SamplingDecision.assessor_id,
        SamplingDecision.certification_code,
        func.sum(case((SamplingDecision.sampled.is_(True), 1), else_=0)),
        func.sum(case((SamplingDecision.sampled.is_(True), 0), else_=1)),
    ).group_by(SamplingDecision.assessor_id, SamplingDecision.certification_code)
    if partner_id is not None:
        sampled = (
            sampled.join(Assessment, SamplingDecision.assessment_id == Assessment.id)
            .join(Submission, Assessment.submission_id == Submission.id)
            .join(Portfolio, Submission.portfolio_id == Portfolio.id)
            .where(Portfolio.partner_id == partner_id)
        )
    for assessor_id, code, yes, no in db.session.execute(sampled):
        line = lines.get((assessor_id, code))
        if line is not None:
            line.sampled, line.not_sampled = int(yes or 0), int(no or 0)

    verified = (
        select(Assessment.assessor_id, Certification.code, VerificationRecord.outcome, func.count())
        .join(Assessment, VerificationRecord.assessment_id == Assessment.id)
        .join(Submission, Assessment.submission_id == Submission.id)
        .join(Portfolio, Submission.portfolio_id == Portfolio.id)
        .join(Certification, Portfolio.certification_id == Certification.id)
        .where(VerificationRecord.verifier_id.is_not(None))
        .group_by(Assessment.assessor_id, Certification.code, VerificationRecord.outcome)
    )
    if partner_id is not None:
        verified = verified.where(Portfolio.partner_id == partner_id)
    fields = {AGREED: "agreed", DISAGREED: "disagreed", CONFIRMED: "confirmed", SENT_BACK: "sent_back"}
    for assessor_id, code, outcome, n in db.session.execute(verified):
        line = lines.get((assessor_id, code))
        if line is not None and outcome in fields:
            setattr(line, fields[outcome], n)

    if names:
        for user in db.session.scalars(select(LtiUser).where(LtiUser.id.in_(list(names)))):
            names[user.id] = user.display_name()
    for (assessor_id, _), line in lines.items():
        line.assessor = names.get(assessor_id) or f"User {assessor_id}"
    return sorted(lines.values(), key=lambda line: (line.certification_code, line.assessor.lower()))

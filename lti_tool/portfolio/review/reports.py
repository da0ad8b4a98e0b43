"""Internal quality assurance in figures: for each assessor and certification, the decisions made, how many
were sampled for internal verification, and what the verifiers said (tool administrators read it in the tool,
staff/sampling_report.html). A few grouped queries, whatever the number of decisions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select

from lti_tool.launch.models import LtiUser
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import EVIDENCE_KINDS, Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import COMPETENT, Assessment
from lti_tool.portfolio.review.verification_models import (
    AGREED,
    CONFIRMED,
    DISAGREED,
    KIND_DIM,
    SENT_BACK,
    UNIT_DIM,
    SamplingCoverage,
    SamplingDecision,
    VerificationRecord,
)
from lti_tool.store.db import db, utcnow


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


# --- coverage of units and evidence kinds over time -------------------------------------------------------------

PERIODS = {"quarter": 4, "month": 6}  # how each is read, and how many of them the report shows


@dataclass
class CoverageCell:
    decisions: int = 0  # competent decisions that involved it in the period
    sampled: int = 0  # of which sampled for internal verification

    @property
    def gap(self) -> bool:
        """Decisions involved it, none was sampled."""
        return self.decisions > 0 and self.sampled == 0


@dataclass
class CoverageRow:
    dimension: str  # UNIT_DIM or KIND_DIM
    value: str
    label: str
    cells: list[CoverageCell]


@dataclass
class CoverageOverTime:
    by: str
    periods: list[str]  # labels, oldest first
    rows: list[CoverageRow]


def period_of(when: dt.datetime, by: str) -> tuple[int, int]:
    return (when.year, (when.month - 1) // 3 + 1) if by == "quarter" else (when.year, when.month)


def _period_label(period: tuple[int, int], by: str) -> str:
    year, n = period
    return f"{year} Q{n}" if by == "quarter" else dt.date(year, n, 1).strftime("%b %Y")


def _previous(period: tuple[int, int], by: str) -> tuple[int, int]:
    year, n = period
    last = 4 if by == "quarter" else 12
    return (year - 1, last) if n == 1 else (year, n - 1)


def _period_start(period: tuple[int, int], by: str) -> dt.datetime:
    year, n = period
    return dt.datetime(year, (n - 1) * 3 + 1 if by == "quarter" else n, 1)


def coverage_over_time(
    certification_code: str | None = None, by: str = "quarter", *, now: dt.datetime | None = None
) -> CoverageOverTime:
    """For each unit and evidence kind, per quarter (or month) of the last few: how many sampling decisions
    involved it and how many of those were sampled. One query over the period's coverage rows."""
    if by not in PERIODS:
        raise ValueError(f"by must be one of {sorted(PERIODS)}")
    periods = [period_of(now or utcnow(), by)]
    while len(periods) < PERIODS[by]:
        periods.append(_previous(periods[-1], by))
    periods.reverse()
    index = {p: i for i, p in enumerate(periods)}
    query = (
        select(
            SamplingCoverage.dimension, SamplingCoverage.value, SamplingDecision.created_at, SamplingDecision.sampled
        )
        .join(SamplingDecision, SamplingCoverage.decision_id == SamplingDecision.id)
        .where(
            SamplingCoverage.dimension.in_([UNIT_DIM, KIND_DIM]),
            SamplingDecision.created_at >= _period_start(periods[0], by),
        )
    )
    if certification_code:
        query = query.where(SamplingDecision.certification_code == certification_code)
    rows: dict[tuple[str, str], CoverageRow] = {}
    for dimension, value, created_at, sampled in db.session.execute(query):
        i = index.get(period_of(created_at, by))
        if i is None:
            continue
        row = rows.get((dimension, value))
        if row is None:
            label = f"Unit {value}" if dimension == UNIT_DIM else EVIDENCE_KINDS.get(value, value)
            row = rows[(dimension, value)] = CoverageRow(dimension, value, label, [CoverageCell() for _ in periods])
        row.cells[i].decisions += 1
        row.cells[i].sampled += 1 if sampled else 0
    ordered = sorted(rows.values(), key=lambda r: (r.dimension != UNIT_DIM, r.value))
    return CoverageOverTime(by, [_period_label(p, by) for p in periods], ordered)

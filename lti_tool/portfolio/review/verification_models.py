"""Verification: sampling policy and decisions (step 1 is risk-sampled) and the verifiers' records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow

# VerificationRecord.outcome
NOT_SAMPLED = "not_sampled"  # step 1 skipped by sampling (verifier_id is None; rationale says why)
AGREED = "agreed"  # step 1 agrees with the assessor
DISAGREED = "disagreed"  # step 1 sends the decision back to the assessor
CONFIRMED = "confirmed"  # step 2 confirms: the award is made
SENT_BACK = "sent_back"  # step 2 sends the decision back to the assessor

OUTCOME_LABELS = {
    NOT_SAMPLED: "Not sampled for internal verification",
    AGREED: "Agreed",
    DISAGREED: "Disagreed: sent back to the assessor",
    CONFIRMED: "Confirmed",
    SENT_BACK: "Sent back to the assessor",
}

# SamplingCoverage.dimension
ASSESSOR_DIM = "assessor"
UNIT_DIM = "unit"
KIND_DIM = "evidence_kind"


class SamplingPolicy(Model):
    """How step-1 decisions are sampled for one certification code (every version)."""

    __tablename__ = "sampling_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_code: Mapped[str] = mapped_column(String(40), unique=True)
    # Every decision of an assessor with fewer verified decisions than this is sampled.
    new_assessor_threshold: Mapped[int] = mapped_column(default=5)
    share: Mapped[float] = mapped_column(default=0.25)  # 0..1 of the other decisions, at random
    # Coverage over time: an assessor, unit or evidence kind not sampled within the last N decisions that
    # involved it, or within this many days, forces sampling.
    coverage_decisions: Mapped[int] = mapped_column(default=10)
    coverage_days: Mapped[int] = mapped_column(default=90)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(300), default="")


class SamplingDecision(Model):
    """Whether one competent assessment decision went to internal verification (step 1), and why."""

    __tablename__ = "sampling_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id"), unique=True)
    assessor_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"), index=True)
    certification_code: Mapped[str] = mapped_column(String(40), index=True)
    sampled: Mapped[bool] = mapped_column()
    reasons: Mapped[list[str]] = mapped_column(JSONText, default=list)
    draw: Mapped[float | None] = mapped_column(nullable=True)  # the random number drawn, for the record
    policy: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)  # the policy as applied
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    coverage: Mapped[list[SamplingCoverage]] = relationship(back_populates="decision", cascade="all, delete-orphan")


class SamplingCoverage(Model):
    """What a decision involved (its assessor, units and evidence kinds), for the coverage guarantee."""

    __tablename__ = "sampling_coverage"
    __table_args__ = (Index("ix_sampling_coverage_dim", "dimension", "value", "decision_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("sampling_decision.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(80))

    decision: Mapped[SamplingDecision] = relationship(back_populates="coverage")


class VerificationRecord(Model):
    """One step of verification of one assessment decision: who, the outcome and the rationale."""

    __tablename__ = "verification_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    step: Mapped[int] = mapped_column()  # 1 internal, 2 independent
    outcome: Mapped[str] = mapped_column(String(20))
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id"), nullable=True, index=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    assessment = relationship("Assessment")
    verifier = relationship("LtiUser")

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

"""Assessment decisions and awards."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import Model, utcnow

COMPETENT = "competent"
NOT_YET_COMPETENT = "not_yet_competent"


class Assessment(Model):
    """One assessor's judgement of one submission. A sent-back decision gets a new Assessment row."""

    __tablename__ = "assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    assessor_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"), index=True)
    decision: Mapped[str | None] = mapped_column(String(30), nullable=True)  # None while in progress
    summary: Mapped[str] = mapped_column(Text, default="")  # overall feedback to the learner
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)

    submission = relationship("Submission")
    assessor = relationship("LtiUser")
    judgements: Mapped[list[CriterionJudgement]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan"
    )


class CriterionJudgement(Model):
    __tablename__ = "criterion_judgement"
    __table_args__ = (UniqueConstraint("assessment_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("cert_criterion.id"), index=True)
    met: Mapped[bool] = mapped_column(Boolean)
    feedback: Mapped[str] = mapped_column(Text, default="")

    assessment: Mapped[Assessment] = relationship(back_populates="judgements")
    criterion = relationship("Criterion")


class Award(Model):
    """Awards are for life: never deleted. Revocation (if ever) is recorded, not a deletion."""

    __tablename__ = "award"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id"), unique=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"))
    certificate_number: Mapped[str] = mapped_column(String(40), unique=True)
    credits: Mapped[int] = mapped_column()
    cpd_points: Mapped[int] = mapped_column()
    awarded_on: Mapped[dt.date] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revocation_reason: Mapped[str] = mapped_column(Text, default="")

    portfolio = relationship("Portfolio")
    submission = relationship("Submission")


@event.listens_for(Award, "before_delete")
def _awards_are_for_life(mapper: object, connection: object, target: Award) -> None:
    raise ValueError(
        f"Award {target.certificate_number} cannot be deleted: awards are for life (record a revocation instead)."
    )

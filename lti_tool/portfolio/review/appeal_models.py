"""A learner's appeal against a not-yet-competent decision, and how it was decided."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import Model, utcnow

OPEN = "open"
UPHELD = "upheld"  # the submission is assessed afresh by a different assessor
DISMISSED = "dismissed"  # the referral stands

STATUS_LABELS = {OPEN: "Waiting for a decision", UPHELD: "Upheld", DISMISSED: "Dismissed"}


class Appeal(Model):
    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    # The decision appealed: one appeal per decision.
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment.id"), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"))
    grounds: Mapped[str] = mapped_column(Text)
    lodged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=OPEN, index=True)
    # Indexed: every work queue leaves out the appeals this person heard (portfolio/queues.py).
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id"), nullable=True, index=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    outcome_rationale: Mapped[str] = mapped_column(Text, default="")

    portfolio = relationship("Portfolio")
    assessment = relationship("Assessment")
    decided_by = relationship("LtiUser", foreign_keys=[decided_by_id])

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

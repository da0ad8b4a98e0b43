"""Who has taken an item of a work queue (so two people do not do the same work).

One row per portfolio. A claim holds for the state it was made in: once the portfolio moves on (decided,
verified, sent back) the row no longer counts, and the next claim replaces it (queues.claim_holder).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import Model, utcnow


class WorkClaim(Model):
    __tablename__ = "work_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"), index=True)
    state: Mapped[str] = mapped_column(String(40))  # the portfolio's state when claimed
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user = relationship("LtiUser")


class StaffCaseload(Model):
    """How many queue items one member of staff may hold at once (set by a tool administrator). No row: no
    limit. Claims and reassignments beyond it are refused (queues.caseload_refusal)."""

    __tablename__ = "staff_caseload"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), unique=True)
    max_items: Mapped[int] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(300), default="")

    user = relationship("LtiUser")

"""A pack being built, ready or gone: one row per request, read by the EQA's pack list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow

QUEUED = "queued"
BUILDING = "building"
READY = "ready"
FAILED = "failed"
EXPIRED = "expired"

STATE_LABELS = {
    QUEUED: "Waiting to be built",
    BUILDING: "Being built",
    READY: "Ready to download",
    FAILED: "Failed",
    EXPIRED: "Expired (file deleted)",
}

# PackJob.kind
PORTFOLIO = "portfolio"
SAMPLE = "sample"


class PackJob(Model):
    __tablename__ = "pack_job"
    __table_args__ = (Index("ix_pack_job_state", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # Who asked (None for an operator's command, then requested_label says who).
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id"), nullable=True, index=True)
    requested_label: Mapped[str] = mapped_column(String(300), default="")
    # The language of whoever asked, when they asked (a Babel identifier, "es"): the pack's PDF summaries and
    # README are written in it. Empty (English) for an operator's command.
    language: Mapped[str] = mapped_column(String(20), default="", server_default="")
    portfolio_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    # How a sample was chosen (filters, share, seed), written into the pack as sample.json.
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=QUEUED)
    total: Mapped[int] = mapped_column(default=0)  # portfolios to write
    done: Mapped[int] = mapped_column(default=0)  # portfolios written so far
    worker_id: Mapped[str] = mapped_column(String(120), default="")
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    file_path: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)

    requested_by = relationship("LtiUser")

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else (100 if self.state == READY else 0)

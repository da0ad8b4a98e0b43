"""The signed credential of an award, kept exactly as issued."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow


class IssuedCredential(Model):
    """One OpenBadgeCredential per award. Never changed after issue: revocation lives on the Award and in the
    status list, so the signed JWT stays byte-identical to what the learner downloaded."""

    __tablename__ = "issued_credential"
    __table_args__ = (UniqueConstraint("status_list", "status_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("award.id"), unique=True)
    credential_id: Mapped[str] = mapped_column(String(100), unique=True)  # urn:uuid:...
    subject_id: Mapped[str] = mapped_column(String(100))  # urn:uuid:... (a pseudonym, not an LMS id)
    learner_name: Mapped[str] = mapped_column(String(300), default="")  # as printed at issue time
    status_list: Mapped[int] = mapped_column()
    status_index: Mapped[int] = mapped_column()
    kid: Mapped[str] = mapped_column(String(500), default="")
    credential: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    jwt: Mapped[str] = mapped_column(Text, default="")
    # The same credential with an embedded Data Integrity proof (eddsa-rdfc-2022), for wallets that need one.
    # None for credentials issued before embedded proofs existed.
    proofed: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True, default=None)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    award = relationship("Award")

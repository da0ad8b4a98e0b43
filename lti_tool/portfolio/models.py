"""A learner's portfolio of evidence for one certification version in one placement, and its
submissions (immutable snapshots, numbered by attempt)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, attributes, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, db, utcnow

EVIDENCE_KINDS: dict[str, str] = {
    "work_product": "Work product",
    "direct_observation": "Direct observation record",
    "witness_testimony": "Witness testimony",
    "expert_witness_testimony": "Expert witness testimony",
    "professional_discussion": "Professional discussion record",
    "reflective_account": "Reflective account",
    "prior_learning": "Recognition of prior learning",
}

ROUTES: dict[str, str] = {
    "training": "Training route (after an accredited course)",
    "portfolio_only": "Portfolio-only route (experienced professional)",
}


class Portfolio(Model):
    __tablename__ = "portfolio"
    __table_args__ = (
        UniqueConstraint("user_id", "resource_link_id"),
        # Staff work queues (portfolio/queues.py): a page reads one state in waiting order and stops once it
        # has PER_PAGE items, however long the queue and however rare the state.
        Index("ix_portfolio_queue_order", "state", "state_changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"), index=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certification.id"), index=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), nullable=True, index=True)
    route: Mapped[str] = mapped_column(String(20), default="training")
    # A unit-only portfolio (the partner's pathway narrows the certification to units, and the placement names
    # one) holds that unit's criteria only; None: the whole certification.
    unit_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    state_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user = relationship("LtiUser")
    certification = relationship("Certification")
    resource_link = relationship("ResourceLink")
    partner = relationship("Partner")
    evidence: Mapped[list[EvidenceItem]] = relationship(
        back_populates="portfolio", order_by="EvidenceItem.id", cascade="all, delete-orphan"
    )
    submissions: Mapped[list[Submission]] = relationship(back_populates="portfolio", order_by="Submission.attempt")

    @property
    def unit(self) -> Any | None:
        """The unit of a unit-only portfolio (catalogue Unit), else None."""
        if self.unit_code is None:
            return None
        return next((u for u in self.certification.units if u.code == self.unit_code), None)

    @property
    def awarded_title(self) -> str:
        """What an award of this portfolio is for, as credentials, the verification page and share links name
        it: the certification, or a unit *of* it, never the certification alone for a unit-only portfolio."""
        unit = self.unit
        if self.unit_code is None:
            return str(self.certification.title)
        name = f"Unit {self.unit_code}: {unit.title}" if unit is not None else f"Unit {self.unit_code}"
        return f"{name}, of {self.certification.title}"


class PortfolioPlacement(Model):
    """Another placement (resource link) that opens this portfolio: a unit placement of its certification, or a
    second placement of it, opened after the portfolio was started from another one (`Portfolio.resource_link`).

    Written at that placement's first opening (`learner.open_placement`), never again: the placement then finds
    the portfolio in one query, its gradebook column gets the portfolio's scores (grading/outbox.py) and its
    roster lists the learner."""

    __tablename__ = "portfolio_placement"
    __table_args__ = (UniqueConstraint("portfolio_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    portfolio: Mapped[Portfolio] = relationship()
    resource_link = relationship("ResourceLink")


evidence_criterion = Table(
    "evidence_criterion",
    db.metadata,
    Column("evidence_id", ForeignKey("evidence_item.id", ondelete="CASCADE"), primary_key=True),
    Column("criterion_id", ForeignKey("cert_criterion.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class EvidenceItem(Model):
    __tablename__ = "evidence_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    evidence_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    portfolio: Mapped[Portfolio] = relationship(back_populates="evidence")
    files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="item", order_by="EvidenceFile.id", cascade="all, delete-orphan"
    )
    criteria = relationship("Criterion", secondary=evidence_criterion, order_by="Criterion.id")


class StoredFile(Model):
    """An encrypted blob in evidence storage, addressed by the sha256 of its plaintext. Never deleted
    while a submission snapshot refers to it."""

    __tablename__ = "stored_file"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column()
    media_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EvidenceFile(Model):
    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_item.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_file.sha256"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # sanitised display name
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    item: Mapped[EvidenceItem] = relationship(back_populates="files")
    stored: Mapped[StoredFile] = relationship()


class Submission(Model):
    """What the learner submitted, frozen: evidence, files (by hash) and mappings as they were."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("portfolio_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id"), index=True)
    attempt: Mapped[int] = mapped_column()
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONText)
    learner_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    portfolio: Mapped[Portfolio] = relationship(back_populates="submissions")


class SubmissionIsImmutable(RuntimeError):
    """A programming error: code tried to change what a learner submitted."""


@event.listens_for(Submission, "before_update")
def _submission_is_frozen(mapper: object, connection: object, target: Submission) -> None:
    # Assessors judge exactly what was submitted: the snapshot, attempt and owner never change once written.
    for name in ("snapshot", "attempt", "portfolio_id"):
        if attributes.get_history(target, name).has_changes():
            raise SubmissionIsImmutable(f"submission {target.id}: {name} cannot change after submission")

"""The accreditation catalogue: certifications (versioned), units, learning outcomes, criteria.

A certification version that has portfolios never changes; a changed import makes a new version.
1 learning credit = 10 notional learning hours; 1 notional hour = 1 CPD point = 1 CPE point.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow

HOURS_PER_CREDIT = 10


class Certification(Model):
    __tablename__ = "certification"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    isced_level: Mapped[str] = mapped_column(String(4))  # ED0..ED8
    isced_field: Mapped[str] = mapped_column(String(4))  # ISCED-F 2013 detailed field, e.g. 0919
    framework: Mapped[str] = mapped_column(String(300), default="")  # competency framework it maps to
    credits: Mapped[int] = mapped_column()
    # sha256 of the canonical source data: re-importing identical data is a no-op, changed data a new version
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Its words in other languages, from the file's [translations.<language>] tables (catalogue/translations.py):
    # {language: {title, description, units: {code: title}, outcomes: {code: text}, criteria: {code: text}}}.
    translations: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True, default=None)

    units: Mapped[list[Unit]] = relationship(
        back_populates="certification", order_by="Unit.position", cascade="all, delete-orphan"
    )

    @property
    def notional_hours(self) -> int:
        return self.credits * HOURS_PER_CREDIT

    @property
    def cpd_points(self) -> int:
        return self.notional_hours


class Unit(Model):
    __tablename__ = "cert_unit"
    __table_args__ = (UniqueConstraint("certification_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certification.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    credits: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    # Where the unit sits in the certification's competency framework, e.g. "JTF 6: Data Management and Informatics"
    framework_refs: Mapped[list[str]] = mapped_column(JSONText, default=list)

    certification: Mapped[Certification] = relationship(back_populates="units")
    outcomes: Mapped[list[Outcome]] = relationship(
        back_populates="unit", order_by="Outcome.position", cascade="all, delete-orphan"
    )


class Outcome(Model):
    """A learning outcome: 'The learner will be able to…'."""

    __tablename__ = "cert_outcome"
    __table_args__ = (UniqueConstraint("unit_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("cert_unit.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    unit: Mapped[Unit] = relationship(back_populates="outcomes")
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="outcome", order_by="Criterion.position", cascade="all, delete-orphan"
    )


class Criterion(Model):
    """An assessment criterion: 'The learner can…'. partner_id set = a company-specific criterion that
    applies only to that partner's learners."""

    __tablename__ = "cert_criterion"
    __table_args__ = (UniqueConstraint("outcome_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("cert_outcome.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), nullable=True, index=True)

    outcome: Mapped[Outcome] = relationship(back_populates="criteria")


class PartnerOffering(Model):
    """A partner offers a certification (by code: every version); unit_codes narrows it to a pathway."""

    __tablename__ = "partner_offering"
    __table_args__ = (UniqueConstraint("partner_id", "certification_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    certification_code: Mapped[str] = mapped_column(String(40))
    unit_codes: Mapped[str] = mapped_column(Text, default="")  # comma-separated; empty = all units
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

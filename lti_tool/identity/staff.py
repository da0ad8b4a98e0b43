"""Tool-side staff roles granted to LMS identities, optionally limited to partners and certifications."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, ForeignKey, Index, String, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.launch.models import ToolSession
from lti_tool.store.db import Model, db, utcnow

ASSESSOR = "assessor"
INTERNAL_VERIFIER = "internal_verifier"
INDEPENDENT_VERIFIER = "independent_verifier"
TOOL_ADMIN = "tool_admin"
# Read-only: portfolios, decisions, sampling reports and packs within the grant (lti_tool/eqa); never acts.
EXTERNAL_QUALITY_ASSURER = "external_quality_assurer"

STAFF_ROLES: dict[str, str] = {
    ASSESSOR: "Assessor",
    INTERNAL_VERIFIER: "Internal verifier (step 1)",
    INDEPENDENT_VERIFIER: "Independent verifier (step 2)",
    TOOL_ADMIN: "Tool administrator",
    EXTERNAL_QUALITY_ASSURER: "External quality assurer (read-only)",
}


class StaffGrant(Model):
    __tablename__ = "staff_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    # Limits: None = every partner / every certification.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), nullable=True)
    certification_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # For independent verifiers: the partner they belong to, if any (they may not verify its learners).
    home_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), nullable=True)
    granted_by: Mapped[str] = mapped_column(String(300), default="")
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user = relationship("LtiUser")
    partner = relationship("Partner", foreign_keys=[partner_id])


def is_inert(grant: StaffGrant) -> bool:
    """A tool administrator's grant limited to a partner or certification grants nothing.

    What an administrator does is tool-wide (registrations, keys, every partner's staff and certificates), so
    staff_grants refuses such limits; a row made some other way must not pass for an administrator anywhere.
    """
    return grant.role == TOOL_ADMIN and (grant.partner_id is not None or bool(grant.certification_code))


def grants_for(user_id: int) -> list[StaffGrant]:
    """The grants that count (inert ones left out): every rule reads a person's roles from here."""
    rows = db.session.scalars(select(StaffGrant).where(StaffGrant.user_id == user_id))
    return [g for g in rows if not is_inert(g)]


def tool_admin_probe() -> ColumnElement[bool]:
    """is_tool_admin of the session's person, as a condition read with the session (launch.session probes)."""
    return (
        select(StaffGrant.id)
        .where(
            StaffGrant.user_id == ToolSession.user_id,
            StaffGrant.role == TOOL_ADMIN,
            StaffGrant.partner_id.is_(None),  # not inert (is_inert)
            or_(StaffGrant.certification_code.is_(None), StaffGrant.certification_code == ""),
        )
        .exists()
    )


def is_tool_admin(user_id: int) -> bool:
    """A tool-wide administrator (the only kind there is: see is_inert)."""
    return any(g.role == TOOL_ADMIN for g in grants_for(user_id))


def grant_covers_work(grant: StaffGrant, role: str, partner_id: int | None, certification_code: str) -> bool:
    """Whether `grant` lets its holder act as `role` on one concrete piece of work.

    Strict: a grant limited to a partner does not cover work that has no partner.
    """
    if grant.role != role:
        return False
    if grant.partner_id is not None and grant.partner_id != partner_id:
        return False
    if grant.certification_code and grant.certification_code != certification_code:
        return False
    return True


class PendingStaffGrant(Model):
    """A role granted to an LMS identity (issuer + sub) that has not launched the tool yet.

    Applied at the person's next launch, so admins can prepare staff before their first visit. Kept after
    it is applied (applied_at) as the record of where the grant came from.
    """

    __tablename__ = "staff_pending_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    sub: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), nullable=True)
    certification_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    home_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), nullable=True)
    granted_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    applied_grant_id: Mapped[int | None] = mapped_column(nullable=True)
    # Why it was not applied at a launch (e.g. tool_admin for someone the LMS does not call an administrator).
    note: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (Index("ix_staff_pending_grant_identity", "issuer", "sub"),)

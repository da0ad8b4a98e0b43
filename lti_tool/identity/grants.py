"""Granting and revoking tool staff roles (CLI, admin page and pending grants share these rules).

Every grant and revocation is audited. A role can be granted only to someone who has launched the tool
(an LtiUser exists), or recorded as a pending grant for an (issuer, sub) that is applied at their launch.
Tool administrators must be administrators in their LMS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import ColumnElement, select

from lti_tool.audit import trail as audit
from lti_tool.audit.actor import Actor
from lti_tool.identity.partners import Partner
from lti_tool.identity.staff import STAFF_ROLES, TOOL_ADMIN, PendingStaffGrant, StaffGrant
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser, Membership
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import N_, NotFound, UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """What a grant is limited to (None = unlimited) and the partner a verifier belongs to."""

    partner_id: int | None = None
    certification_code: str | None = None
    home_partner_id: int | None = None


def find_user(issuer: str, sub: str) -> LtiUser | None:
    return db.session.scalar(select(LtiUser).where(LtiUser.issuer == issuer, LtiUser.sub == sub))


def partner_by_slug(slug: str | None) -> Partner | None:
    if not slug:
        return None
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise NotFound(gettext("No partner with the slug '%(slug)s'.", slug=slug))
    return partner


def last_lms_roles(user: LtiUser) -> list[str]:
    """The LTI roles of the user's most recent launch in any course."""
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.user_id == user.id)
        .order_by(Membership.last_launch_at.desc(), Membership.id.desc())
        .limit(1)
    )
    return list(membership.roles) if membership else []


def _check_role_and_scope(role: str, scope: Scope) -> None:
    if role not in STAFF_ROLES:
        raise UserError(gettext("Unknown role '%(role)s'. Roles: %(roles)s.", role=role, roles=", ".join(STAFF_ROLES)))
    if role == TOOL_ADMIN and (scope.partner_id or scope.certification_code or scope.home_partner_id):
        raise UserError("A tool administrator's role cannot be limited to a partner or certification.")


def _admin_refusal(roles: Iterable[str]) -> str | None:
    if lti_roles.is_lms_admin(roles):
        return None
    return gettext(
        "Only an administrator in their LMS can be made tool administrator; their latest launch did not "
        "carry an LMS administrator role."
    )


def _grant_dict(grant: StaffGrant | PendingStaffGrant) -> dict[str, Any]:
    return {
        "role": grant.role,
        "partner_id": grant.partner_id,
        "certification_code": grant.certification_code,
        "home_partner_id": grant.home_partner_id,
    }


def grant_role(user: LtiUser, role: str, scope: Scope, by: Actor) -> StaffGrant:
    """Grant `role` to a launched user; the caller commits."""
    _check_role_and_scope(role, scope)
    if role == TOOL_ADMIN:
        refusal = _admin_refusal(last_lms_roles(user))
        if refusal:
            raise UserError(refusal)
    duplicate = db.session.scalar(
        select(StaffGrant).where(
            StaffGrant.user_id == user.id,
            StaffGrant.role == role,
            _is(StaffGrant.partner_id, scope.partner_id),
            _is(StaffGrant.certification_code, scope.certification_code),
        )
    )
    if duplicate is not None:
        raise UserError(gettext("%(name)s already holds this role with this scope.", name=user.display_name()))
    grant = StaffGrant(
        user_id=user.id,
        role=role,
        partner_id=scope.partner_id,
        certification_code=scope.certification_code,
        home_partner_id=scope.home_partner_id,
        granted_by=by.describe(),
    )
    db.session.add(grant)
    db.session.flush()
    by.record(
        "staff.role_granted",
        subject_type="lti_user",
        subject_id=user.id,
        after={"grant_id": grant.id, **_grant_dict(grant)},
    )
    return grant


def revoke_grant(grant: StaffGrant, by: Actor, reason: str = "") -> None:
    """Remove a grant (the audit trail keeps what it was); the caller commits."""
    before = {
        "grant_id": grant.id,
        **_grant_dict(grant),
        "granted_by": grant.granted_by,
        "granted_at": grant.granted_at.isoformat(),
    }
    user_id = grant.user_id
    db.session.delete(grant)
    db.session.flush()
    by.record("staff.role_revoked", subject_type="lti_user", subject_id=user_id, before=before, rationale=reason)


def add_pending_grant(issuer: str, sub: str, role: str, scope: Scope, by: Actor) -> PendingStaffGrant:
    """Grant a role to an identity that has not launched yet; applied at their launch. Caller commits."""
    _check_role_and_scope(role, scope)
    pending = PendingStaffGrant(
        issuer=issuer,
        sub=sub,
        role=role,
        partner_id=scope.partner_id,
        certification_code=scope.certification_code,
        home_partner_id=scope.home_partner_id,
        granted_by=by.describe(),
    )
    db.session.add(pending)
    db.session.flush()
    by.record(
        "staff.role_pending",
        subject_type="lti_identity",
        subject_id=f"{sub}@{issuer}"[:80],
        after={"pending_id": pending.id, "issuer": issuer, "sub": sub, **_grant_dict(pending)},
    )
    return pending


def cancel_pending_grant(pending: PendingStaffGrant, by: Actor) -> None:
    """Withdraw a pending grant before it is applied; the caller commits."""
    by.record(
        "staff.pending_cancelled",
        subject_type="lti_identity",
        subject_id=f"{pending.sub}@{pending.issuer}"[:80],
        before={"pending_id": pending.id, "issuer": pending.issuer, "sub": pending.sub, **_grant_dict(pending)},
    )
    db.session.delete(pending)
    db.session.flush()


def open_pending_grants(issuer: str | None = None, sub: str | None = None) -> list[PendingStaffGrant]:
    query = select(PendingStaffGrant).where(PendingStaffGrant.applied_at.is_(None))
    if issuer is not None:
        query = query.where(PendingStaffGrant.issuer == issuer)
    if sub is not None:
        query = query.where(PendingStaffGrant.sub == sub)
    return list(db.session.scalars(query.order_by(PendingStaffGrant.id)))


def has_open_pending_grant() -> ColumnElement[bool]:
    """Whether the launching person (LtiUser) has open pending grants: the guard of apply_pending_grants, read
    with a returning person's rows, so a launch without any costs no query of its own."""
    return (
        select(PendingStaffGrant.id)
        .where(
            PendingStaffGrant.applied_at.is_(None),
            PendingStaffGrant.issuer == LtiUser.issuer,
            PendingStaffGrant.sub == LtiUser.sub,
        )
        .exists()
    )


def apply_pending_grants(user: LtiUser, launch_roles: list[str]) -> list[StaffGrant]:
    """Called at every launch: turn the identity's pending grants into grants (in the launch's transaction)."""
    applied = []
    for pending in open_pending_grants(user.issuer, user.sub):
        if pending.role == TOOL_ADMIN and _admin_refusal(launch_roles):
            # Kept in English; the admin page shows it in its own language (translated()).
            pending.note = N_("Waiting: the launch did not carry an LMS administrator role.")
            continue
        existing = db.session.scalar(
            select(StaffGrant).where(
                StaffGrant.user_id == user.id,
                StaffGrant.role == pending.role,
                _is(StaffGrant.partner_id, pending.partner_id),
                _is(StaffGrant.certification_code, pending.certification_code),
            )
        )
        grant = existing
        if grant is None:
            grant = StaffGrant(
                user_id=user.id,
                role=pending.role,
                partner_id=pending.partner_id,
                certification_code=pending.certification_code,
                home_partner_id=pending.home_partner_id,
                granted_by=pending.granted_by,
            )
            db.session.add(grant)
            db.session.flush()
            audit.record(
                "staff.role_granted",
                actor_label=f"pending grant {pending.id} by {pending.granted_by}",
                role="system",
                subject_type="lti_user",
                subject_id=user.id,
                after={"grant_id": grant.id, "pending_id": pending.id, **_grant_dict(grant)},
            )
            applied.append(grant)
        pending.applied_at = utcnow()
        pending.applied_grant_id = grant.id
        pending.note = ""
    if applied:
        log.info("applied %d pending staff grant(s) to user %s", len(applied), user.id)
    return applied


def describe(grant: StaffGrant | PendingStaffGrant) -> str:
    """'Assessor (partner demo-academy, certification CMIACR; attached to demo-academy)', in the page's
    language (English on the command line)."""
    limits = []
    if grant.partner_id:
        limits.append(gettext("partner %(partner)s", partner=_slug(grant.partner_id)))
    if grant.certification_code:
        limits.append(gettext("certification %(code)s", code=grant.certification_code))
    role = gettext(STAFF_ROLES[grant.role]) if grant.role in STAFF_ROLES else grant.role
    if limits:
        text = gettext("%(role)s (%(limits)s)", role=role, limits=", ".join(limits))
    else:
        text = gettext("%(role)s (all partners and certifications)", role=role)
    if grant.home_partner_id:
        text = gettext("%(grant)s; attached to %(partner)s", grant=text, partner=_slug(grant.home_partner_id))
    return text


def _slug(partner_id: int) -> str:
    partner = db.session.get(Partner, partner_id)
    return partner.slug if partner else f"#{partner_id}"


def _is(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value

"""One-time registration invites: a tool admin hands an LMS admin a registration URL carrying a secret
token; a dynamic registration made through it starts active (and joins the invite's partner).

Only a SHA-256 of the token is stored, so the database never holds a usable invite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from flask_babel import gettext
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.audit.actor import Actor
from lti_tool.store.db import Model, db, rowcount, utcnow
from lti_tool.web.errors import UserError

if TYPE_CHECKING:  # a type only: launch may not import identity (ARCHITECTURE.md)
    from lti_tool.identity.partners import Partner

MAX_HOURS = 24 * 30


class RegistrationInvite(Model):
    __tablename__ = "lti_registration_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_registration.id", ondelete="SET NULL"), nullable=True
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    partner = relationship("Partner")
    registration = relationship("Registration")

    def status(self, now: dt.datetime | None = None) -> str:
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or utcnow()):
            return "expired"
        return "open"


class InviteError(UserError):
    title = "This registration link cannot be used"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(
    who: Actor, *, hours: int = 72, partner: Partner | None = None, note: str = ""
) -> tuple[RegistrationInvite, str]:
    """A new invite and its token (shown once: only the hash is kept)."""
    if not 1 <= hours <= MAX_HOURS:
        raise UserError(gettext("An invite must be valid between 1 and %(hours)s hours.", hours=MAX_HOURS))
    token = secrets.token_urlsafe(32)
    invite = RegistrationInvite(
        token_hash=hash_token(token),
        partner=partner,
        note=(note or "").strip()[:200],
        created_by=who.describe()[:300],
        expires_at=utcnow() + dt.timedelta(hours=hours),
    )
    db.session.add(invite)
    db.session.flush()
    who.record(
        "invite.create",
        subject=invite,
        after={"partner": partner.slug if partner else None, "hours": hours, "note": invite.note},
    )
    return invite, token


def usable_invite(token: str) -> RegistrationInvite:
    """The open invite for this token, or an error saying why it cannot be used."""
    invite = (
        db.session.scalar(select(RegistrationInvite).where(RegistrationInvite.token_hash == hash_token(token)))
        if 0 < len(token) <= 200
        else None
    )
    hint = "Ask the tool administrator for a new registration link."
    if invite is None:
        raise InviteError("This registration link is not one the tool issued.", status=404, hint=hint)
    status = invite.status()
    if status == "used":
        raise InviteError(
            "This registration link was already used: each link registers one platform once.", status=410, hint=hint
        )
    if status == "revoked":
        raise InviteError("This registration link was revoked by a tool administrator.", status=410, hint=hint)
    if status == "expired":
        raise InviteError("This registration link has expired.", status=410, hint=hint)
    return invite


def consume_invite(invite: RegistrationInvite, registration_id: int) -> None:
    """Mark it used in the caller's transaction; of two registrations racing on one invite only one wins."""
    now = utcnow()
    result = db.session.execute(
        update(RegistrationInvite)
        .where(
            RegistrationInvite.id == invite.id,
            RegistrationInvite.used_at.is_(None),
            RegistrationInvite.revoked_at.is_(None),
            RegistrationInvite.expires_at > now,
        )
        .values(used_at=now, registration_id=registration_id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise InviteError(
            "This registration link was used or revoked while the registration was running.",
            status=410,
            hint="Ask the tool administrator for a new registration link.",
        )
    db.session.refresh(invite)


def revoke_invite(who: Actor, invite: RegistrationInvite) -> None:
    if invite.status() != "open":
        raise UserError(gettext("This invite is already %(status)s.", status=invite.status()), status=409)
    invite.revoked_at = utcnow()
    who.record("invite.revoke", subject=invite, before={"status": "open"}, after={"status": "revoked"})


def list_invites() -> list[RegistrationInvite]:
    return list(db.session.scalars(select(RegistrationInvite).order_by(RegistrationInvite.id.desc())))

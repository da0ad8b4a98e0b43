"""Partners (academy partners, hubs, employers): the tenants that own LMS deployments."""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.audit.actor import Actor
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import Model, db, utcnow
from lti_tool.web.errors import NotFound, UserError


class Partner(Model):
    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="academy")  # academy | hub | employer
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ------------------------------------------------------------------------------------ managing partners
# The one way to create a partner and to say which partner a deployment belongs to: the admin console and
# `lti-tool partner` both call these, so they accept the same names and leave the same audit events.

PARTNER_KINDS: dict[str, str] = {
    "academy": "Academy partner (accredited training)",
    "hub": "Hub (enrols learners, no accredited training)",
    "employer": "Employer",
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,78}[a-z0-9]$")
MAX_NAME_CHARS = 200


def find_partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise NotFound(gettext("No partner '%(slug)s'. See 'lti-tool partner list'.", slug=slug))
    return partner


def add_partner(by: Actor, slug: str, name: str, kind: str = "academy") -> Partner:
    """Create a partner (audited as partner.created); a clear refusal for a bad or taken short name."""
    slug, name = (slug or "").strip().lower(), " ".join((name or "").split())
    if not SLUG.match(slug):
        raise UserError(
            gettext(
                "'%(slug)s' is not a valid short name (slug) for a partner: use 2 to 80 lower-case letters, digits "
                "or '-', starting and ending with a letter or digit, e.g. 'acme-academy'.",
                slug=slug,
            )
        )
    if not name or len(name) > MAX_NAME_CHARS:
        raise UserError(gettext("A partner needs a name of at most %(max)s characters.", max=MAX_NAME_CHARS))
    if kind not in PARTNER_KINDS:
        raise UserError(
            gettext("Unknown partner kind '%(kind)s': use one of %(kinds)s.", kind=kind, kinds=", ".join(PARTNER_KINDS))
        )
    taken = UserError(gettext("A partner with the short name '%(slug)s' already exists.", slug=slug), status=409)
    if db.session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
        raise taken
    partner = Partner(slug=slug, name=name, kind=kind)
    try:
        with db.session.begin_nested():  # another process may have taken the name since the check
            db.session.add(partner)
    except IntegrityError as exc:
        raise taken from exc
    by.record("partner.created", subject=partner, after={"slug": slug, "name": name, "kind": kind})
    return partner


def find_deployment(issuer: str, client_id: str, deployment_id: str) -> Deployment:
    dep = db.session.scalar(
        select(Deployment)
        .join(Registration)
        .where(
            Registration.issuer == issuer,
            Registration.client_id == client_id,
            Deployment.deployment_id == deployment_id,
        )
    )
    if dep is None:
        raise NotFound(
            gettext(
                "No deployment '%(deployment)s' registered for issuer '%(issuer)s' and client ID '%(client_id)s'. "
                "See 'lti-tool registration list'.",
                deployment=deployment_id,
                issuer=issuer,
                client_id=client_id,
            )
        )
    return dep


def set_deployment_partner(by: Actor, dep: Deployment, partner: Partner | None, *, move: bool = True) -> None:
    """Make a deployment belong to `partner` (None: to no partner): its launches then act for that tenant.

    With move=False a deployment that belongs to another partner is refused rather than moved.
    Audited as deployment.partner, with the partner before and after.
    """
    previous = dep.partner
    if partner is not None and previous is not None and previous.id == partner.id:
        raise UserError(
            gettext(
                "Deployment '%(deployment)s' already belongs to %(partner)s.",
                deployment=dep.deployment_id,
                partner=partner.slug,
            ),
            status=409,
        )
    if partner is None and previous is None:
        return
    if partner is not None and previous is not None and not move:
        raise UserError(
            gettext(
                "Deployment '%(deployment)s' belongs to partner %(partner)s; use --move to move it (its learners "
                "then act for the new partner).",
                deployment=dep.deployment_id,
                partner=previous.slug,
            ),
            status=409,
        )
    dep.partner = partner
    db.session.flush()
    by.record(
        "deployment.partner",
        subject=dep,
        before={"partner": previous.slug if previous else None},
        after={"partner": partner.slug if partner else None},
    )


def partner_deployments(partner_id: int) -> list[Deployment]:
    return list(
        db.session.scalars(select(Deployment).where(Deployment.partner_id == partner_id).order_by(Deployment.id))
    )

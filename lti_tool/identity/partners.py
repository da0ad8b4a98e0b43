"""Partners (academy partners, hubs, employers): the tenants that own LMS deployments."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.audit import trail as audit
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import NotFound, UserError


class Partner(db.Model):
    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="academy")  # academy | hub | employer
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ------------------------------------------------------------------------------------ managing partners

PARTNER_KINDS: dict[str, str] = {
    "academy": "Academy partner (accredited training)",
    "hub": "Hub (enrols learners, no accredited training)",
    "employer": "Employer",
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")


def find_partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise NotFound(f"No partner {slug!r}. See 'lti-tool partner list'.")
    return partner


def add_partner(slug: str, name: str, kind: str, *, actor_label: str = "system") -> Partner:
    slug, name = slug.strip(), " ".join(name.split())
    if not SLUG.match(slug):
        raise UserError(
            f"{slug!r} is not a valid partner slug: use lower-case letters, digits and '-', "
            "2 to 80 characters, e.g. 'acme-academy'."
        )
    if not name:
        raise UserError("A partner needs a name.")
    if kind not in PARTNER_KINDS:
        raise UserError(f"Unknown partner kind {kind!r}: use one of {', '.join(PARTNER_KINDS)}.")
    if db.session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
        raise UserError(f"A partner with slug {slug!r} already exists.")
    partner = Partner(slug=slug, name=name, kind=kind)
    db.session.add(partner)
    db.session.flush()
    audit.record(
        "partner.created", actor_label=actor_label, subject=partner, after={"slug": slug, "name": name, "kind": kind}
    )
    return partner


def attach_deployment(
    partner: Partner,
    issuer: str,
    client_id: str,
    deployment_id: str,
    *,
    move: bool = False,
    actor_label: str = "system",
) -> Deployment:
    """Make a registered deployment belong to the partner: its launches then act for that partner (tenant)."""
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
            f"No deployment {deployment_id!r} registered for issuer {issuer!r} and client ID "
            f"{client_id!r}. See 'lti-tool registration list'."
        )
    if dep.partner_id == partner.id:
        raise UserError(f"Deployment {deployment_id!r} already belongs to {partner.slug}.")
    previous = dep.partner
    if previous is not None and not move:
        raise UserError(
            f"Deployment {deployment_id!r} belongs to partner {previous.slug}; "
            "use --move to move it (its learners then act for the new partner)."
        )
    dep.partner = partner
    db.session.flush()
    audit.record(
        "partner.deployment_attached",
        actor_label=actor_label,
        subject=partner,
        before={"partner": previous.slug} if previous else None,
        after={"issuer": issuer, "client_id": client_id, "deployment_id": deployment_id, "partner": partner.slug},
    )
    return dep


def partner_deployments(partner_id: int) -> list[Deployment]:
    return list(
        db.session.scalars(select(Deployment).where(Deployment.partner_id == partner_id).order_by(Deployment.id))
    )

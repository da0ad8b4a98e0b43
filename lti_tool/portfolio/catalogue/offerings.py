"""What a partner offers (its pathway): certifications by code, optionally narrowed to some of their units.

An offering names a certification code, not a version, so it follows the catalogue: learners always start on
the latest version. The deep-linking picker lists `offered_certifications(partner_id)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext, ngettext
from sqlalchemy import select

from lti_tool.audit import trail as audit
from lti_tool.identity.partners import Partner
from lti_tool.portfolio.catalogue.models import Certification, PartnerOffering, Unit
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError


@dataclass(frozen=True)
class OfferedCertification:
    certification: Certification  # the latest version
    units: list[Unit]  # the units on the partner's pathway (every unit unless the offering narrows it)
    narrowed: bool

    @property
    def credits(self) -> int:
        return sum(u.credits for u in self.units)


def unit_codes_of(offering: PartnerOffering) -> list[str]:
    return [c for c in (offering.unit_codes or "").split(",") if c]


def require_certification(code: str) -> Certification:
    cert = latest_certification(code)
    if cert is None:
        raise NotFound(
            gettext("No certification '%(code)s' in the catalogue. See 'lti-tool catalogue list'.", code=code)
        )
    return cert


def _offering(partner_id: int, code: str) -> PartnerOffering | None:
    return db.session.scalar(
        select(PartnerOffering).where(
            PartnerOffering.partner_id == partner_id, PartnerOffering.certification_code == code
        )
    )


def offer_certification(
    partner: Partner, code: str, unit_codes: Iterable[str] | None = None, *, actor_label: str = "system"
) -> tuple[PartnerOffering, str]:
    """Offer a certification (all units, or the listed ones). Returns the offering and what happened:
    "created", "updated" (the unit list changed) or "unchanged"."""
    cert = require_certification(code)
    wanted = list(dict.fromkeys(c.strip() for c in (unit_codes or ()) if c.strip()))
    known = [u.code for u in cert.units]
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise UserError(
            ngettext(
                "%(code)s version %(version)s has no unit %(units)s; its units are %(known)s.",
                "%(code)s version %(version)s has no units %(units)s; its units are %(known)s.",
                len(unknown),
                code=code,
                version=cert.version,
                units=", ".join(f"'{c}'" for c in unknown),
                known=", ".join(known),
            )
        )
    stored = ",".join(c for c in known if c in wanted)  # in the certification's own order
    offering = _offering(partner.id, code)
    if offering is not None and offering.unit_codes == stored:
        return offering, "unchanged"
    before = None if offering is None else {"units": unit_codes_of(offering) or "all"}
    status = "created" if offering is None else "updated"
    if offering is None:
        offering = PartnerOffering(partner_id=partner.id, certification_code=code)
        db.session.add(offering)
    offering.unit_codes = stored
    db.session.flush()
    audit.record(
        "partner.offering_set",
        actor_label=actor_label,
        subject=partner,
        before=before,
        after={"certification": code, "units": unit_codes_of(offering) or "all"},
    )
    return offering, status


def withdraw_offering(partner: Partner, code: str, *, actor_label: str = "system") -> None:
    """Stop offering a certification to new placements; existing portfolios are not touched."""
    offering = _offering(partner.id, code)
    if offering is None:
        raise NotFound(gettext("%(partner)s does not offer '%(code)s'.", partner=partner.slug, code=code))
    db.session.delete(offering)
    db.session.flush()
    audit.record(
        "partner.offering_withdrawn",
        actor_label=actor_label,
        subject=partner,
        before={"certification": code, "units": unit_codes_of(offering) or "all"},
    )


def _offered(offering: PartnerOffering) -> OfferedCertification | None:
    cert = latest_certification(offering.certification_code)
    if cert is None:
        return None
    codes = unit_codes_of(offering)
    units = [u for u in cert.units if not codes or u.code in codes]
    if not units:  # the pathway's units are all gone from the latest version
        return None
    return OfferedCertification(certification=cert, units=units, narrowed=bool(codes))


def offered_certifications(partner_id: int | None) -> list[OfferedCertification]:
    """The partner's pathway, latest versions, by certification code. No partner: nothing is offered."""
    if partner_id is None:
        return []
    offerings = db.session.scalars(
        select(PartnerOffering)
        .where(PartnerOffering.partner_id == partner_id)
        .order_by(PartnerOffering.certification_code)
    )
    return [o for o in map(_offered, offerings) if o is not None]


def offered_certification(partner_id: int | None, code: str) -> OfferedCertification | None:
    """The partner's offer of one certification, or None when it does not offer it."""
    if partner_id is None:
        return None
    offering = _offering(partner_id, code)
    return _offered(offering) if offering is not None else None

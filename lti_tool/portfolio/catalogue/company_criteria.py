"""Company-specific assessment criteria: a partner's own criteria added to a learning outcome.

They sit on the latest version's outcome, next to the catalogue's criteria, with `partner_id` set, so
`criteria_for(certification, partner_id)` shows and assesses them only for that partner's learners. A new
catalogue version carries them forward (see catalogue_import).
"""

from __future__ import annotations

from sqlalchemy import and_, func, select

from lti_tool.audit import trail as audit
from lti_tool.identity.partners import Partner
from lti_tool.portfolio.catalogue.importer import PART_CODE
from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.portfolio.catalogue.offerings import offered_certification, require_certification
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError


def find_outcome(cert: Certification, outcome_code: str) -> Outcome:
    for unit in cert.units:
        for outcome in unit.outcomes:
            if outcome.code == outcome_code:
                return outcome
    raise NotFound(
        f"{cert.code} version {cert.version} has no learning outcome {outcome_code!r}. "
        f"See 'lti-tool catalogue show {cert.code}'."
    )


def add_partner_criterion(
    partner: Partner, code: str, outcome_code: str, criterion_code: str, text: str, *, actor_label: str = "system"
) -> Criterion:
    cert = require_certification(code)
    offer = offered_certification(partner.id, code)
    if offer is None:
        raise UserError(f"{partner.slug} does not offer {code}; offer it first ('lti-tool partner offer').")
    outcome = find_outcome(cert, outcome_code)
    if outcome.unit not in offer.units:
        raise UserError(
            f"Outcome {outcome_code} belongs to unit {outcome.unit.code}, which is not on "
            f"{partner.slug}'s pathway for {code}."
        )
    criterion_code = criterion_code.strip()
    if not PART_CODE.match(criterion_code):
        raise UserError(
            f"{criterion_code!r} is not a valid criterion code: use letters, digits, '.', '_' or '-', "
            "at most 40 characters."
        )
    text = " ".join(text.split())
    if not text:
        raise UserError("The criterion needs a text, e.g. 'The learner can ...'.")
    taken = db.session.scalar(
        select(Criterion.id)
        .join(Outcome)
        .join(Unit)
        .where(Unit.certification_id == cert.id, Criterion.code == criterion_code)
    )
    if taken is not None:
        raise UserError(
            f"Criterion code {criterion_code!r} is already used in {code} version {cert.version}; choose another."
        )
    criterion = Criterion(
        code=criterion_code,
        text=text,
        partner_id=partner.id,
        position=max((k.position for k in outcome.criteria), default=-1) + 1,
    )
    outcome.criteria.append(criterion)
    db.session.flush()
    audit.record(
        "partner.criterion_added",
        actor_label=actor_label,
        subject=criterion,
        after={
            "partner": partner.slug,
            "certification": code,
            "version": cert.version,
            "outcome": outcome_code,
            "code": criterion_code,
            "text": text,
        },
    )
    return criterion


def partner_criteria(partner_id: int, code: str | None = None) -> list[Criterion]:
    """The partner's own criteria on the latest version of each certification (or of `code`)."""
    latest = (
        select(Certification.code, func.max(Certification.version).label("version"))
        .group_by(Certification.code)
        .subquery()
    )
    query = (
        select(Criterion)
        .join(Outcome)
        .join(Unit)
        .join(Certification)
        .join(latest, and_(latest.c.code == Certification.code, latest.c.version == Certification.version))
        .where(Criterion.partner_id == partner_id)
        .order_by(Certification.code, Unit.position, Outcome.position, Criterion.position)
    )
    if code is not None:
        query = query.where(Certification.code == code)
    return list(db.session.scalars(query))

"""Company-specific assessment criteria: a partner's own criteria added to a learning outcome.

They sit on the latest version's outcome, next to the catalogue's criteria, with `partner_id` set, so
`criteria_for(certification, partner_id)` shows and assesses them only for that partner's learners. A new
catalogue version carries them forward (see catalogue_import).
"""

from __future__ import annotations

from flask_babel import gettext
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
        gettext(
            "%(code)s version %(version)s has no learning outcome '%(outcome)s'. See 'lti-tool catalogue show "
            "%(code)s'.",
            code=cert.code,
            version=cert.version,
            outcome=outcome_code,
        )
    )


def add_partner_criterion(
    partner: Partner, code: str, outcome_code: str, criterion_code: str, text: str, *, actor_label: str = "system"
) -> Criterion:
    cert = require_certification(code)
    offer = offered_certification(partner.id, code)
    if offer is None:
        raise UserError(
            gettext(
                "%(partner)s does not offer %(code)s; offer it first ('lti-tool partner offer').",
                partner=partner.slug,
                code=code,
            )
        )
    outcome = find_outcome(cert, outcome_code)
    if outcome.unit not in offer.units:
        raise UserError(
            gettext(
                "Outcome %(outcome)s belongs to unit %(unit)s, which is not on %(partner)s's pathway for %(code)s.",
                outcome=outcome_code,
                unit=outcome.unit.code,
                partner=partner.slug,
                code=code,
            )
        )
    criterion_code = criterion_code.strip()
    if not PART_CODE.match(criterion_code):
        raise UserError(
            gettext(
                "'%(criterion)s' is not a valid criterion code: use letters, digits, '.', '_' or '-', at most 40 "
                "characters.",
                criterion=criterion_code,
            )
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
            gettext(
                "Criterion code '%(criterion)s' is already used in %(code)s version %(version)s; choose another.",
                criterion=criterion_code,
                code=code,
                version=cert.version,
            )
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

"""Reading the catalogue: the latest version of a certification, and the criteria a learner is held to."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import contains_eager

from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.store.db import db


def latest_certification(code: str) -> Certification | None:
    return db.session.scalar(
        select(Certification).where(Certification.code == code).order_by(Certification.version.desc()).limit(1)
    )


def criteria_for(certification: Certification, partner_id: int | None, unit_code: str | None = None) -> list[Criterion]:
    """Every criterion of the certification in order, plus the partner's company-specific ones; only those of
    unit `unit_code` for a unit-only portfolio."""
    query = (
        select(Criterion)
        .join(Outcome)
        .join(Unit)
        .where(Unit.certification_id == certification.id)
        .where(
            or_(Criterion.partner_id.is_(None), Criterion.partner_id == partner_id)
            if partner_id is not None
            else Criterion.partner_id.is_(None)
        )
        .order_by(Unit.position, Outcome.position, Criterion.partner_id.is_not(None), Criterion.position, Criterion.id)
        # Callers read each criterion's outcome and unit: load them from this join, not one query each.
        .options(contains_eager(Criterion.outcome).contains_eager(Outcome.unit))
    )
    if unit_code is not None:
        query = query.where(Unit.code == unit_code)
    return list(db.session.scalars(query))

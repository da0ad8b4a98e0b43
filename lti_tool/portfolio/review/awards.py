"""Making the award when step 2 confirms: certificate number, credits, CPD points, date. Awards are for life."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import trail as audit
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)
MAX_TRIES = 5


def certificate_prefix(certification_code: str, year: int) -> str:
    return f"{certification_code}-{year}-"


def next_certificate_number(prefix: str) -> str:
    """One more than the highest number issued under this prefix (numbers are zero-padded to sort)."""
    highest = db.session.scalar(
        select(Award.certificate_number)
        .where(Award.certificate_number.startswith(prefix, autoescape=True))
        .order_by(Award.certificate_number.desc())
        .limit(1)
    )
    n = int(highest[len(prefix) :]) + 1 if highest and highest[len(prefix) :].isdigit() else 1
    return f"{prefix}{n:06d}"


def awarded_credits(portfolio: Portfolio) -> int:
    """The learning credits an award of this portfolio carries: the certification's, or its unit's for a
    unit-only portfolio."""
    cert = portfolio.certification
    if portfolio.unit_code is None:
        return cert.credits
    return sum(u.credits for u in cert.units if u.code == portfolio.unit_code)


def make_award(portfolio: Portfolio, submission: Submission, actor: LtiUser | None) -> Award:
    """Create the award in the caller's transaction. Two awards racing for one number: the loser retries."""
    if db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id)) is not None:
        raise UserError("This portfolio already has its award.", status=409)
    cert = portfolio.certification
    today = utcnow().date()
    prefix = certificate_prefix(cert.code, today.year)
    credits = awarded_credits(portfolio)
    for _ in range(MAX_TRIES):
        number = next_certificate_number(prefix)
        award = Award(
            portfolio_id=portfolio.id,
            submission_id=submission.id,
            certificate_number=number,
            credits=credits,
            cpd_points=credits * HOURS_PER_CREDIT,
            awarded_on=today,
        )
        try:
            with db.session.begin_nested():
                db.session.add(award)
                db.session.flush()
        except IntegrityError:
            log.info("certificate number %s was taken meanwhile; trying the next", number)
            continue
        audit.record(
            "award.made",
            actor=actor,
            role="independent_verifier",
            subject=portfolio,
            after={
                "award_id": award.id,
                "certificate_number": number,
                "credits": award.credits,
                "cpd_points": award.cpd_points,
                "awarded_on": today.isoformat(),
                "submission_id": submission.id,
                "certification": f"{cert.code} v{cert.version}",
                **({"unit": portfolio.unit_code} if portfolio.unit_code else {}),
            },
        )
        return award
    raise UserError("Could not issue a unique certificate number; please try again.", status=503)

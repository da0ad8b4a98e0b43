"""Builds certifications, portfolios and awards directly with the models, and awards them through the workflow
(the assessment flow that normally does this is built elsewhere)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from lti_tool.launch.models import Deployment, LtiUser, Registration, ResourceLink
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db
from tests import factories

LMS_ISSUER = "https://lms.example.edu"
LMS_SUB = "lms-user-7f3a9c"
EMAIL = "ada.private@example.org"


def certification(code: str = "TESTCM", version: int = 1) -> Certification:
    """The stored `code` `version`, else a new one shaped like the central monitor certification (flushed)."""
    return factories.make_certification(
        code,
        version=version,
        existing=True,
        title="Qualified Clinical Research Central Monitor",
        description="Competence-based certification for central monitors of clinical trials.",
        framework="Joint Task Force core competencies",
        isced_level="ED5",
        credits=12,
        units=(("CM1", "Risk-based monitoring", 7), ("CM2", "Data review and signal detection", 5)),
        outcomes=1,
        criteria=1,
        outcome_code="{o}",
        outcome_text="The learner will be able to monitor centrally.",
        criterion_code="{o}.{c}",
        criterion_text="The learner can review data.",
        first_position=0,
        commit=False,
    )


def _link() -> ResourceLink:
    reg = db.session.scalar(select(Registration).where(Registration.issuer == LMS_ISSUER))
    if reg is None:
        reg = Registration(
            issuer=LMS_ISSUER,
            client_id="client-x",
            name="Example LMS",
            auth_login_url=f"{LMS_ISSUER}/auth",
            auth_token_url=f"{LMS_ISSUER}/token",
        )
        reg.deployments = [Deployment(deployment_id="deployment-42")]
        db.session.add(reg)
        db.session.flush()
    count = len(list(db.session.scalars(select(ResourceLink.id))))
    link = ResourceLink(deployment_id=reg.deployments[0].id, resource_link_id=f"link-{count}", title="Portfolio")
    db.session.add(link)
    db.session.flush()
    return link


def learner(sub: str = LMS_SUB, name: str = "Ada Mensah", email: str = EMAIL) -> LtiUser:
    user = db.session.scalar(select(LtiUser).where(LtiUser.issuer == LMS_ISSUER, LtiUser.sub == sub))
    if user is None:
        user = LtiUser(issuer=LMS_ISSUER, sub=sub, name=name, email=email)
        db.session.add(user)
        db.session.flush()
    return user


def ready_for_award(
    user: LtiUser | None = None,
    number: str = "CMIACR-2025-000123",
    awarded_on: dt.date | None = None,
    cert: Certification | None = None,
) -> tuple[Portfolio, Award]:
    """A portfolio in independent verification with its Award row, as the award service leaves them."""
    user = user or learner()
    cert = cert or certification()
    portfolio = Portfolio(
        user_id=user.id, certification_id=cert.id, resource_link_id=_link().id, state=workflow.VERIFICATION_2
    )
    db.session.add(portfolio)
    db.session.flush()
    submission = Submission(portfolio_id=portfolio.id, attempt=1, snapshot={"evidence": []})
    db.session.add(submission)
    db.session.flush()
    award = Award(
        portfolio_id=portfolio.id,
        submission_id=submission.id,
        certificate_number=number,
        credits=cert.credits,
        cpd_points=cert.cpd_points,
        awarded_on=awarded_on or dt.date.today(),
    )
    db.session.add(award)
    db.session.flush()
    return portfolio, award


def award_through_workflow(**kwargs: Any) -> Award:
    portfolio, award = ready_for_award(**kwargs)
    workflow.transition(portfolio, workflow.AWARDED, duty="independent_verifier", rationale="Confirmed")
    db.session.commit()
    return award

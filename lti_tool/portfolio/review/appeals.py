"""Appeals: a learner contests a not-yet-competent decision within APPEAL_DAYS; someone not involved decides.

Upheld: the submission goes back to 'submitted' and is assessed afresh by an assessor who has not assessed
it. Dismissed: the referral stands. One appeal per decision. The decision appealed is the referral, which
covers any verification outcome that led to it (the whole chain is in front of the person deciding).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import Portfolio
from lti_tool.portfolio.review import duties
from lti_tool.portfolio.review.appeal_models import DISMISSED, OPEN, UPHELD, Appeal
from lti_tool.portfolio.review.assessment import declaration_details
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment
from lti_tool.portfolio.review.lookup import get_portfolio, last_decision, latest_submission
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import NotAllowed, UserError

MAX_GROUNDS = 20000


@dataclass(frozen=True)
class AppealWindow:
    """Whether the learner may appeal now, and if not, why."""

    allowed: bool
    reason: str = ""
    assessment: Assessment | None = None
    deadline: dt.datetime | None = None


def appeal_days() -> int:
    return int(current_app.config.get("APPEAL_DAYS", 28))


def appeal_window(portfolio: Portfolio, now: dt.datetime | None = None) -> AppealWindow:
    now = now or utcnow()
    if portfolio.state != workflow.REFERRED:
        return AppealWindow(
            False, "Only a not-yet-competent decision can be appealed, and this portfolio has none waiting."
        )
    if not portfolio.submissions:
        return AppealWindow(False, "This portfolio has no assessed submission.")
    decision = last_decision(latest_submission(portfolio))
    if decision is None or decision.decision != NOT_YET_COMPETENT or decision.decided_at is None:
        return AppealWindow(False, "There is no not-yet-competent decision to appeal.")
    deadline = decision.decided_at + dt.timedelta(days=appeal_days())
    existing = db.session.scalar(select(Appeal).where(Appeal.assessment_id == decision.id))
    if existing is not None:
        return AppealWindow(
            False, f"This decision has already been appealed ({existing.status_label.lower()}).", decision, deadline
        )
    if now > deadline:
        return AppealWindow(
            False,
            f"The {appeal_days()}-day period to appeal this decision ended on {deadline:%d %B %Y}.",
            decision,
            deadline,
        )
    return AppealWindow(True, "", decision, deadline)


def lodge(portfolio_id: int, learner: LtiUser, grounds: str, now: dt.datetime | None = None) -> Appeal:
    """The learner appeals their latest referral. The caller commits."""
    grounds = (grounds or "").strip()
    if not grounds:
        raise UserError("Give your grounds: say why you think the decision is wrong.", status=422)
    if len(grounds) > MAX_GROUNDS:
        raise UserError("Your grounds are too long; please shorten them.")
    portfolio = get_portfolio(portfolio_id, lock=True)
    if portfolio.user_id != learner.id:
        raise NotAllowed("Only the learner whose portfolio it is can appeal its decision.")
    window = appeal_window(portfolio, now)
    if not window.allowed or window.assessment is None:
        raise UserError(window.reason, status=409, title="Appeal not possible")
    appeal = Appeal(
        portfolio_id=portfolio.id,
        submission_id=window.assessment.submission_id,
        assessment_id=window.assessment.id,
        learner_id=learner.id,
        grounds=grounds,
    )
    db.session.add(appeal)
    db.session.flush()
    workflow.transition(
        portfolio,
        workflow.APPEALED,
        duty="learner",
        actor=learner,
        rationale=grounds,
        details={"appeal_id": appeal.id, "assessment_id": window.assessment.id},
    )
    return appeal


def open_appeal(portfolio: Portfolio) -> Appeal | None:
    return db.session.scalar(
        select(Appeal)
        .where(Appeal.portfolio_id == portfolio.id, Appeal.status == OPEN)
        .order_by(Appeal.id.desc())
        .limit(1)
    )


def check_may_decide(portfolio: Portfolio, user: LtiUser) -> Appeal:
    grants = staff.grants_for(user.id)
    duties.require(duties.standing_refusal(user.id, grants, duties.APPEAL_CAPACITY, portfolio))
    if portfolio.state != workflow.APPEALED:
        raise workflow.TransitionRefused("This portfolio has no appeal waiting for a decision.")
    appeal = open_appeal(portfolio)
    if appeal is None:  # state and records disagree: refuse rather than guess
        raise UserError("No open appeal was found for this portfolio.", status=409)
    chain = duties.load_chain(portfolio, latest_submission(portfolio))
    duties.require(duties.appeal_refusal(user.id, grants, chain))
    return appeal


def decide(portfolio_id: int, user: LtiUser, upheld: bool, rationale: str, *, declared: bool = False) -> Appeal:
    """Uphold (-> submitted, re-assessed by someone else) or dismiss (-> referred). The caller commits.
    `declared`: the decider accepted assessment.DECLARATION (recorded in the audit event)."""
    rationale = (rationale or "").strip()
    if not rationale:
        raise UserError(
            "Give the reasons for the appeal decision; the learner and the regulator read them.", status=422
        )
    if len(rationale) > MAX_GROUNDS:
        raise UserError("The reasons are too long.")
    portfolio = get_portfolio(portfolio_id, lock=True)
    appeal = check_may_decide(portfolio, user)
    appeal.status = UPHELD if upheld else DISMISSED
    appeal.decided_by_id = user.id
    appeal.decided_at = utcnow()
    appeal.outcome_rationale = rationale
    acting_as = staff.TOOL_ADMIN if staff.is_tool_admin(user.id) else "staff"
    workflow.transition(
        portfolio,
        workflow.SUBMITTED if upheld else workflow.REFERRED,
        duty="appeal_panel",
        actor=user,
        rationale=rationale,
        details={
            "appeal_id": appeal.id,
            "outcome": appeal.status,
            "acting_as": acting_as,
            "assessment_id": appeal.assessment_id,
            **declaration_details(declared),
        },
    )
    return appeal

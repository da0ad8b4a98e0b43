"""Loading what decisions act on: the portfolio (locked while deciding), its submission and last decision."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.portfolio.coverage import Judgement
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import Assessment
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError


def get_portfolio(portfolio_id: int, *, lock: bool = False) -> Portfolio:
    """The portfolio; with lock=True its row is locked (PostgreSQL) so two people cannot decide at once and
    the state read here is the state the decision changes."""
    query = select(Portfolio).where(Portfolio.id == portfolio_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    portfolio = db.session.scalar(query)
    if portfolio is None:
        raise NotFound("There is no such portfolio.")
    return portfolio


def latest_submission(portfolio: Portfolio) -> Submission:
    submission = db.session.scalar(
        select(Submission).where(Submission.portfolio_id == portfolio.id).order_by(Submission.attempt.desc()).limit(1)
    )
    if submission is None:
        raise UserError("This portfolio has not been submitted yet.", status=409)
    return submission


def last_decision(submission: Submission) -> Assessment | None:
    return db.session.scalar(
        select(Assessment)
        .where(Assessment.submission_id == submission.id, Assessment.decision.is_not(None))
        .order_by(Assessment.id.desc())
        .limit(1)
    )


def decisions(submission: Submission) -> list[Assessment]:
    return list(
        db.session.scalars(
            select(Assessment)
            .where(Assessment.submission_id == submission.id, Assessment.decision.is_not(None))
            .order_by(Assessment.id)
        )
    )


def latest_decided_assessment(submission: Submission | None) -> Assessment | None:
    if submission is None:
        return None
    return db.session.scalar(
        select(Assessment)
        .where(Assessment.submission_id == submission.id, Assessment.decided_at.is_not(None))
        .order_by(Assessment.decided_at.desc(), Assessment.id.desc())
        .limit(1)
    )


def judgements_of(assessment: Assessment | None) -> dict[int, Judgement]:
    if assessment is None:
        return {}
    return {j.criterion_id: Judgement(met=j.met, feedback=j.feedback) for j in assessment.judgements}

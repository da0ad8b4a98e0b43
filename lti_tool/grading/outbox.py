"""Writing grade jobs in the transaction of the portfolio change they report (the outbox).

The state machine calls `on_portfolio_transition` inside the transaction of every state change; the
learner pages call `enqueue_for_state(portfolio)` when they create a portfolio (there is no transition
into "draft"), which tells the LMS the learner has started.

A portfolio reports to every placement that opens it: the one it was started from and each other one
recorded as opening it (a unit placement of its certification, a second placement of it:
portfolio.models.PortfolioPlacement), each on its own line item. `on_portfolio_placed` gives a placement
recorded later the portfolio's state at once.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from lti_tool.grading import gradebook, scores
from lti_tool.grading.models import CREDITS, DELIVERED, FAILED, IN_PROGRESS, MAIN, PENDING, GradeJob
from lti_tool.launch.models import ResourceLink
from lti_tool.portfolio import workflow as wf
from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT, Unit
from lti_tool.portfolio.catalogue.placement import unit_code_for
from lti_tool.portfolio.models import Portfolio, PortfolioPlacement, Submission
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment, Award
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)

SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"


def can_post_scores(link: ResourceLink) -> bool:
    return SCOPE_SCORE in (link.ags_scopes or []) and bool(link.ags_lineitem_url or link.ags_lineitems_url)


def can_manage_line_items(link: ResourceLink) -> bool:
    return SCOPE_LINEITEM in (link.ags_scopes or []) and bool(link.ags_lineitems_url)


def credits_column(link: ResourceLink) -> bool:
    """Whether this placement's awards also get a separate learning credits column."""
    return gradebook.credits_column_refusal(link, can_manage_line_items(link)) is None


def _latest_job(link_id: int, user_id: int, target: str) -> GradeJob | None:
    return db.session.scalar(
        select(GradeJob)
        .where(
            GradeJob.resource_link_id == link_id,
            GradeJob.user_id == user_id,
            GradeJob.target == target,
        )
        .order_by(GradeJob.sequence.desc())
        .limit(1)
    )


def referral_feedback(portfolio: Portfolio) -> str:
    """The overall feedback of the latest 'not yet competent' decision on this portfolio."""
    return (
        db.session.scalar(
            select(Assessment.summary)
            .join(Submission, Assessment.submission_id == Submission.id)
            .where(Submission.portfolio_id == portfolio.id, Assessment.decision == NOT_YET_COMPETENT)
            .order_by(Assessment.decided_at.desc(), Assessment.id.desc())
            .limit(1)
        )
        or ""
    )


def _award(portfolio: Portfolio) -> Award:
    award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
    if award is None:
        # A programming error, not a user one: the award flow must write the Award before the transition.
        raise RuntimeError(
            f"Portfolio {portfolio.id} became 'awarded' without an Award row; create the Award "
            "before calling workflow.transition(..., 'awarded')."
        )
    return award


def placements_of(portfolio: Portfolio) -> list[ResourceLink]:
    """The placements whose gradebook columns show this portfolio: the one it was started from, then each one
    recorded as opening it, in the order they were."""
    others = db.session.scalars(
        select(ResourceLink)
        .join(PortfolioPlacement, PortfolioPlacement.resource_link_id == ResourceLink.id)
        .where(PortfolioPlacement.portfolio_id == portfolio.id)
        .order_by(PortfolioPlacement.id)
    )
    own = portfolio.resource_link
    return ([own] if own is not None else []) + [link for link in others if link.id != portfolio.resource_link_id]


def column_unit(link: ResourceLink, portfolio: Portfolio) -> Unit | None:
    """The unit a placement's column is for: the unit the placement names, when the portfolio's certification has
    it (a unit placement); None: the whole certification."""
    code = unit_code_for(link)
    if code is None:
        return None
    return next((u for u in portfolio.certification.units if u.code == code), None)


def _add_job(
    portfolio: Portfolio, link: ResourceLink, target: str, state: str, line_item: dict[str, Any], build: Any
) -> GradeJob | None:
    """Append the next job of this learner on this placement's line item, unless it would repeat the last one."""
    previous = _latest_job(link.id, portfolio.user_id, target)
    timestamp = scores.next_timestamp(utcnow(), previous.payload["timestamp"] if previous else None)
    payload = build(timestamp)
    if (
        previous is not None
        and previous.status != FAILED
        and scores.progress_of(previous.payload) == scores.progress_of(payload)
    ):
        return None  # e.g. assessed -> verification: the gradebook already says Submitted/PendingManual
    job = GradeJob(
        portfolio_id=portfolio.id,
        resource_link_id=link.id,
        user_id=portfolio.user_id,
        lms_user_id=portfolio.user.sub,
        target=target,
        state=state,
        sequence=(previous.sequence + 1) if previous else 1,
        payload=payload,
        line_item=line_item,
        status=PENDING,
        next_attempt_at=utcnow(),
    )
    db.session.add(job)
    return job


def enqueue_for_state(
    portfolio: Portfolio, state: str | None = None, links: list[ResourceLink] | None = None
) -> list[GradeJob]:
    """Write the score jobs that report `state` (default: the portfolio's current state) to the LMS, for every
    placement that opens the portfolio (or only `links`).

    Call it in the same transaction as the change it reports. Placements whose platform gave no score
    service get no jobs. Returns the jobs written (none when the gradebook already shows this progress).
    """
    state = state or portfolio.state
    if state not in scores.REPORTED_STATES:
        return []
    db.session.flush()  # a new portfolio needs its id
    postable = []
    for link in placements_of(portfolio) if links is None else links:
        if can_post_scores(link):
            postable.append(link)
        else:
            log.info("no grade sync for portfolio %s in placement %s: no score service", portfolio.id, link.id)
    if not postable:
        return []
    award = _award(portfolio) if state == wf.AWARDED else None
    feedback = referral_feedback(portfolio) if state == wf.REFERRED else ""
    written = [job for link in postable for job in _jobs_for(portfolio, link, state, award, feedback)]
    if written:
        db.session.flush()
    return written


def _jobs_for(
    portfolio: Portfolio, link: ResourceLink, state: str, award: Award | None, feedback: str
) -> list[GradeJob]:
    """One placement's jobs: its main column, and its credits column at award where the deployment opted in."""
    cert = portfolio.certification
    sub = portfolio.user.sub
    unit = column_unit(link, portfolio)
    # A unit placement of a whole-certification portfolio: its column is that unit's, achieved with the award.
    part = unit if unit is not None and portfolio.unit_code is None else None
    credits_earned = award.credits if award else None
    cpd_points = award.cpd_points if award else None
    credits_available = cert.credits
    if part is not None and award is not None:
        credits_earned = credits_available = part.credits
        cpd_points = part.credits * HOURS_PER_CREDIT

    def main(timestamp: str) -> dict[str, Any]:
        return scores.score_payload(
            state,
            user_id=sub,
            timestamp=timestamp,
            feedback=feedback,
            certificate_number=award.certificate_number if award else "",
            credits=credits_earned,
            cpd_points=cpd_points,
            unit_code=part.code if part else "",
        )

    line_item = scores.main_line_item(cert.code, cert.title, unit.code if unit else "", unit.title if unit else "")
    jobs = [_add_job(portfolio, link, MAIN, state, line_item, main)]
    # The credits are always in the main score's comment; a column of their own only where the deployment
    # opted in and it distorts nothing (gradebook.py says why it is off by default).
    if award is not None and credits_earned is not None and credits_available > 0 and credits_column(link):
        earned = credits_earned

        def credits(timestamp: str) -> dict[str, Any]:
            return scores.credits_payload(
                user_id=sub,
                timestamp=timestamp,
                credits_earned=earned,
                credits_available=credits_available,
                certificate_number=award.certificate_number,
                cpd_points=cpd_points,
            )

        spec = scores.credits_line_item(cert.code, credits_available, part.code if part else "")
        jobs.append(_add_job(portfolio, link, CREDITS, state, spec, credits))
    return [j for j in jobs if j is not None]


def on_portfolio_transition(portfolio: Portfolio, from_state: str, to_state: str) -> None:
    enqueue_for_state(portfolio, to_state)


def on_portfolio_placed(portfolio: Portfolio, link: ResourceLink) -> None:
    """Another placement opens the portfolio from now on: its column learns the portfolio's state now (a
    portfolio awarded before shows Completed there at once)."""
    enqueue_for_state(portfolio, links=[link])


class RetryRefused(UserError):
    status = 409
    title = "This job cannot be retried"


def later_delivered(job: GradeJob) -> GradeJob | None:
    """A later score of the same learner on the same line item that already reached the platform."""
    return db.session.scalar(
        select(GradeJob)
        .where(
            GradeJob.resource_link_id == job.resource_link_id,
            GradeJob.user_id == job.user_id,
            GradeJob.target == job.target,
            GradeJob.sequence > job.sequence,
            GradeJob.status == DELIVERED,
        )
        .limit(1)
    )


def requeue(job: GradeJob) -> None:
    """Make a failed (or waiting) job due now with a fresh count of attempts; the caller audits and commits."""
    if job.status in (DELIVERED, IN_PROGRESS):
        raise RetryRefused(
            gettext("Job %(id)s is delivered; only failed or pending jobs can be retried.", id=job.id)
            if job.status == DELIVERED
            else gettext("Job %(id)s is in progress; only failed or pending jobs can be retried.", id=job.id)
        )
    newer = later_delivered(job)
    if newer is not None:
        raise RetryRefused(
            gettext(
                "Job %(id)s is out of date: a later score for this learner (job %(newer)s) has already been "
                "delivered, and the platform keeps the latest one.",
                id=job.id,
                newer=newer.id,
            )
        )
    job.status = PENDING
    job.attempts = 0
    job.next_attempt_at = utcnow()
    job.lease_until = None
    job.leased_by = None
    job.updated_at = utcnow()

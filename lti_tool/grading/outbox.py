"""Writing grade jobs in the transaction of the portfolio change they report (the outbox).

The state machine calls `on_portfolio_transition` inside the transaction of every state change; the
learner pages call `enqueue_for_state(portfolio)` when they create a portfolio (there is no transition
into "draft"), which tells the LMS the learner has started.
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
from lti_tool.portfolio.models import Portfolio, Submission
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


def _add_job(portfolio: Portfolio, target: str, state: str, line_item: dict[str, Any], build: Any) -> GradeJob | None:
    """Append the next job of this learner on this line item, unless it would repeat the last one."""
    previous = _latest_job(portfolio.resource_link_id, portfolio.user_id, target)
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
        resource_link_id=portfolio.resource_link_id,
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


def enqueue_for_state(portfolio: Portfolio, state: str | None = None) -> list[GradeJob]:
    """Write the score jobs that report `state` (default: the portfolio's current state) to the LMS.

    Call it in the same transaction as the change it reports. Placements whose platform gave no score
    service get no jobs. Returns the jobs written (none when the gradebook already shows this progress).
    """
    state = state or portfolio.state
    if state not in scores.REPORTED_STATES:
        return []
    db.session.flush()  # a new portfolio needs its id
    link = portfolio.resource_link
    if link is None or not can_post_scores(link):
        log.info("no grade sync for portfolio %s: the platform gave no score service", portfolio.id)
        return []
    cert = portfolio.certification
    sub = portfolio.user.sub
    award = _award(portfolio) if state == wf.AWARDED else None
    feedback = referral_feedback(portfolio) if state == wf.REFERRED else ""

    def main(timestamp: str) -> dict[str, Any]:
        return scores.score_payload(
            state,
            user_id=sub,
            timestamp=timestamp,
            feedback=feedback,
            certificate_number=award.certificate_number if award else "",
            credits=award.credits if award else None,
            cpd_points=award.cpd_points if award else None,
        )

    jobs = [_add_job(portfolio, MAIN, state, scores.main_line_item(cert.code, cert.title), main)]
    # The credits are always in the main score's comment; a column of their own only where the deployment
    # opted in and it distorts nothing (gradebook.py says why it is off by default).
    if award is not None and cert.credits > 0 and credits_column(link):

        def credits(timestamp: str) -> dict[str, Any]:
            return scores.credits_payload(
                user_id=sub,
                timestamp=timestamp,
                credits_earned=award.credits,
                credits_available=cert.credits,
                certificate_number=award.certificate_number,
                cpd_points=award.cpd_points,
            )

        jobs.append(_add_job(portfolio, CREDITS, state, scores.credits_line_item(cert.code, cert.credits), credits))
    written = [j for j in jobs if j is not None]
    if written:
        db.session.flush()
    return written


def on_portfolio_transition(portfolio: Portfolio, from_state: str, to_state: str) -> None:
    enqueue_for_state(portfolio, to_state)


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

"""Two-step verification of a competent decision, and the decision trail verifiers read.

Step 1 (internal, when sampled): agree -> step 2, or disagree with a rationale -> sent back to the assessor.
Step 2 (independent): confirm -> awarded (the award is made), or send back with a rationale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import duties, sampling
from lti_tool.portfolio.review.appeal_models import UPHELD, Appeal
from lti_tool.portfolio.review.assessment import DECISIONS, declaration_details
from lti_tool.portfolio.review.assessment_models import Assessment, Award
from lti_tool.portfolio.review.awards import make_award
from lti_tool.portfolio.review.lookup import get_portfolio, last_decision, latest_submission
from lti_tool.portfolio.review.verification_models import (
    AGREED,
    CONFIRMED,
    DISAGREED,
    SENT_BACK,
    SamplingDecision,
    VerificationRecord,
)
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

STEP_STATES = {1: workflow.VERIFICATION_1, 2: workflow.VERIFICATION_2}
_REFUSALS = {1: duties.step1_refusal, 2: duties.step2_refusal}
_DUTIES = {1: "internal_verifier", 2: "independent_verifier"}
MAX_RATIONALE = 20000


def check_may_verify(portfolio: Portfolio, user: LtiUser, step: int) -> tuple[Submission, Assessment]:
    """Refuse unless the portfolio is at this step and this person may verify it; return what is verified."""
    if step not in STEP_STATES:
        raise UserError("Unknown verification step.")
    grants = staff.grants_for(user.id)
    duties.require(duties.standing_refusal(user.id, grants, _DUTIES[step], portfolio))
    if portfolio.state != STEP_STATES[step]:
        raise workflow.TransitionRefused(
            gettext(
                "This portfolio is '%(state)s': it is not waiting for verification step %(step)s.",
                state=workflow.state_words(portfolio.state),
                step=step,
            )
        )
    submission = latest_submission(portfolio)
    assessment = last_decision(submission)
    if assessment is None:  # cannot happen through the workflow; refuse rather than guess
        raise UserError("There is no assessment decision to verify.", status=409)
    chain = duties.load_chain(portfolio, submission)
    duties.require(_REFUSALS[step](user.id, grants, chain))
    return submission, assessment


def verify(
    portfolio_id: int, user: LtiUser, step: int, agree: bool, rationale: str = "", *, declared: bool = False
) -> VerificationRecord:
    """Record a verifier's outcome and move the portfolio on (making the award on step-2 confirmation).
    The caller commits. `declared`: the verifier accepted assessment.DECLARATION (recorded in the audit event)."""
    rationale = (rationale or "").strip()
    if not agree and not rationale:
        raise UserError("Say why you send the decision back: the assessor needs your rationale.", status=422)
    if len(rationale) > MAX_RATIONALE:
        raise UserError("The rationale is too long.")
    portfolio = get_portfolio(portfolio_id, lock=True)
    submission, assessment = check_may_verify(portfolio, user, step)
    outcome = {(1, True): AGREED, (1, False): DISAGREED, (2, True): CONFIRMED, (2, False): SENT_BACK}[(step, agree)]
    record = VerificationRecord(
        assessment_id=assessment.id,
        submission_id=submission.id,
        step=step,
        outcome=outcome,
        verifier_id=user.id,
        rationale=rationale,
    )
    db.session.add(record)
    db.session.flush()
    details = {
        "assessment_id": assessment.id,
        "verification_record_id": record.id,
        "step": step,
        "outcome": outcome,
        "assessor_id": assessment.assessor_id,
        **declaration_details(declared),
    }
    if not agree:
        target = workflow.SENT_BACK
    else:
        target = workflow.VERIFICATION_2 if step == 1 else workflow.AWARDED
    if target == workflow.AWARDED:
        # Made before the state changes, so listeners told 'awarded' (grade sync) find the award.
        award = make_award(portfolio, submission, user)
        details["certificate_number"] = award.certificate_number
    workflow.transition(portfolio, target, duty=_DUTIES[step], actor=user, rationale=rationale, details=details)
    return record


@dataclass(frozen=True)
class TrailEntry:
    at: dt.datetime
    what: str
    who: str
    rationale: str = ""
    detail: str = ""


def decision_trail(portfolio: Portfolio) -> list[TrailEntry]:
    """Every submission, decision, sampling choice, verification, appeal and award, oldest first."""
    entries: list[TrailEntry] = []
    for sub in portfolio.submissions:
        entries.append(
            TrailEntry(
                sub.created_at,
                gettext("Submitted (attempt %(attempt)s)", attempt=sub.attempt),
                portfolio.user.display_name(),
                sub.learner_note,
            )
        )
        for a in db.session.scalars(
            select(Assessment).where(Assessment.submission_id == sub.id, Assessment.decision.is_not(None))
        ):
            not_met = [j for j in a.judgements if not j.met]
            entries.append(
                TrailEntry(
                    a.decided_at or a.created_at,
                    gettext(
                        "Assessed: %(decision)s", decision=gettext(DECISIONS.get(a.decision or "", a.decision or ""))
                    ),
                    a.assessor.display_name(),
                    a.summary,
                    gettext(
                        "%(met)s criteria met, %(not_met)s not yet met",
                        met=len(a.judgements) - len(not_met),
                        not_met=len(not_met),
                    ),
                )
            )
            picked = db.session.scalar(select(SamplingDecision).where(SamplingDecision.assessment_id == a.id))
            if picked is not None:
                entries.append(
                    TrailEntry(
                        picked.created_at,
                        gettext("Sampled for internal verification")
                        if picked.sampled
                        else gettext("Not sampled: straight to independent verification"),
                        gettext("system"),
                        "; ".join(sampling.reason_words(r) for r in picked.reasons),
                    )
                )
        for r in db.session.scalars(select(VerificationRecord).where(VerificationRecord.submission_id == sub.id)):
            if r.verifier_id is None:
                continue  # the sampling entry above already says why step 1 was skipped
            entries.append(
                TrailEntry(
                    r.created_at,
                    gettext("Verification step %(step)s: %(outcome)s", step=r.step, outcome=gettext(r.outcome_label)),
                    r.verifier.display_name(),
                    r.rationale,
                )
            )
        for ap in db.session.scalars(select(Appeal).where(Appeal.submission_id == sub.id)):
            entries.append(
                TrailEntry(ap.lodged_at, gettext("Appeal lodged"), portfolio.user.display_name(), ap.grounds)
            )
            if ap.decided_at is not None:
                entries.append(
                    TrailEntry(
                        ap.decided_at,
                        gettext("Appeal upheld") if ap.status == UPHELD else gettext("Appeal dismissed"),
                        ap.decided_by.display_name() if ap.decided_by else "?",
                        ap.outcome_rationale,
                    )
                )
    award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
    if award is not None:
        entries.append(
            TrailEntry(
                award.created_at,
                gettext("Awarded: certificate %(number)s", number=award.certificate_number),
                gettext("system"),
                detail=gettext(
                    "%(credits)s credits, %(points)s CPD points", credits=award.credits, points=award.cpd_points
                ),
            )
        )
    return sorted(entries, key=lambda e: e.at)


def portfolio_for_step(portfolio_id: int, user: LtiUser) -> tuple[Portfolio, int]:
    """Which step the portfolio is waiting for (for the verify page)."""
    portfolio = get_portfolio(portfolio_id)
    step = {v: k for k, v in STEP_STATES.items()}.get(portfolio.state)
    if step is None:
        # Only someone who could verify it at some step learns that it is not waiting for verification.
        grants = staff.grants_for(user.id)
        refusals = {duties.standing_refusal(user.id, grants, duty, portfolio) for duty in _DUTIES.values()}
        if None not in refusals:
            duties.require(
                refusals.pop()
                if len(refusals) == 1
                else gettext("Verification needs a verifier role that covers this learner's partner and certification.")
            )
        raise workflow.TransitionRefused(
            gettext(
                "This portfolio is '%(state)s': it is not waiting for verification.",
                state=workflow.state_words(portfolio.state),
            )
        )
    return portfolio, step

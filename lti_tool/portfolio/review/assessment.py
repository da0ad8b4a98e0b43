"""The assessor's work: judge each criterion (met / not yet met, with feedback), save drafts, decide.

Competent (every criterion met): submitted/sent back -> assessed -> sampled into step 1 or straight to step 2.
Not yet competent (a criterion not yet met, with feedback): -> referred; the learner sees the feedback.
A decision sent back by a verifier is re-assessed as a new Assessment (the earlier one stays as it was).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext, ngettext
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import duties, sampling
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Assessment, CriterionJudgement
from lti_tool.portfolio.review.lookup import get_portfolio, last_decision, latest_submission
from lti_tool.portfolio.review.verification_models import NOT_SAMPLED, VerificationRecord
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import N_, UserError

ASSESSABLE = frozenset({workflow.SUBMITTED, workflow.SENT_BACK})
# Shown through translated() (templates) or gettext (sentences), in the reader's language.
DECISIONS = {COMPETENT: N_("Competent"), NOT_YET_COMPETENT: N_("Not yet competent")}
MAX_TEXT = 20000
# What a judge confirms before a final decision; the words accepted go into the decision's audit event, so the
# trail shows what was declared, not only that a box was ticked.
# Recorded in English; the confirmation page shows it in the page's language.
DECLARATION = N_(
    "This judgement is my own, made on the evidence submitted alone, and I have no personal or professional "
    "interest in this learner's result."
)

_system_rng = random.SystemRandom()


@dataclass(frozen=True)
class Judgement:
    met: bool | None  # None: not judged yet (drafts only)
    feedback: str = ""


class IncompleteDecision(UserError):
    status = 422
    title = "The decision is not complete"

    def __init__(self, message: str, criterion_ids: list[int] | None = None) -> None:
        super().__init__(message)
        # Which criteria need attention, so the page can link each one to its field.
        self.criterion_ids = list(criterion_ids or [])


def declaration_details(declared: bool) -> dict[str, object]:
    """Audit details of the declaration: its exact words when accepted."""
    return {"declaration_accepted": declared, **({"declaration": DECLARATION} if declared else {})}


def check_may_assess(portfolio: Portfolio, user: LtiUser) -> Submission:
    """Refuse unless the portfolio awaits assessment and this person may assess it; return its submission."""
    grants = staff.grants_for(user.id)
    duties.require(duties.standing_refusal(user.id, grants, staff.ASSESSOR, portfolio))
    if portfolio.state not in ASSESSABLE:
        raise workflow.TransitionRefused(
            gettext(
                "This portfolio is '%(state)s': it is not waiting for assessment.",
                state=workflow.state_words(portfolio.state),
            )
        )
    submission = latest_submission(portfolio)
    chain = duties.load_chain(portfolio, submission)
    duties.require(duties.assess_refusal(user.id, grants, chain))
    return submission


def open_draft(submission: Submission, assessor_id: int) -> Assessment | None:
    """The assessor's undecided assessment started after the submission's last decision, if any."""
    last = last_decision(submission)
    query = select(Assessment).where(
        Assessment.submission_id == submission.id, Assessment.assessor_id == assessor_id, Assessment.decision.is_(None)
    )
    if last is not None:
        query = query.where(Assessment.id > last.id)
    return db.session.scalar(query.order_by(Assessment.id.desc()).limit(1))


def starting_values(portfolio: Portfolio, submission: Submission, assessor_id: int) -> tuple[dict[int, Judgement], str]:
    """What the form starts from (judgements, overall feedback): the assessor's draft; for a decision sent
    back, the decision that was sent back; else nothing."""
    source = open_draft(submission, assessor_id)
    if source is None and portfolio.state == workflow.SENT_BACK:
        source = last_decision(submission)
    if source is None:
        return {}, ""
    return {j.criterion_id: Judgement(j.met, j.feedback) for j in source.judgements}, source.summary


def _apply(
    assessment: Assessment, submission: Submission, judgements: Mapping[int, Judgement], summary: str | None
) -> None:
    allowed = set(snap.criterion_ids(submission.snapshot))
    unknown = sorted(set(judgements) - allowed)
    if unknown:
        raise UserError(
            ngettext(
                "Criterion %(ids)s is not part of this submission.",
                "Criteria %(ids)s are not part of this submission.",
                len(unknown),
                ids=", ".join(map(str, unknown)),
            )
        )
    codes = snap.criterion_codes(submission.snapshot)
    orphans = [codes[cid] for cid, j in judgements.items() if j.met is None and j.feedback.strip()]
    if orphans:
        raise UserError(
            gettext(
                "Choose met or not yet met for %(criteria)s before saving feedback for it.", criteria=", ".join(orphans)
            )
        )
    if summary is not None:
        if len(summary) > MAX_TEXT:
            raise UserError("The overall feedback is too long.")
        assessment.summary = summary.strip()
    existing = {j.criterion_id: j for j in assessment.judgements}
    for cid, j in judgements.items():
        if len(j.feedback) > MAX_TEXT:
            raise UserError(gettext("The feedback for %(criterion)s is too long.", criterion=codes[cid]))
        row = existing.get(cid)
        if j.met is None:
            if row is not None:
                assessment.judgements.remove(row)
            continue
        if row is None:
            assessment.judgements.append(CriterionJudgement(criterion_id=cid, met=j.met, feedback=j.feedback.strip()))
        else:
            row.met, row.feedback = j.met, j.feedback.strip()


def save_draft(
    portfolio_id: int, user: LtiUser, judgements: Mapping[int, Judgement], summary: str | None = None
) -> Assessment:
    """Save judgements so far without deciding. The caller commits."""
    portfolio = get_portfolio(portfolio_id, lock=True)
    submission = check_may_assess(portfolio, user)
    assessment = open_draft(submission, user.id)
    if assessment is None:
        assessment = Assessment(submission_id=submission.id, assessor_id=user.id)
        db.session.add(assessment)
    _apply(assessment, submission, judgements, summary)
    db.session.flush()
    return assessment


def prepare_decision(
    portfolio_id: int, user: LtiUser, decision: str, judgements: Mapping[int, Judgement], summary: str | None
) -> Assessment:
    """The step before a decision: save the judgements as the draft and refuse (IncompleteDecision) unless
    `decision` could be made on them, so the confirmation asked for is one that can succeed. The caller commits."""
    if decision not in DECISIONS:
        raise UserError("Choose competent or not yet competent.")
    assessment = save_draft(portfolio_id, user, judgements, summary)
    _check_complete(assessment, latest_submission(get_portfolio(portfolio_id)), decision)
    return assessment


def decide(
    portfolio_id: int,
    user: LtiUser,
    decision: str,
    judgements: Mapping[int, Judgement] | None = None,
    summary: str | None = None,
    *,
    rng: random.Random | None = None,
    declared: bool = False,
) -> Assessment:
    """Record the overall decision and move the portfolio on. The caller commits. `declared`: the assessor
    accepted DECLARATION (the pages require it; recorded in the decision's audit event either way)."""
    if decision not in DECISIONS:
        raise UserError("Choose competent or not yet competent.")
    portfolio = get_portfolio(portfolio_id, lock=True)
    submission = check_may_assess(portfolio, user)
    assessment = open_draft(submission, user.id)
    if assessment is None:
        assessment = Assessment(submission_id=submission.id, assessor_id=user.id)
        db.session.add(assessment)
    _apply(assessment, submission, judgements or {}, summary)
    db.session.flush()
    _check_complete(assessment, submission, decision)

    assessment.decision = decision
    assessment.decided_at = utcnow()
    codes = snap.criterion_codes(submission.snapshot)
    met = [codes[j.criterion_id] for j in assessment.judgements if j.met]
    not_met = [codes[j.criterion_id] for j in assessment.judgements if not j.met]
    details = {
        "assessment_id": assessment.id,
        "submission_id": submission.id,
        "attempt": submission.attempt,
        "decision": decision,
        "criteria_met": met,
        "criteria_not_yet_met": not_met,
        **declaration_details(declared),
    }
    if decision == NOT_YET_COMPETENT:
        workflow.transition(
            portfolio, workflow.REFERRED, duty="assessor", actor=user, rationale=assessment.summary, details=details
        )
        return assessment
    workflow.transition(
        portfolio, workflow.ASSESSED, duty="assessor", actor=user, rationale=assessment.summary, details=details
    )
    _route_to_verification(portfolio, submission, assessment, user, rng or _system_rng)
    return assessment


def _check_complete(assessment: Assessment, submission: Submission, decision: str) -> None:
    by_id = {j.criterion_id: j for j in assessment.judgements}
    codes = snap.criterion_codes(submission.snapshot)
    ids = snap.criterion_ids(submission.snapshot)
    missing_ids = [cid for cid in ids if cid not in by_id]
    if missing_ids:
        missing = [codes[cid] for cid in missing_ids]
        raise IncompleteDecision(
            gettext(
                "Judge every criterion before deciding; not judged yet: %(criteria)s.", criteria=", ".join(missing)
            ),
            missing_ids,
        )
    not_met_ids = [cid for cid in ids if not by_id[cid].met]
    not_met = [codes[cid] for cid in not_met_ids]
    if decision == COMPETENT and not_met:
        raise IncompleteDecision(
            gettext(
                "Competent needs every criterion met; not yet met: %(criteria)s. Decide 'not yet competent' to refer "
                "the portfolio back to the learner with your feedback.",
                criteria=", ".join(not_met),
            ),
            not_met_ids,
        )
    if decision == NOT_YET_COMPETENT:
        if not not_met:
            raise IncompleteDecision(
                "Every criterion is marked met: the decision would be competent. Mark the "
                "criteria that are not yet met, with feedback."
            )
        silent_ids = [cid for cid in ids if not by_id[cid].met and not by_id[cid].feedback.strip()]
        if silent_ids:
            silent = ", ".join(codes[cid] for cid in silent_ids)
            raise IncompleteDecision(
                gettext("Tell the learner what is missing: feedback is needed for %(criteria)s.", criteria=silent),
                silent_ids,
            )


def _route_to_verification(
    portfolio: Portfolio, submission: Submission, assessment: Assessment, user: LtiUser, rng: random.Random
) -> None:
    code = portfolio.certification.code
    picked = sampling.sample(assessment, code, submission.snapshot, rng, assessor_label=user.display_name())
    why = "; ".join(picked.reasons)
    details = {
        "assessment_id": assessment.id,
        "sampling_decision_id": picked.id,
        "sampled": picked.sampled,
        "reasons": picked.reasons,
    }
    if picked.sampled:
        workflow.transition(portfolio, workflow.VERIFICATION_1, duty="system", rationale=why, details=details)
        return
    db.session.add(
        VerificationRecord(
            assessment_id=assessment.id, submission_id=submission.id, step=1, outcome=NOT_SAMPLED, rationale=why
        )
    )
    workflow.transition(portfolio, workflow.VERIFICATION_2, duty="system", rationale=why, details=details)

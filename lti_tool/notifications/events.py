"""Events that notify, heard inside their own transaction (create_app registers these listeners):

- `on_portfolio_transition`: every portfolio state change (portfolio.workflow), per rules.TRANSITION_RULES;
- `on_grade_job_failed`: a grade job that failed for good (grading.worker);
- `on_registration_waiting`: a platform registered itself and waits for activation (launch.dynamic_registration).

The event's ids and words are looked up here; who is told is rules.py's and review.duties' to say.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from lti_tool.grading.models import GradeJob
from lti_tool.grading.worker import error_and_advice
from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser, Registration
from lti_tool.notifications import kinds, links, rules
from lti_tool.notifications.notify import Target, notify
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import appeals, duties
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.assessment_models import Assessment, Award
from lti_tool.portfolio.review.lookup import last_decision
from lti_tool.portfolio.review.verification_models import NOT_SAMPLED, VerificationRecord
from lti_tool.store.db import db, utcnow

MAX_QUOTE = 2000

Refusal = Callable[[int, Iterable[duties.GrantLike], duties.Chain], "str | None"]
_STAFF_AUDIENCES: dict[str, tuple[str, Refusal]] = {
    rules.ASSESSORS: (staff.ASSESSOR, duties.assess_refusal),
    rules.INTERNAL_VERIFIERS: (staff.INTERNAL_VERIFIER, duties.step1_refusal),
    rules.INDEPENDENT_VERIFIERS: (staff.INDEPENDENT_VERIFIER, duties.step2_refusal),
}


def _quote(text: str) -> str:
    text = (text or "").strip() or "—"
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1].rstrip() + "…"


def tool_admin_ids() -> list[int]:
    rows = db.session.scalars(select(staff.StaffGrant).where(staff.StaffGrant.role == staff.TOOL_ADMIN))
    return sorted({g.user_id for g in rows if not staff.is_inert(g)})


def staff_who_may(role: str, refusal: Refusal, chain: duties.Chain) -> list[int]:
    """People holding `role` who may act on the work of `chain` now: its queue shows it to them."""
    holders = select(staff.StaffGrant.user_id).where(staff.StaffGrant.role == role)
    grants: dict[int, list[staff.StaffGrant]] = defaultdict(list)
    for g in db.session.scalars(select(staff.StaffGrant).where(staff.StaffGrant.user_id.in_(holders))):
        if not staff.is_inert(g):
            grants[g.user_id].append(g)
    return sorted(uid for uid, held in grants.items() if refusal(uid, held, chain) is None)


class _Event:
    """What one transition is about: the latest submission, its decision, the appeal, the award..."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.submission: Submission | None = db.session.scalar(
            select(Submission)
            .where(Submission.portfolio_id == portfolio.id)
            .order_by(Submission.attempt.desc())
            .limit(1)
        )
        self.assessment: Assessment | None = last_decision(self.submission) if self.submission else None
        self.appeal: Appeal | None = db.session.scalar(
            select(Appeal).where(Appeal.portfolio_id == portfolio.id).order_by(Appeal.id.desc()).limit(1)
        )
        self.award: Award | None = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
        self.record: VerificationRecord | None = (
            db.session.scalar(
                select(VerificationRecord)
                .where(
                    VerificationRecord.submission_id == self.submission.id, VerificationRecord.outcome != NOT_SAMPLED
                )
                .order_by(VerificationRecord.id.desc())
                .limit(1)
            )
            if self.submission
            else None
        )

    def ids(self) -> dict[str, object]:
        return {
            "portfolio_id": self.portfolio.id,
            "submission_id": self.submission.id if self.submission else "",
            "assessment_id": self.assessment.id if self.assessment else "",
            "appeal_id": self.appeal.id if self.appeal else "",
            "award_id": self.award.id if self.award else "",
            "record_id": self.record.id if self.record else "",
        }

    def params(self, template: str) -> dict[str, Any]:
        """The values `template`'s words are filled with."""
        p = self.portfolio
        cert = p.certification
        out: dict[str, Any] = {
            # A unit-only portfolio is for that unit of the certification: its notices never name the whole.
            "certification": cert.code if p.unit_code is None else f"{cert.code}, unit {p.unit_code}",
            "title": p.awarded_title,
            "learner": p.user.display_name(),
            "attempt": self.submission.attempt if self.submission else 0,
            "date": (self.submission.created_at if self.submission else utcnow()).date(),
        }
        if self.assessment is not None:
            decided = self.assessment.decided_at or utcnow()
            codes = snap.criterion_codes(self.submission.snapshot if self.submission else None)
            not_met = [codes.get(j.criterion_id, str(j.criterion_id)) for j in self.assessment.judgements if not j.met]
            out.update(
                criteria=", ".join(not_met) or "—",
                feedback=_quote(self.assessment.summary),
                deadline=rules.appeal_deadline(decided, appeals.appeal_days()).date(),
            )
        if template.startswith("appeal_") and self.appeal is not None:
            out.update(rationale=_quote(self.appeal.outcome_rationale), date=self.appeal.lodged_at.date())
        if template.startswith("sent_back_") and self.record is not None:
            out["rationale"] = _quote(self.record.rationale)
        if template == "award" and self.award is not None:
            out.update(
                certificate_number=self.award.certificate_number,
                credits=self.award.credits,
                cpd_points=self.award.cpd_points,
                date=self.award.awarded_on,
                verify_url=links.mail_url("verify.certificate", number=self.award.certificate_number),
            )
        return out

    def chain(self) -> duties.Chain:
        if self.submission is None:  # a state set without a submission (never through the services)
            p = self.portfolio
            return duties.Chain(learner_id=p.user_id, partner_id=p.partner_id, certification_code=p.certification.code)
        return duties.load_chain(self.portfolio, self.submission)

    def audience(self, audience: str) -> list[int]:
        if audience == rules.LEARNER:
            return [self.portfolio.user_id]
        if audience == rules.DECISION_ASSESSOR:
            return [self.assessment.assessor_id] if self.assessment else []
        if audience == rules.TOOL_ADMINS:
            return tool_admin_ids()
        role, refusal = _STAFF_AUDIENCES[audience]
        return staff_who_may(role, refusal, self.chain())


def _target(rule: rules.Rule, event: _Event) -> Target:
    values: dict[str, Any] = dict(rule.target_values)
    if rule.target == "learner.overview":
        values["portfolio_id"] = event.portfolio.id
    elif rule.target == "credentials.certificate" and event.award is not None:
        values["number"] = event.award.certificate_number
    return Target(rule.target, values)


def on_portfolio_transition(portfolio: Portfolio, from_state: str, to_state: str) -> None:
    found = rules.for_transition(from_state, to_state)
    if not found:
        return
    db.session.flush()  # the decision, appeal or award written before the transition is read back here
    event = _Event(portfolio)
    ids = event.ids()
    for rule in found:
        people = rules.recipients(event.audience(rule.audience), portfolio.user_id, rule.audience)
        params = event.params(rule.template)
        for user in users_by_id(people):
            notify(
                user,
                rule.kind,
                rule.template,
                params,
                event_key=rules.event_key(rule, ids),
                target=_target(rule, event),
                # A learner enters through the portfolio's placement; staff through their own latest one.
                resource_link_id=portfolio.resource_link_id if rule.audience == rules.LEARNER else None,
            )


def users_by_id(ids: list[int]) -> list[LtiUser]:
    if not ids:
        return []
    by_id = {u.id: u for u in db.session.scalars(select(LtiUser).where(LtiUser.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def on_grade_job_failed(job_id: int) -> None:
    """Tool administrators hear of the first grade job that fails for good on a platform each day."""
    job = db.session.get(GradeJob, job_id)
    if job is None:
        return
    registration = job.resource_link.deployment.registration
    error = error_and_advice(job.last_error)[0]  # the platform's answer: the advice is for the jobs page
    params = {
        "platform": registration.label(),
        "learner": job.user.display_name() if job.user else job.lms_user_id,
        "error": _quote(error)[:800],
    }
    key = f"grade_jobs_failed:{registration.id}:{utcnow().date().isoformat()}"
    for user in users_by_id(tool_admin_ids()):
        notify(
            user,
            kinds.GRADE_JOBS_FAILED,
            "grade_jobs_failed",
            params,
            event_key=key,
            target=Target("grading.jobs_page", {"status": "failed"}),
        )


def on_registration_waiting(registration: Registration) -> None:
    """Tool administrators hear of a platform that registered itself and waits for activation."""
    db.session.flush()
    params = {"platform": registration.label(), "issuer": registration.issuer, "date": utcnow().date()}
    key = f"registration_waiting:{registration.id}:{utcnow().date().isoformat()}"
    for user in users_by_id(tool_admin_ids()):
        notify(
            user,
            kinds.REGISTRATION_WAITING,
            "registration_waiting",
            params,
            event_key=key,
            target=Target("admin.registrations", {}),
        )

"""The kinds of notice: what each is about and whom it is for. A person chooses, kind by kind, whether to hear
about it by e-mail, in the tool only, or not at all (models.CHANNELS)."""

from __future__ import annotations

from dataclasses import dataclass

LEARNERS = "learner"
STAFF = "staff"  # assessors and verifiers
ADMINS = "admin"  # tool administrators

AUDIENCE_LABELS = {
    LEARNERS: "Your portfolios",
    STAFF: "Your work as assessor or verifier",
    ADMINS: "Tool administration",
}

# Learners
SUBMISSION_RECEIVED = "submission_received"
DECISION = "decision"
AWARD = "award"
APPEAL_RECEIVED = "appeal_received"
APPEAL_DECIDED = "appeal_decided"
APPEAL_DEADLINE = "appeal_deadline"
# Assessors and verifiers
NEW_WORK = "new_work"
DECISION_SENT_BACK = "decision_sent_back"
APPEAL_REASSESS = "appeal_reassess"
VERIFICATION_WAITING = "verification_waiting"
# Tool administrators
APPEAL_WAITING = "appeal_waiting"
GRADE_JOBS_FAILED = "grade_jobs_failed"
REGISTRATION_WAITING = "registration_waiting"
WORK_OVERDUE = "work_overdue"


@dataclass(frozen=True)
class Kind:
    name: str
    audience: str
    label: str  # on the preferences page: "Tell me when ..."


KINDS: tuple[Kind, ...] = (
    Kind(SUBMISSION_RECEIVED, LEARNERS, "my portfolio has been received for assessment"),
    Kind(DECISION, LEARNERS, "my assessor has decided (what to do next, and until when I can appeal)"),
    Kind(AWARD, LEARNERS, "I am awarded a certification (with my certificate)"),
    Kind(APPEAL_RECEIVED, LEARNERS, "my appeal has been received"),
    Kind(APPEAL_DECIDED, LEARNERS, "my appeal has been decided"),
    Kind(APPEAL_DEADLINE, LEARNERS, "my time to appeal is running out"),
    Kind(NEW_WORK, STAFF, "a portfolio is waiting for assessment in my queue"),
    Kind(DECISION_SENT_BACK, STAFF, "a verifier sends one of my decisions back to me"),
    Kind(APPEAL_REASSESS, STAFF, "an upheld appeal is waiting to be assessed afresh"),
    Kind(VERIFICATION_WAITING, STAFF, "a decision is waiting for my verification step"),
    Kind(APPEAL_WAITING, ADMINS, "a learner appeals and the appeal needs someone to decide it"),
    Kind(GRADE_JOBS_FAILED, ADMINS, "grades could not be sent to a platform"),
    Kind(REGISTRATION_WAITING, ADMINS, "a platform registered itself and waits for activation"),
    Kind(WORK_OVERDUE, ADMINS, "work has waited past its service level"),
)
BY_NAME = {k.name: k for k in KINDS}
# Unsubscribing from every kind at once (the unsubscribe link of a digest).
ALL = "*"

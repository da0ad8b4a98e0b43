"""Who is told what: plain functions over plain values, tested without a database or a request
(tests/test_notification_rules.py). `events` and `scan` look up the people and values and call these.

For each portfolio transition, the notices it gives (`for_transition`):

| Transition | Who | Kind (template) |
| --- | --- | --- |
| draft/referred -> submitted | the learner; assessors it waits for | submission received; new work |
| submitted/sent back -> assessed | the learner | decision (competent, now in verification) |
| submitted/sent back -> referred | the learner | decision (not yet competent: what to do, appeal deadline) |
| assessed -> verification 1 | internal verifiers it waits for | verification waiting (step 1) |
| assessed/verification 1 -> verification 2 | independent verifiers it waits for | verification waiting (step 2) |
| verification 1/2 -> sent back | the assessor of the decision | decision sent back (step 1: sampled, disagreed) |
| verification 2 -> awarded | the learner | award (certificate) |
| referred -> appealed | the learner; tool administrators | appeal received; appeal waiting |
| appealed -> submitted | the learner; assessors who may assess it afresh | appeal decided (upheld); re-assess |
| appealed -> referred | the learner | appeal decided (dismissed) |

"Assessors/verifiers it waits for" are the people whose queue shows it: a grant covering the learner's partner
and certification, and no other part in the submission's decisions (review.duties). Nobody is told about their
own portfolio as staff. Each notice has an event key: the same event never tells the same person twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lti_tool.notifications import kinds as k
from lti_tool.notifications.models import EMAIL, IN_TOOL, MAIL_DIGEST, MAIL_NONE, MAIL_QUEUED, OFF
from lti_tool.portfolio import workflow as wf

# Audiences: resolved to people by events.py.
LEARNER = "learner"
ASSESSORS = "assessors"  # may assess it now (review.duties.assess_refusal)
DECISION_ASSESSOR = "decision_assessor"  # the assessor whose decision it is
INTERNAL_VERIFIERS = "internal_verifiers"  # may verify it at step 1
INDEPENDENT_VERIFIERS = "independent_verifiers"  # may verify it at step 2
TOOL_ADMINS = "tool_admins"


@dataclass(frozen=True)
class Rule:
    audience: str
    kind: str  # the preference kind (kinds.py)
    template: str  # the words (messages.py)
    key: str  # event key, filled from the event's ids: the same key never notifies the same person twice
    target: str  # the endpoint the notice leads to in the tool
    target_values: tuple[tuple[str, str], ...] = ()  # fixed values for it; ids come from the event


def _learner(kind: str, template: str, key: str, target: str = "learner.overview") -> Rule:
    return Rule(LEARNER, kind, template, key, target)


def _queue(audience: str, kind: str, template: str, key: str, queue: str) -> Rule:
    return Rule(audience, kind, template, key, "staff_work.queue", (("name", queue),))


SUBMITTED_FROM_LEARNER = (
    _learner(k.SUBMISSION_RECEIVED, "submission_received", "submitted:{submission_id}"),
    _queue(ASSESSORS, k.NEW_WORK, "new_work", "new_work:{submission_id}", "assessment"),
)

TRANSITION_RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    (wf.DRAFT, wf.SUBMITTED): SUBMITTED_FROM_LEARNER,
    (wf.REFERRED, wf.SUBMITTED): SUBMITTED_FROM_LEARNER,
    # A decision sent back and decided competent again is still the same news for the learner: once per attempt.
    (wf.SUBMITTED, wf.ASSESSED): (_learner(k.DECISION, "decision_competent", "competent:{submission_id}"),),
    (wf.SENT_BACK, wf.ASSESSED): (_learner(k.DECISION, "decision_competent", "competent:{submission_id}"),),
    (wf.SUBMITTED, wf.REFERRED): (_learner(k.DECISION, "decision_not_yet", "decision:{assessment_id}"),),
    (wf.SENT_BACK, wf.REFERRED): (_learner(k.DECISION, "decision_not_yet", "decision:{assessment_id}"),),
    (wf.ASSESSED, wf.VERIFICATION_1): (
        _queue(
            INTERNAL_VERIFIERS,
            k.VERIFICATION_WAITING,
            "verification_step1",
            "verify1:{assessment_id}",
            "verification_1",
        ),
    ),
    (wf.ASSESSED, wf.VERIFICATION_2): (
        _queue(
            INDEPENDENT_VERIFIERS,
            k.VERIFICATION_WAITING,
            "verification_step2",
            "verify2:{assessment_id}",
            "verification_2",
        ),
    ),
    (wf.VERIFICATION_1, wf.VERIFICATION_2): (
        _queue(
            INDEPENDENT_VERIFIERS,
            k.VERIFICATION_WAITING,
            "verification_step2",
            "verify2:{assessment_id}",
            "verification_2",
        ),
    ),
    (wf.VERIFICATION_1, wf.SENT_BACK): (
        _queue(DECISION_ASSESSOR, k.DECISION_SENT_BACK, "sent_back_step1", "sent_back:{record_id}", "sent_back"),
    ),
    (wf.VERIFICATION_2, wf.SENT_BACK): (
        _queue(DECISION_ASSESSOR, k.DECISION_SENT_BACK, "sent_back_step2", "sent_back:{record_id}", "sent_back"),
    ),
    (wf.VERIFICATION_2, wf.AWARDED): (_learner(k.AWARD, "award", "award:{award_id}", "credentials.certificate"),),
    (wf.REFERRED, wf.APPEALED): (
        _learner(k.APPEAL_RECEIVED, "appeal_received", "appeal:{appeal_id}"),
        _queue(TOOL_ADMINS, k.APPEAL_WAITING, "appeal_waiting", "appeal_waiting:{appeal_id}", "appeals"),
    ),
    (wf.APPEALED, wf.SUBMITTED): (
        _learner(k.APPEAL_DECIDED, "appeal_upheld", "appeal_decided:{appeal_id}"),
        _queue(ASSESSORS, k.APPEAL_REASSESS, "appeal_reassess", "reassess:{appeal_id}", "assessment"),
    ),
    (wf.APPEALED, wf.REFERRED): (_learner(k.APPEAL_DECIDED, "appeal_dismissed", "appeal_decided:{appeal_id}"),),
}


def for_transition(from_state: str, to_state: str) -> tuple[Rule, ...]:
    """The notices a portfolio's move from `from_state` to `to_state` gives (none for most internal moves)."""
    return TRANSITION_RULES.get((from_state, to_state), ())


def event_key(rule: Rule, ids: Mapping[str, object]) -> str:
    return rule.key.format_map(ids)


def recipients(audience_ids: Iterable[int], learner_id: int | None, audience: str) -> list[int]:
    """The people of a staff audience, in order, without the learner (nobody is told about their own work as
    staff) and without repeats."""
    out = []
    for user_id in audience_ids:
        if audience != LEARNER and user_id == learner_id:
            continue
        if user_id not in out:
            out.append(user_id)
    return out


def mail_state(channel: str, *, has_address: bool, mail_service: bool, digest: bool) -> str | None:
    """What happens to a notice's e-mail: None (no notice at all: the person turned the kind off), or one of
    models.MAIL_*: queued now, kept for the daily digest, or none (in the tool only)."""
    if channel == OFF:
        return None
    if channel == IN_TOOL or not has_address or not mail_service:
        return MAIL_NONE
    assert channel == EMAIL, channel
    return MAIL_DIGEST if digest else MAIL_QUEUED


def appeal_deadline(decided_at: dt.datetime, appeal_days: int) -> dt.datetime:
    """When the period to appeal a decision ends (portfolio.review.appeals.appeal_window says the same)."""
    return decided_at + dt.timedelta(days=appeal_days)


def appeal_reminder_due(decided_at: dt.datetime, now: dt.datetime, appeal_days: int, reminder_days: int) -> bool:
    """Whether a learner who has not appealed should now be reminded: within `reminder_days` of the end of
    the period, and before it ends."""
    deadline = appeal_deadline(decided_at, appeal_days)
    return deadline - dt.timedelta(days=reminder_days) <= now < deadline


def appeal_reminder_window(now: dt.datetime, appeal_days: int, reminder_days: int) -> tuple[dt.datetime, dt.datetime]:
    """The decisions (by when they were made) whose learners are due a reminder now: (earliest, latest]."""
    return now - dt.timedelta(days=appeal_days), now - dt.timedelta(days=appeal_days - reminder_days)


def digest_due(last_sent: dt.datetime | None, now: dt.datetime, wants_digest: bool) -> bool:
    """A digest goes out at most once a day; notices kept for one go at once when the person stopped wanting
    digests."""
    if not wants_digest:
        return True
    # A little under a day, so that a scan running every few minutes keeps the time of day steady.
    return last_sent is None or now - last_sent >= dt.timedelta(hours=23, minutes=45)


@dataclass(frozen=True)
class Overdue:
    queue_title: str
    count: int
    oldest_days: int


def overdue_summary(rows: Iterable[Overdue]) -> tuple[int, str, int]:
    """(how many items, "Awaiting assessment: 3; ...", the oldest's days) over the queues that have any."""
    rows = [r for r in rows if r.count]
    total = sum(r.count for r in rows)
    summary = "; ".join(f"{r.queue_title}: {r.count}" for r in rows)
    return total, summary, max((r.oldest_days for r in rows), default=0)

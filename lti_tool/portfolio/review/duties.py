"""Separation of duties: who may assess, verify and hear appeals on one submission.

The rules, in plain functions over plain data (tested without a database or request):
- Nobody acts on their own portfolio.
- Every duty needs a staff grant that covers the work's partner and certification.
- On one submission's decision chain each person acts in one capacity only (assessor, internal verifier,
  independent verifier, appeal decider). They may act again in that capacity (the assessor re-assesses a
  decision sent back to them), but nobody verifies a decision they took part in, and nobody assesses what
  they verified.
- The independent verifier (step 2) is not attached to the learner's partner.
- After an upheld appeal the submission is re-assessed by someone who has not assessed it before.
- An appeal is heard by a tool administrator or staff member in scope who took no part in the chain.

Each `*_refusal` function returns None when the person may act, else the reason in words people read.
The services call them before every decision; queues and pages call the same functions to decide what
to show, so hiding a button is never the only protection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flask_babel import gettext
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.appeal_models import UPHELD, Appeal
from lti_tool.portfolio.review.assessment_models import Assessment
from lti_tool.portfolio.review.verification_models import NOT_SAMPLED, VerificationRecord
from lti_tool.store.db import db
from lti_tool.web.errors import N_, NotAllowed

ASSESSOR_CAPACITY = "assessor"
STEP1_CAPACITY = "internal verifier"
STEP2_CAPACITY = "independent verifier"
APPEAL_CAPACITY = "appeal decider"
# The capacities as a refusal names them, inside a sentence.
CAPACITY_LABELS = {
    ASSESSOR_CAPACITY: N_("assessor"),
    STEP1_CAPACITY: N_("internal verifier"),
    STEP2_CAPACITY: N_("independent verifier"),
    APPEAL_CAPACITY: N_("appeal decider"),
}


class GrantLike(Protocol):
    role: str
    partner_id: int | None
    certification_code: str | None
    home_partner_id: int | None


@dataclass(frozen=True)
class Chain:
    """Who did what on one submission: its assessments, verifications and appeals."""

    learner_id: int
    partner_id: int | None
    certification_code: str
    assessor_ids: frozenset[int] = frozenset()
    step1_verifier_ids: frozenset[int] = frozenset()
    step2_verifier_ids: frozenset[int] = frozenset()
    appeal_decider_ids: frozenset[int] = frozenset()
    # Assessors who decided before an upheld appeal: the re-assessment must be someone else's.
    barred_assessor_ids: frozenset[int] = field(default=frozenset())

    def capacities(self, user_id: int) -> list[str]:
        found = []
        for name, ids in (
            (ASSESSOR_CAPACITY, self.assessor_ids),
            (STEP1_CAPACITY, self.step1_verifier_ids),
            (STEP2_CAPACITY, self.step2_verifier_ids),
            (APPEAL_CAPACITY, self.appeal_decider_ids),
        ):
            if user_id in ids:
                found.append(name)
        return found

    def involved(self, user_id: int) -> bool:
        return bool(self.capacities(user_id))


def covers(grants: Iterable[GrantLike], role: str, chain: Chain) -> bool:
    return any(
        staff.grant_covers_work(g, role, chain.partner_id, chain.certification_code)  # type: ignore[arg-type]
        for g in grants
    )


def _scope_refusal(grants: Iterable[GrantLike], role: str, chain: Chain) -> str | None:
    grants = list(grants)
    if covers(grants, role, chain):
        return None
    name = gettext(staff.STAFF_ROLES[role]).lower()
    if not any(g.role == role for g in grants):
        return gettext("This needs the %(role)s role, which you do not hold.", role=name)
    return gettext(
        "Your %(role)s role does not cover this learner's partner and certification (%(code)s).",
        role=name,
        code=chain.certification_code,
    )


def _own_refusal(user_id: int, chain: Chain) -> str | None:
    return gettext("This is your own portfolio: someone else must judge it.") if user_id == chain.learner_id else None


def _capacity(name: str) -> str:
    return gettext(CAPACITY_LABELS[name]) if name in CAPACITY_LABELS else name


def _other_capacity_refusal(user_id: int, chain: Chain, own: str) -> str | None:
    others = [c for c in chain.capacities(user_id) if c != own]
    if not others:
        return None
    return gettext(
        "You already took part in this submission's decisions as %(other)s; someone else must act as %(own)s.",
        other=_capacity(others[0]),
        own=_capacity(own),
    )


def assess_refusal(user_id: int, grants: Iterable[GrantLike], chain: Chain) -> str | None:
    grants = list(grants)
    return (
        _own_refusal(user_id, chain)
        or _scope_refusal(grants, staff.ASSESSOR, chain)
        or _other_capacity_refusal(user_id, chain, ASSESSOR_CAPACITY)
        or (
            gettext(
                "This submission's appeal was upheld: it must be re-assessed by an assessor who has not assessed it "
                "before."
            )
            if user_id in chain.barred_assessor_ids
            else None
        )
    )


def step1_refusal(user_id: int, grants: Iterable[GrantLike], chain: Chain) -> str | None:
    grants = list(grants)
    return (
        _own_refusal(user_id, chain)
        or _scope_refusal(grants, staff.INTERNAL_VERIFIER, chain)
        or _other_capacity_refusal(user_id, chain, STEP1_CAPACITY)
    )


def step2_refusal(user_id: int, grants: Iterable[GrantLike], chain: Chain) -> str | None:
    grants = list(grants)
    refusal = (
        _own_refusal(user_id, chain)
        or _scope_refusal(grants, staff.INDEPENDENT_VERIFIER, chain)
        or _other_capacity_refusal(user_id, chain, STEP2_CAPACITY)
    )
    if refusal:
        return refusal
    if chain.partner_id is not None and any(g.home_partner_id == chain.partner_id for g in grants):
        return gettext(
            "You are attached to this learner's partner; independent verification must come from someone outside it."
        )
    return None


def _appeal_scope_refusal(grants: list[GrantLike], chain: Chain) -> str | None:
    in_scope = any(g.role == staff.TOOL_ADMIN for g in grants) or any(
        covers(grants, role, chain) for role in (staff.ASSESSOR, staff.INTERNAL_VERIFIER, staff.INDEPENDENT_VERIFIER)
    )
    if not in_scope:
        return gettext(
            "Appeals are decided by a tool administrator or by staff whose role covers this learner's partner."
        )
    return None


def appeal_refusal(user_id: int, grants: Iterable[GrantLike], chain: Chain) -> str | None:
    grants = list(grants)
    own = _own_refusal(user_id, chain) or _appeal_scope_refusal(grants, chain)
    if own:
        return own
    others = [c for c in chain.capacities(user_id) if c != APPEAL_CAPACITY]
    if others:
        return gettext(
            "You took part in the decision appealed (as %(capacity)s); someone not involved must decide.",
            capacity=_capacity(others[0]),
        )
    return None


def require(refusal: str | None) -> None:
    """Raise the refusal as a 403 the person can read."""
    if refusal:
        raise NotAllowed(refusal, hint="Another member of staff whose role covers this work can take it.")


def standing_refusal(user_id: int, grants: Iterable[GrantLike], duty: str, portfolio: Portfolio) -> str | None:
    """Whether this person could ever do `duty` (a staff role, or APPEAL_CAPACITY) on this portfolio: it is
    not their own, and a grant of theirs covers its partner and certification.

    The services check it before the portfolio's state, so that someone who may never act on it is refused
    for that and learns nothing of its state (a 409 'not waiting for assessment' would tell them).
    """
    grants = list(grants)
    chain = Chain(
        learner_id=portfolio.user_id, partner_id=portfolio.partner_id, certification_code=portfolio.certification.code
    )
    if duty == APPEAL_CAPACITY:
        return _own_refusal(user_id, chain) or _appeal_scope_refusal(grants, chain)
    return _own_refusal(user_id, chain) or _scope_refusal(grants, duty, chain)


def load_chain(portfolio: Portfolio, submission: Submission) -> Chain:
    """Read who did what on `submission` from the stored decisions."""
    return load_chains([(portfolio, submission)])[submission.id]


def load_chains(pairs: Sequence[tuple[Portfolio, Submission]]) -> dict[int, Chain]:
    """load_chain for many submissions at once (a queue page): three queries whatever their number.
    Keyed by submission id."""
    ids = [s.id for _, s in pairs]
    decided: dict[int, list[Assessment]] = defaultdict(list)
    records: dict[int, list[VerificationRecord]] = defaultdict(list)
    appeals: dict[int, list[Appeal]] = defaultdict(list)
    if ids:
        for a in db.session.scalars(
            select(Assessment)
            .where(Assessment.submission_id.in_(ids), Assessment.decision.is_not(None))
            .order_by(Assessment.id)
        ):
            decided[a.submission_id].append(a)
        for r in db.session.scalars(
            select(VerificationRecord).where(
                VerificationRecord.submission_id.in_(ids), VerificationRecord.outcome != NOT_SAMPLED
            )
        ):
            records[r.submission_id].append(r)
        for ap in db.session.scalars(select(Appeal).where(Appeal.submission_id.in_(ids))):
            appeals[ap.submission_id].append(ap)
    return {
        submission.id: _chain(portfolio, decided[submission.id], records[submission.id], appeals[submission.id])
        for portfolio, submission in pairs
    }


def _chain(
    portfolio: Portfolio, decided: list[Assessment], records: list[VerificationRecord], appeals: list[Appeal]
) -> Chain:
    barred: set[int] = set()
    upheld = [a for a in appeals if a.status == UPHELD]
    if upheld:
        last_upheld = max(a.assessment_id for a in upheld)
        barred = {a.assessor_id for a in decided if a.id <= last_upheld}
    return Chain(
        learner_id=portfolio.user_id,
        partner_id=portfolio.partner_id,
        certification_code=portfolio.certification.code,
        assessor_ids=frozenset(a.assessor_id for a in decided),
        step1_verifier_ids=frozenset(r.verifier_id for r in records if r.step == 1 and r.verifier_id),
        step2_verifier_ids=frozenset(r.verifier_id for r in records if r.step == 2 and r.verifier_id),
        appeal_decider_ids=frozenset(a.decided_by_id for a in appeals if a.decided_by_id),
        barred_assessor_ids=frozenset(barred),
    )

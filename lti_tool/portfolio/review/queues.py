"""Staff work queues: what waits for this person, oldest first, within their grants and duties.

The database selects, counts and pages the work: by state, filters, grant scope and the separation-of-duties
rules of duties.py written as SQL over each portfolio's latest submission, so a page costs the same few
statements however long the queue. The rules themselves (the same functions the services enforce) still
judge every item shown; tests/test_staff_queues.py checks that the SQL and the rules agree.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased, contains_eager, defer, joinedload

from lti_tool.audit import trail as audit
from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import duties
from lti_tool.portfolio.review.appeal_models import UPHELD, Appeal
from lti_tool.portfolio.review.assessment_models import Assessment, Award
from lti_tool.portfolio.review.claim_models import StaffCaseload, WorkClaim
from lti_tool.portfolio.review.lookup import get_portfolio, latest_submission
from lti_tool.portfolio.review.verification_models import NOT_SAMPLED, VerificationRecord
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import N_, NotAllowed, NotFound, UserError

Refusal = Callable[[int, Iterable[duties.GrantLike], duties.Chain], "str | None"]
PER_PAGE = 50
COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Queue:
    name: str
    title: str
    state: str
    roles: tuple[str, ...]  # grants that can make an item visible
    refusal: Refusal
    action: str  # the staff page endpoint that acts on an item


QUEUES: tuple[Queue, ...] = (
    Queue(
        "assessment",
        N_("Awaiting assessment"),
        workflow.SUBMITTED,
        (staff.ASSESSOR,),
        duties.assess_refusal,
        "staff_work.assess",
    ),
    Queue(
        "sent_back",
        N_("Sent back to the assessor"),
        workflow.SENT_BACK,
        (staff.ASSESSOR,),
        duties.assess_refusal,
        "staff_work.assess",
    ),
    Queue(
        "verification_1",
        N_("Awaiting internal verification (step 1)"),
        workflow.VERIFICATION_1,
        (staff.INTERNAL_VERIFIER,),
        duties.step1_refusal,
        "staff_work.verify",
    ),
    Queue(
        "verification_2",
        N_("Awaiting independent verification (step 2)"),
        workflow.VERIFICATION_2,
        (staff.INDEPENDENT_VERIFIER,),
        duties.step2_refusal,
        "staff_work.verify",
    ),
    Queue(
        "appeals",
        N_("Appeals to decide"),
        workflow.APPEALED,
        (staff.TOOL_ADMIN, staff.ASSESSOR, staff.INTERNAL_VERIFIER, staff.INDEPENDENT_VERIFIER),
        duties.appeal_refusal,
        "staff_work.appeal",
    ),
)
BY_NAME = {q.name: q for q in QUEUES}


@dataclass(frozen=True)
class Filters:
    certification_code: str | None = None
    partner_id: int | None = None
    search: str | None = None  # part of the learner's name or e-mail, or a whole certificate number
    claimed: str | None = None  # CLAIMED_BY_ME, UNCLAIMED or None (either)
    overdue_days: int | None = None  # only items waiting longer than this many days (the service level)


CLAIMED_BY_ME = "me"
UNCLAIMED = "none"
CLAIM_FILTERS = {CLAIMED_BY_ME: "Claimed by me", UNCLAIMED: "Not claimed by anyone"}


MAX_SEARCH = 100


@dataclass(frozen=True)
class Item:
    portfolio: Portfolio
    submission: Submission | None
    waiting_since: dt.datetime
    drafts_by: tuple[str, ...] = ()  # assessors with a draft in progress (so two do not do the same work)
    claim: WorkClaim | None = None  # who has taken it, while it waits in this state

    @property
    def waiting_days(self) -> int:
        return (utcnow() - self.waiting_since).days

    def overdue(self, service_level_days: int) -> bool:
        return self.waiting_days > service_level_days


@dataclass(frozen=True)
class Page:
    items: list[Item]
    total: int  # what waits for this person here, counted up to COUNT_LIMIT + 1 (see count)
    number: int
    per_page: int
    has_next: bool

    @property
    def total_known(self) -> bool:
        return self.total <= COUNT_LIMIT

    @property
    def total_label(self) -> str:
        return count_label(self.total)

    @property
    def pages(self) -> int | None:
        """How many pages there are, when the total is known."""
        return max(1, math.ceil(self.total / self.per_page)) if self.total_known else None

    @property
    def first(self) -> int:
        """1-based position of the first item shown (0 when there is none)."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def count_label(counted: int) -> str:
    """A count as people read it: exact up to COUNT_LIMIT, then "1000+"."""
    return str(counted) if counted <= COUNT_LIMIT else f"{COUNT_LIMIT}+"


def _scope_condition(grants: list[staff.StaffGrant], roles: tuple[str, ...]) -> ColumnElement[bool]:
    conditions = []
    for g in grants:
        if g.role not in roles:
            continue
        if g.role == staff.TOOL_ADMIN:
            return true()
        parts = []
        if g.partner_id is not None:
            parts.append(Portfolio.partner_id == g.partner_id)
        if g.certification_code:
            parts.append(Certification.code == g.certification_code)
        conditions.append(and_(*parts) if parts else true())
    return or_(*conditions) if conditions else false()


# --- the separation-of-duties rules over the latest submission, in SQL ---------------------------------
# Each condition is an EXISTS driven by this person's own records (their decisions, verifications, appeals
# heard): PostgreSQL hashes those few rows once and anti-joins the queue against them, instead of looking up
# every waiting portfolio's latest submission. The person is a bound parameter, so the conditions are built
# once per process (building them costs more than running them).
ME = "queue_user_id"


def _is_latest(s: type[Submission]) -> ColumnElement[bool]:
    later = aliased(Submission, name="later")
    return ~exists().where(later.portfolio_id == s.portfolio_id, later.attempt > s.attempt)


def _on_latest_submission(
    submission_id: SQLColumnExpression[int], *conditions: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Some row about the portfolio's latest submission meets `conditions`."""
    s = aliased(Submission, name="chain_submission")
    return exists().where(s.id == submission_id, s.portfolio_id == Portfolio.id, _is_latest(s), *conditions)


def _acted_as(capacity: str) -> ColumnElement[bool]:
    """The person took part in the latest submission's chain in this capacity (as duties.Chain reads it)."""
    me = bindparam(ME, type_=Integer)
    if capacity == duties.ASSESSOR_CAPACITY:
        return _on_latest_submission(
            Assessment.submission_id, Assessment.assessor_id == me, Assessment.decision.is_not(None)
        )
    if capacity in (duties.STEP1_CAPACITY, duties.STEP2_CAPACITY):
        step = 1 if capacity == duties.STEP1_CAPACITY else 2
        return _on_latest_submission(
            VerificationRecord.submission_id,
            VerificationRecord.verifier_id == me,
            VerificationRecord.step == step,
            VerificationRecord.outcome != NOT_SAMPLED,
        )
    return _on_latest_submission(Appeal.submission_id, Appeal.decided_by_id == me)


def _barred() -> ColumnElement[bool]:
    """duties.Chain.barred_assessor_ids: decided the latest submission at or before the decision of an upheld
    appeal."""
    return _on_latest_submission(
        Appeal.submission_id,
        Appeal.status == UPHELD,
        Assessment.submission_id == Appeal.submission_id,
        Assessment.assessor_id == bindparam(ME, type_=Integer),
        Assessment.decision.is_not(None),
        Assessment.id <= Appeal.assessment_id,
    )


# The capacities that keep someone from each duty (duties.*_refusal: "_other_capacity_refusal").
_OTHER_CAPACITIES: dict[Refusal, tuple[str, ...]] = {
    duties.assess_refusal: (duties.STEP1_CAPACITY, duties.STEP2_CAPACITY, duties.APPEAL_CAPACITY),
    duties.step1_refusal: (duties.ASSESSOR_CAPACITY, duties.STEP2_CAPACITY, duties.APPEAL_CAPACITY),
    duties.step2_refusal: (duties.ASSESSOR_CAPACITY, duties.STEP1_CAPACITY, duties.APPEAL_CAPACITY),
    duties.appeal_refusal: (duties.ASSESSOR_CAPACITY, duties.STEP1_CAPACITY, duties.STEP2_CAPACITY),
}


@functools.cache
def _duty_rules(refusal: Refusal) -> ColumnElement[bool]:
    """What queue.refusal says apart from scope: not their own work, no other capacity in the chain, and for
    assessors not barred by an upheld appeal."""
    conditions = [Portfolio.user_id != bindparam(ME, type_=Integer)]
    conditions += [not_(_acted_as(c)) for c in _OTHER_CAPACITIES[refusal]]
    if refusal is duties.assess_refusal:
        conditions.append(not_(_barred()))
    return and_(*conditions)


@functools.cache
def _latest_join() -> tuple[type[Submission], ColumnElement[bool]]:
    s = aliased(Submission, name="latest")
    return s, and_(s.portfolio_id == Portfolio.id, _is_latest(s))


def _waiting(
    queue: Queue,
    filters: Filters,
    grants: list[staff.StaffGrant],
    *columns: SQLColumnExpression[Any] | type[Any],
    oversee: bool = False,
) -> Select:
    """The queue's items for the person whose grants these are (bind ME to their id when executing); with
    `oversee` (tool administrators allocating work) every item in the queue's state."""
    # Every portfolio in these states has been submitted (only a submission leads to them), so the count
    # need not look for its submission; the page joins the latest one to show it.
    query = (
        select(*columns)
        .select_from(Portfolio)
        .join(Certification, Portfolio.certification_id == Certification.id)
        .where(Portfolio.state == queue.state)
    )
    if oversee:
        query = query.where(bindparam(ME, type_=Integer).is_not(None))  # ME is bound either way
    else:
        query = query.where(_scope_condition(grants, queue.roles), _duty_rules(queue.refusal))
    if queue.refusal is duties.step2_refusal and not oversee:
        # Independent verifiers never verify the learners of a partner they belong to.
        homes = sorted({g.home_partner_id for g in grants if g.home_partner_id is not None})
        if homes:
            query = query.where(or_(Portfolio.partner_id.is_(None), Portfolio.partner_id.not_in(homes)))
    if filters.certification_code:
        query = query.where(Certification.code == filters.certification_code)
    if filters.partner_id is not None:
        query = query.where(Portfolio.partner_id == filters.partner_id)
    if filters.search:
        query = query.where(_search_condition(filters.search))
    if filters.claimed == CLAIMED_BY_ME:
        query = query.where(_held(mine=True))
    elif filters.claimed == UNCLAIMED:
        query = query.where(~_held())
    if filters.overdue_days is not None:
        # Overdue as Item.overdue says: more than the service level's whole days.
        query = query.where(Portfolio.state_changed_at <= utcnow() - dt.timedelta(days=filters.overdue_days + 1))
    return query


def _held(*, mine: bool = False) -> ColumnElement[bool]:
    """Someone (with `mine`, this person) holds a claim on the portfolio in its present state (_holds, in SQL)."""
    conditions = [
        WorkClaim.portfolio_id == Portfolio.id,
        WorkClaim.state == Portfolio.state,
        WorkClaim.claimed_at >= Portfolio.state_changed_at,
    ]
    if mine:
        conditions.append(WorkClaim.user_id == bindparam(ME, type_=Integer))
    return exists().where(*conditions)


def _search_condition(text: str) -> ColumnElement[bool]:
    """The learner's name (as the LMS sent it, or given + family name) or e-mail contains the text, or the
    text is the portfolio's certificate number (case and surrounding spaces ignored)."""
    needle = " ".join(text.split())[:MAX_SEARCH].lower()
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    learner = aliased(LtiUser, name="learner")
    full_name = func.lower(learner.given_name + " " + learner.family_name)
    by_name = exists().where(
        learner.id == Portfolio.user_id,
        or_(
            func.lower(learner.name).like(pattern, escape="\\"),
            full_name.like(pattern, escape="\\"),
            func.lower(learner.email).like(pattern, escape="\\"),
        ),
    )
    by_number = exists().where(Award.portfolio_id == Portfolio.id, func.lower(Award.certificate_number) == needle)
    return or_(by_name, by_number)


def count(
    user_id: int,
    queue: Queue,
    filters: Filters = Filters(),
    grants: list[staff.StaffGrant] | None = None,
    *,
    exact: bool = False,
    oversee: bool = False,
) -> int:
    """How many items wait for this person, counted up to COUNT_LIMIT + 1 (more reads "1000+", see
    count_label) unless `exact`. Counting every item of a queue tens of thousands long would cost more than
    the page it is shown on, and grow with it; nobody works through more than a thousand items from one count."""
    grants = staff.grants_for(user_id) if grants is None else grants
    query = _waiting(queue, filters, grants, Portfolio.id, oversee=oversee)
    if not exact:
        query = query.limit(COUNT_LIMIT + 1)
    return db.session.scalar(select(func.count()).select_from(query.subquery()), {ME: user_id}) or 0


def page(
    user_id: int,
    queue: Queue,
    filters: Filters = Filters(),
    number: int = 1,
    per_page: int | None = None,
    *,
    oversee: bool = False,
) -> Page:
    """One page of the queue: this person's own caseload (what they hold) first, then oldest first (PER_PAGE
    items unless told). A number past the end gives the
    last page when the total is known (up to COUNT_LIMIT items), else an empty page. `oversee`: every item
    in the queue's state (tool administrators allocating work; the caller checks who may)."""
    per_page = per_page or PER_PAGE
    grants = staff.grants_for(user_id)
    total = count(user_id, queue, filters, grants, oversee=oversee)
    number = max(1, number)
    if total <= COUNT_LIMIT:
        number = min(number, max(1, math.ceil(total / per_page)))
    s, latest = _latest_join()
    query = (
        _waiting(queue, filters, grants, Portfolio, s, oversee=oversee)
        .join(s, latest)
        .options(
            contains_eager(Portfolio.certification),
            joinedload(Portfolio.user),
            joinedload(Portfolio.partner),
            defer(s.snapshot),
        )
        .order_by(case((_held(mine=True), 0), else_=1), Portfolio.state_changed_at, Portfolio.id)
        .limit(per_page + 1)
        .offset((number - 1) * per_page)
    )  # one more: is there a next page?
    rows = [(p, sub) for p, sub in db.session.execute(query, {ME: user_id})]
    has_next, rows = len(rows) > per_page, rows[:per_page]
    chains = duties.load_chains(rows)
    drafts = _drafts_by([sub.id for _, sub in rows]) if queue.state in (workflow.SUBMITTED, workflow.SENT_BACK) else {}
    claims = _claims([p for p, _ in rows])
    out = [
        Item(p, sub, p.state_changed_at, drafts.get(sub.id, ()), claims.get(p.id))
        for p, sub in rows
        # The rules have the last word on every item shown (the SQL above only narrows).
        if oversee or queue.refusal(user_id, grants, chains[sub.id]) is None
    ]
    return Page(out, total, number, per_page, has_next)


def _drafts_by(submission_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Assessors with a draft on each submission, started after its last decision (one query)."""
    if not submission_ids:
        return {}
    decided = aliased(Assessment)
    last_decision = (
        select(func.max(decided.id))
        .where(decided.submission_id == Assessment.submission_id, decided.decision.is_not(None))
        .scalar_subquery()
    )
    query = (
        select(Assessment)
        .options(joinedload(Assessment.assessor))
        .where(
            Assessment.submission_id.in_(submission_ids),
            Assessment.decision.is_(None),
            Assessment.id > func.coalesce(last_decision, 0),
        )
        .order_by(Assessment.id)
    )
    out: dict[int, tuple[str, ...]] = {}
    for a in db.session.scalars(query):
        out[a.submission_id] = (*out.get(a.submission_id, ()), a.assessor.display_name())
    return out


def counts(user_id: int, filters: Filters = Filters()) -> dict[str, int]:
    grants = staff.grants_for(user_id)
    return {q.name: count(user_id, q, filters, grants) for q in QUEUES}


def visible_queues(user_id: int) -> list[Queue]:
    """The queues this person's grants can ever fill (the others are not shown)."""
    roles = {g.role for g in staff.grants_for(user_id)}
    return [q for q in QUEUES if roles & set(q.roles)]


# --- claims: who has taken an item (claim_models.WorkClaim) --------------------------------------------------

CLAIMABLE = frozenset({"assessment", "sent_back", "verification_1", "verification_2", "appeals"})
# The duty each claimable queue's work is (duties.standing_refusal: could this person ever do it here). An
# appeal is heard by anyone whose grant covers the work and who took no part in the decision appealed.
_QUEUE_DUTIES = {
    "assessment": staff.ASSESSOR,
    "sent_back": staff.ASSESSOR,
    "verification_1": staff.INTERNAL_VERIFIER,
    "verification_2": staff.INDEPENDENT_VERIFIER,
    "appeals": duties.APPEAL_CAPACITY,
}


class ClaimTaken(UserError):
    status = 409
    title = "Already claimed"


def _holds(claim: WorkClaim, portfolio: Portfolio) -> bool:
    """A claim counts while the portfolio waits in the state it was made in."""
    return claim.state == portfolio.state and claim.claimed_at >= portfolio.state_changed_at


def _claims(portfolios: Sequence[Portfolio]) -> dict[int, WorkClaim]:
    """The claims that hold on these portfolios (one query)."""
    if not portfolios:
        return {}
    by_id = {p.id: p for p in portfolios}
    rows = db.session.scalars(
        select(WorkClaim).options(joinedload(WorkClaim.user)).where(WorkClaim.portfolio_id.in_(list(by_id)))
    )
    return {c.portfolio_id: c for c in rows if _holds(c, by_id[c.portfolio_id])}


def claim_holder(portfolio: Portfolio) -> WorkClaim | None:
    return _claims([portfolio]).get(portfolio.id)


def work_refusal(user_id: int, queue: Queue, portfolio: Portfolio) -> str | None:
    """None when this item waits in this queue for this person (grants and separation of duties, as the
    queue itself selects it); otherwise why not."""
    if queue.name not in CLAIMABLE:
        return gettext("Items of this queue are not claimed.")
    grants = staff.grants_for(user_id)
    refusal = duties.standing_refusal(user_id, grants, _QUEUE_DUTIES[queue.name], portfolio)
    if refusal:
        return refusal
    if portfolio.state != queue.state:
        return gettext("This portfolio is no longer waiting in '%(queue)s'.", queue=gettext(queue.title))
    return queue.refusal(user_id, grants, duties.load_chain(portfolio, latest_submission(portfolio)))


def _set_claim(portfolio: Portfolio, holder: LtiUser) -> WorkClaim:
    row = db.session.scalar(select(WorkClaim).where(WorkClaim.portfolio_id == portfolio.id))
    if row is None:
        row = WorkClaim(portfolio_id=portfolio.id, user_id=holder.id, state=portfolio.state)
        db.session.add(row)
    row.user_id, row.state, row.claimed_at = holder.id, portfolio.state, utcnow()
    db.session.flush()
    db.session.refresh(row)
    return row


def claim(portfolio_id: int, user: LtiUser, queue: Queue) -> WorkClaim:
    """Take an item: only someone it waits for; not one another person holds. The caller commits."""
    portfolio = get_portfolio(portfolio_id, lock=True)
    duties.require(work_refusal(user.id, queue, portfolio))
    current = claim_holder(portfolio)
    if current is not None and current.user_id != user.id:
        raise ClaimTaken(
            gettext("%(name)s has claimed this already.", name=current.user.display_name()),
            hint="They can release it, or a tool administrator can reassign it.",
        )
    if current is None:
        full = caseload_refusal(user.id)
        if full:
            raise ClaimTaken(
                gettext("Your caseload is full: %(why)s", why=full), hint="Finish or release an item you hold first."
            )
    row = _set_claim(portfolio, user)
    audit.record("work.claimed", actor=user, subject=portfolio, after={"queue": queue.name, "holder_id": user.id})
    return row


def release(portfolio_id: int, user: LtiUser) -> None:
    """Give an item back: the holder, or a tool administrator. Nothing held: nothing to do. The caller commits."""
    portfolio = get_portfolio(portfolio_id, lock=True)
    current = claim_holder(portfolio)
    if current is None:
        return
    if current.user_id != user.id and not staff.is_tool_admin(user.id):
        raise NotAllowed(
            gettext(
                "%(name)s holds this; only they or a tool administrator can release it.",
                name=current.user.display_name(),
            )
        )
    audit.record("work.released", actor=user, subject=portfolio, before={"holder_id": current.user_id})
    db.session.delete(current)
    db.session.flush()


def reassign(portfolio_id: int, admin: LtiUser, queue: Queue, to_user_id: int | None) -> WorkClaim:
    """A tool administrator gives an item to someone it waits for. The caller commits."""
    if not staff.is_tool_admin(admin.id):
        raise NotAllowed("Only tool administrators can reassign work.")
    portfolio = get_portfolio(portfolio_id, lock=True)
    target = db.session.get(LtiUser, to_user_id) if to_user_id is not None else None
    if target is None:
        raise NotFound("Choose a member of staff to give this work to.")
    why = work_refusal(target.id, queue, portfolio)
    if why:
        raise UserError(
            gettext("%(name)s cannot take this work: %(why)s", name=target.display_name(), why=why), status=422
        )
    current = claim_holder(portfolio)
    if current is None or current.user_id != target.id:
        full = caseload_refusal(target.id)
        if full:
            raise UserError(
                gettext("%(name)s's caseload is full: %(why)s", name=target.display_name(), why=full), status=409
            )
    row = _set_claim(portfolio, target)
    audit.record(
        "work.reassigned",
        actor=admin,
        role=staff.TOOL_ADMIN,
        subject=portfolio,
        before={"holder_id": current.user_id if current else None},
        after={"queue": queue.name, "holder_id": target.id},
    )
    return row


def staff_for(queue: Queue) -> list[LtiUser]:
    """People holding a role this queue's work needs (choices for reassigning; each is checked on submit)."""
    roles = [r for r in queue.roles if r != staff.TOOL_ADMIN]
    query = (
        select(LtiUser)
        .where(exists().where(staff.StaffGrant.user_id == LtiUser.id, staff.StaffGrant.role.in_(roles)))
        .order_by(LtiUser.name, LtiUser.id)
    )
    return list(db.session.scalars(query))


# --- caseloads: how much one person may hold at once (claim_models.StaffCaseload) ----------------------------


def held_counts(user_ids: Sequence[int] | None = None) -> dict[int, int]:
    """How many items each person holds now (claims that still hold), in one grouped query."""
    query = (
        select(WorkClaim.user_id, func.count())
        .join(Portfolio, WorkClaim.portfolio_id == Portfolio.id)
        .where(WorkClaim.state == Portfolio.state, WorkClaim.claimed_at >= Portfolio.state_changed_at)
        .group_by(WorkClaim.user_id)
    )
    if user_ids is not None:
        query = query.where(WorkClaim.user_id.in_(list(user_ids)))
    return {user_id: n for user_id, n in db.session.execute(query)}


def caseload_limits() -> dict[int, int]:
    return {row.user_id: row.max_items for row in db.session.scalars(select(StaffCaseload))}


def caseload_refusal(user_id: int) -> str | None:
    """None while this person may take one more item; otherwise why not (their limit is reached)."""
    limit = db.session.scalar(select(StaffCaseload.max_items).where(StaffCaseload.user_id == user_id))
    if limit is None:
        return None
    held = held_counts([user_id]).get(user_id, 0)
    if held >= limit:
        return gettext("holding %(held)s of a limit of %(limit)s.", held=held, limit=limit)
    return None


MAX_CASELOAD = 10000


def set_caseload(user_id: int, max_items: int | None, admin: LtiUser) -> None:
    """A tool administrator sets (or with None removes) one person's caseload limit; audited. The caller
    commits. Items already held above a lowered limit stay held; no new ones are taken."""
    if not staff.is_tool_admin(admin.id):
        raise NotAllowed("Only tool administrators set caseloads.")
    person = db.session.get(LtiUser, user_id)
    if person is None or not staff.grants_for(user_id):
        raise NotFound("There is no member of staff with this id.")
    if max_items is not None and not 0 <= max_items <= MAX_CASELOAD:
        raise UserError(
            gettext("A caseload is a whole number from 0 to %(max)s, or empty for no limit.", max=MAX_CASELOAD),
            status=422,
        )
    row = db.session.scalar(select(StaffCaseload).where(StaffCaseload.user_id == user_id))
    before = row.max_items if row is not None else None
    if before == max_items:
        return
    if max_items is None:
        assert row is not None
        db.session.delete(row)
    else:
        if row is None:
            row = StaffCaseload(user_id=user_id, max_items=max_items)
            db.session.add(row)
        row.max_items, row.updated_at, row.updated_by = max_items, utcnow(), admin.display_name()
    db.session.flush()
    audit.record(
        "caseload.set",
        actor=admin,
        role=staff.TOOL_ADMIN,
        subject_type="lti_user",
        subject_id=user_id,
        before={"max_items": before},
        after={"max_items": max_items},
    )


def caseload_people() -> list[LtiUser]:
    """Everyone who holds a role whose work is claimed (assessors and verifiers), by name."""
    roles = sorted({duty for duty in _QUEUE_DUTIES.values() if duty in staff.STAFF_ROLES})
    query = (
        select(LtiUser)
        .where(exists().where(staff.StaffGrant.user_id == LtiUser.id, staff.StaffGrant.role.in_(roles)))
        .order_by(LtiUser.name, LtiUser.id)
    )
    return list(db.session.scalars(query))

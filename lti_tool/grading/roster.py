"""The instructor's view of a course: the LMS roster (NRPS) merged with each learner's portfolio.

Learners who have not opened the tool yet are in the roster but have no portfolio; learners with a
portfolio who have left the course are shown too, marked as no longer in the roster (only when the roster
was read: when the LMS roster cannot be fetched the page says so once and marks nobody).

Staff are not learners, whatever NRPS says: Moodle lists non-editing teachers as `Learner` although their
launches say `Instructor`. People who launched in this course with an instructor or staff role, or who hold
a tool role, are listed as staff (unless they have a portfolio: then they are doing the work).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from flask import current_app
from flask_babel import gettext
from pylti1p3.exception import LtiException
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased, joinedload

from lti_tool.grading.models import MAIN, GradeJob
from lti_tool.grading.services import fetch_members
from lti_tool.identity.staff import STAFF_ROLES, StaffGrant, is_inert
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.cache import cache_get, cache_set
from lti_tool.launch.language import translated
from lti_tool.launch.models import LtiContext, LtiUser, Membership, ResourceLink, ToolSession
from lti_tool.portfolio import workflow as wf
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.models import EvidenceItem, Portfolio, PortfolioPlacement, Submission, evidence_criterion
from lti_tool.portfolio.review.assessment_models import Assessment, Award, CriterionJudgement
from lti_tool.store.db import db
from lti_tool.web.errors import N_

log = logging.getLogger(__name__)
PER_PAGE = 100
CSV_LIMIT = 100_000  # the export is every learner (one page of this size)


def may_view_roster(sess: ToolSession) -> bool:
    return lti_roles.is_instructor(sess.roles) and sess.context_id is not None


@dataclass
class RosterRow:
    lms_user_id: str
    name: str
    email: str = ""
    member_status: str = "Active"  # NRPS status: Active, Inactive, Deleted
    in_roster: bool | None = True  # None: the LMS roster could not be read, so nobody can be said to have left
    portfolio: Portfolio | None = None
    attempts: int = 0
    award: Award | None = None
    sync_status: str | None = None  # status of the learner's latest main-column grade job of this placement
    sync_error: str = ""
    criteria_total: int = 0  # the criteria the learner is held to
    evidenced: int = 0  # of those, with evidence mapped in the portfolio as it is now
    met: int | None = None  # met in the latest decision (None: not decided yet)

    @property
    def progress_percent(self) -> int:
        """Criteria with evidence, in percent; an award is 100."""
        if self.award is not None:
            return 100
        return round(100 * self.evidenced / self.criteria_total) if self.criteria_total else 0

    @property
    def state_label(self) -> str:
        if self.portfolio is None:
            return N_("Not started")
        return wf.STATE_LABELS.get(self.portfolio.state, self.portfolio.state)

    @property
    def started_at(self) -> dt.datetime | None:
        return self.portfolio.created_at if self.portfolio else None

    @property
    def changed_at(self) -> dt.datetime | None:
        return self.portfolio.state_changed_at if self.portfolio else None


@dataclass
class StaffRow:
    lms_user_id: str
    name: str
    why: str  # "launched as Instructor", "tool role: Assessor"


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)  # this page's
    notice: str = ""  # why the LMS roster is missing, if it is
    staff: list[StaffRow] = field(default_factory=list)
    total: int = 0  # learners on every page
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


class JobStatus(Protocol):
    status: str
    last_error: str


def is_learner_member(member: dict[str, Any]) -> bool:
    return lti_roles.is_learner([r for r in member.get("roles") or [] if isinstance(r, str)])


def is_staff_roles(roles: list[str]) -> bool:
    """Roles that make someone course staff: instructor, teaching assistant, content developer, admin."""
    return lti_roles.is_instructor(roles) or lti_roles.is_lms_admin(roles)


def member_name(member: dict[str, Any], sub: str) -> str:
    return str(
        member.get("name")
        or " ".join(p for p in (member.get("given_name"), member.get("family_name")) if p)
        or member.get("email")
        or f"User {sub}"
    )


def known_staff(context: LtiContext) -> dict[str, StaffRow]:
    """By `sub`: who launched in this course with a staff role, or holds a tool role (of this platform)."""
    staff: dict[str, StaffRow] = {}
    launched = db.session.execute(
        select(LtiUser, Membership.roles)
        .join(Membership, Membership.user_id == LtiUser.id)
        .where(Membership.context_id == context.id)
    )
    for user, roles in launched:
        if is_staff_roles(list(roles or [])):
            why = gettext("launched as %(roles)s", roles=", ".join(lti_roles.describe(roles)))
            staff[user.sub] = StaffRow(user.sub, user.display_name(), why)
    issuer = context.deployment.registration.issuer
    granted = db.session.execute(
        select(LtiUser, StaffGrant).join(StaffGrant, StaffGrant.user_id == LtiUser.id).where(LtiUser.issuer == issuer)
    )
    for user, grant in granted:
        if is_inert(grant):
            continue
        row = staff.setdefault(user.sub, StaffRow(user.sub, user.display_name(), ""))
        label = gettext("tool role: %(role)s", role=translated(STAFF_ROLES.get(grant.role, grant.role)))
        if label not in row.why:
            row.why = f"{row.why}; {label}" if row.why else label
    return staff


def merge(
    members: list[dict[str, Any]],
    portfolios: list[Portfolio],
    *,
    attempts: dict[int, int],
    awards: dict[int, Award],
    jobs: Mapping[int, JobStatus],
) -> list[RosterRow]:
    """One row per learner in the roster, plus owners of portfolios who are no longer in it. Plain: tested."""
    rows = learner_rows(members, portfolios)
    attach_progress(rows, attempts=attempts, awards=awards, jobs=jobs)
    return rows


def learner_rows(
    members: list[dict[str, Any]],
    portfolios: list[Portfolio],
    staff: Mapping[str, object] | None = None,
    roster_read: bool = True,
) -> list[RosterRow]:
    """The rows of merge, in their order, without each portfolio's submissions, award and gradebook status.

    Members in `staff` (by sub) are left out unless they have a portfolio; without `roster_read` (the LMS
    roster could not be fetched) nobody is marked as no longer in the roster."""
    by_sub = {p.user.sub: p for p in portfolios}
    staff = staff or {}
    rows: list[RosterRow] = []
    seen: set[str] = set()
    for member in members:
        sub = str(member.get("user_id") or "")
        if not sub or sub in seen or not is_learner_member(member):
            continue
        seen.add(sub)
        if sub in staff and sub not in by_sub:
            continue  # listed as staff (NRPS may say Learner: Moodle's non-editing teachers)
        rows.append(
            RosterRow(
                lms_user_id=sub,
                name=member_name(member, sub),
                email=str(member.get("email") or ""),
                member_status=str(member.get("status") or "Active"),
                portfolio=by_sub.get(sub),
            )
        )
    for sub, portfolio in by_sub.items():
        if sub not in seen:
            rows.append(
                RosterRow(
                    lms_user_id=sub,
                    name=portfolio.user.display_name(),
                    email=portfolio.user.email,
                    in_roster=False if roster_read else None,
                    portfolio=portfolio,
                )
            )
    rows.sort(key=lambda r: (r.in_roster is False, r.name.lower()))
    return rows


def attach_progress(
    rows: list[RosterRow], *, attempts: dict[int, int], awards: dict[int, Award], jobs: Mapping[int, JobStatus]
) -> None:
    for row in rows:
        if row.portfolio is not None:
            pid = row.portfolio.id
            row.attempts = attempts.get(pid, 0)
            row.award = awards.get(pid)
            job = jobs.get(pid)
            if job is not None:
                row.sync_status, row.sync_error = job.status, job.last_error


def course_members(context: LtiContext) -> tuple[list[dict[str, Any]], str]:
    """The context's members from NRPS (cached briefly), and a notice for the instructor if unavailable."""
    if not context.nrps_url:
        return [], gettext(
            "The LMS did not offer its course roster (Names and Role Provisioning) to the tool, so only "
            "learners who have opened the activity are listed."
        )
    key = f"grading:roster:{context.id}"
    cached = cache_get(key)
    if cached is not None:
        return cached, ""
    try:
        members = fetch_members(context.deployment.registration, context.nrps_url)
    except (LtiException, requests.RequestException) as exc:
        log.warning("roster of context %s unavailable: %s", context.id, exc)
        return [], gettext(
            "The LMS roster could not be fetched just now, so only learners who have opened the activity "
            "are listed. Reload the page in a minute."
        )
    remember_addresses(context, members)  # committed with the cached roster
    cache_set(key, members, current_app.config["GRADING_ROSTER_CACHE_SECONDS"])
    return members, ""


def remember_addresses(context: LtiContext, members: list[dict[str, Any]]) -> int:
    """E-mail addresses the roster gives for people the tool knows without one (their launches sent none), so
    that notifications reach them by e-mail too; how many were filled in. An address a launch gave stays."""
    given = {
        str(m.get("user_id")): str(m.get("email")).strip()[:320]
        for m in members
        if m.get("user_id") and isinstance(m.get("email"), str) and m.get("email", "").strip()
    }
    issuer = context.deployment.registration.issuer
    filled = 0
    subs = list(given)
    for start in range(0, len(subs), 500):
        for user in db.session.scalars(
            select(LtiUser).where(
                LtiUser.issuer == issuer, LtiUser.sub.in_(subs[start : start + 500]), LtiUser.email == ""
            )
        ):
            user.email = given[user.sub]
            filled += 1
    return filled


NOT_STARTED = "not_started"
# How the roster may be ordered: name (people who left the course last), state in the workflow's order, last
# change or start (newest first; learners without a portfolio last).
# A member's status in the LMS roster (NRPS) other than Active, as the roster's badge says it.
MEMBER_STATUS_LABELS = {"Inactive": "Inactive in the course", "Deleted": "Removed from the course"}
SORTS = {"name": "Name", "state": "State", "changed": "Last change", "started": "Started"}


def state_filters() -> dict[str, str]:
    """The states the roster can be narrowed to (learners without a portfolio included)."""
    return {NOT_STARTED: "Not started", **wf.STATE_LABELS}


def _narrow_and_order(rows: list[RosterRow], state: str | None, sort: str) -> list[RosterRow]:
    if state == NOT_STARTED:
        rows = [r for r in rows if r.portfolio is None]
    elif state:
        rows = [r for r in rows if r.portfolio is not None and r.portfolio.state == state]
    order = list(wf.STATE_LABELS)
    never = dt.datetime.min
    if sort == "state":
        rows = sorted(rows, key=lambda r: order.index(r.portfolio.state) + 1 if r.portfolio else 0)
    elif sort == "changed":
        rows = sorted(rows, key=lambda r: r.changed_at or never, reverse=True)
    elif sort == "started":
        rows = sorted(rows, key=lambda r: r.started_at or never, reverse=True)
    return rows  # "name": learner_rows' order


def may_view_learner_portfolio(sess: ToolSession, portfolio: Portfolio) -> bool:
    """The course's instructors read (never change) the portfolios started in their course: through this
    activity when they launched one (the portfolios it opens: started from it, or recorded as opened by it),
    else through any activity of the course. Files stay behind portfolio.access (an instructor is not staff:
    no file is served to them)."""
    if not may_view_roster(sess) or portfolio.resource_link is None:
        return False
    if sess.resource_link_id is not None:
        return portfolio.resource_link_id == sess.resource_link_id or _opened_from(
            portfolio.id, ResourceLink.id == sess.resource_link_id
        )
    return portfolio.resource_link.context_id == sess.context_id or _opened_from(
        portfolio.id, ResourceLink.context_id == sess.context_id
    )


def _opened_from(portfolio_id: int, where: Any) -> bool:
    """Whether a placement meeting `where` is recorded as opening the portfolio."""
    return (
        db.session.scalar(
            select(PortfolioPlacement.id)
            .join(ResourceLink, ResourceLink.id == PortfolioPlacement.resource_link_id)
            .where(PortfolioPlacement.portfolio_id == portfolio_id, where)
            .limit(1)
        )
        is not None
    )


def shown_in(link_id: int) -> Any:
    """The condition on Portfolio: opened by placement `link_id` (started from it, or recorded as opened by it)."""
    recorded = select(PortfolioPlacement.portfolio_id).where(PortfolioPlacement.resource_link_id == link_id)
    return or_(Portfolio.resource_link_id == link_id, Portfolio.id.in_(recorded))


def roster_for(
    context: LtiContext,
    link: ResourceLink | None,
    page: int = 1,
    per_page: int | None = None,
    *,
    state: str | None = None,
    sort: str = "name",
) -> Roster:
    """One page of the course roster (PER_PAGE learners unless told; a number past the end gives the last),
    narrowed to a state (NOT_STARTED, or a workflow state) and ordered by one of SORTS.

    Every learner's row is made to sort the roster by name (the LMS's members and the tool's portfolios, two
    light queries' worth); submissions, awards and gradebook status are read for the page's learners only.
    """
    per_page = per_page or PER_PAGE
    members, notice = course_members(context)
    query = select(Portfolio).join(ResourceLink, Portfolio.resource_link_id == ResourceLink.id)
    if link is not None:
        query = query.where(shown_in(link.id))
    else:
        opening = aliased(ResourceLink)  # not the query's own (a subquery would correlate to it)
        in_course = (
            select(PortfolioPlacement.portfolio_id)
            .join(opening, opening.id == PortfolioPlacement.resource_link_id)
            .where(opening.context_id == context.id)
        )
        query = query.where(or_(ResourceLink.context_id == context.id, Portfolio.id.in_(in_course)))
    # Each row names its learner: the users come with the portfolios (one query, not one per row).
    portfolios = list(db.session.scalars(query.options(joinedload(Portfolio.user)).order_by(Portfolio.id)))
    staff = known_staff(context)
    rows = _narrow_and_order(learner_rows(members, portfolios, staff, roster_read=not notice), state, sort)
    with_work = {p.user.sub for p in portfolios}
    staff_rows = sorted((s for sub, s in staff.items() if sub not in with_work), key=lambda s: s.name.lower())
    page = min(max(1, page), max(1, math.ceil(len(rows) / per_page)))
    shown = rows[(page - 1) * per_page : page * per_page]
    ids = [r.portfolio.id for r in shown if r.portfolio is not None]
    attempts: dict[int, int] = {}
    awards: dict[int, Award] = {}
    jobs: dict[int, JobStatus] = {}
    if ids:
        attempts = dict(
            db.session.execute(
                select(Submission.portfolio_id, func.count())
                .where(Submission.portfolio_id.in_(ids))
                .group_by(Submission.portfolio_id)
            ).all()
        )
        awards = {a.portfolio_id: a for a in db.session.scalars(select(Award).where(Award.portfolio_id.in_(ids)))}
        jobs = {job.portfolio_id: job for job in db.session.execute(latest_main_jobs(ids, link.id if link else None))}
    attach_progress(shown, attempts=attempts, awards=awards, jobs=jobs)
    attach_criteria(shown)
    return Roster(shown, notice, staff_rows, total=len(rows), page=page, per_page=per_page)


def latest_main_jobs(portfolio_ids: list[int], link_id: int | None = None) -> Select[int, str, str]:
    """Each portfolio's latest gradebook job for the main column of placement `link_id` (None: of the placement
    it was started from), as (portfolio_id, status, last_error): a portfolio opened by several placements has
    a column, and jobs, in each. The roster shows nothing else of it (its payloads are JSON, costly to read by
    the hundred)."""
    placement = (
        GradeJob.resource_link_id == link_id
        if link_id is not None
        else GradeJob.resource_link_id
        == select(Portfolio.resource_link_id).where(Portfolio.id == GradeJob.portfolio_id).scalar_subquery()
    )
    latest = (
        select(GradeJob.portfolio_id, GradeJob.resource_link_id, func.max(GradeJob.sequence).label("sequence"))
        .where(GradeJob.portfolio_id.in_(portfolio_ids), GradeJob.target == MAIN, placement)
        .group_by(GradeJob.portfolio_id, GradeJob.resource_link_id)
        .subquery()
    )
    return select(GradeJob.portfolio_id, GradeJob.status, GradeJob.last_error).join(
        latest,
        and_(
            GradeJob.portfolio_id == latest.c.portfolio_id,
            GradeJob.resource_link_id == latest.c.resource_link_id,
            GradeJob.sequence == latest.c.sequence,
            GradeJob.target == MAIN,
        ),
    )


def attach_criteria(rows: list[RosterRow]) -> None:
    """Each row's criteria: how many it is held to, how many have evidence, how many the latest decision found
    met. A few queries for the whole page (the criteria once per certification and partner)."""
    portfolios = [r.portfolio for r in rows if r.portfolio is not None]
    if not portfolios:
        return
    held: dict[tuple[int, int | None, str | None], set[int]] = {}
    for p in portfolios:
        key = (p.certification_id, p.partner_id, p.unit_code)  # a unit-only portfolio holds one unit's criteria
        if key not in held:
            held[key] = {c.id for c in criteria_for(p.certification, p.partner_id, p.unit_code)}
    ids = [p.id for p in portfolios]
    mapped: dict[int, set[int]] = {}
    pairs = db.session.execute(
        select(EvidenceItem.portfolio_id, evidence_criterion.c.criterion_id)
        .join(evidence_criterion, evidence_criterion.c.evidence_id == EvidenceItem.id)
        .where(EvidenceItem.portfolio_id.in_(ids))
        .distinct()
    )
    for pid, cid in pairs:
        mapped.setdefault(pid, set()).add(cid)
    latest = (
        select(Submission.portfolio_id, func.max(Assessment.id).label("assessment_id"))
        .join(Assessment, Assessment.submission_id == Submission.id)
        .where(Submission.portfolio_id.in_(ids), Assessment.decision.is_not(None))
        .group_by(Submission.portfolio_id)
        .subquery()
    )
    met: dict[int, int] = dict(
        db.session.execute(
            select(latest.c.portfolio_id, func.count(CriterionJudgement.criterion_id))
            .select_from(latest)
            .outerjoin(
                CriterionJudgement,
                and_(CriterionJudgement.assessment_id == latest.c.assessment_id, CriterionJudgement.met.is_(True)),
            )
            .group_by(latest.c.portfolio_id)
        ).all()
    )
    for row in rows:
        if row.portfolio is None:
            continue
        criteria = held[(row.portfolio.certification_id, row.portfolio.partner_id, row.portfolio.unit_code)]
        row.criteria_total = len(criteria)
        row.evidenced = len(mapped.get(row.portfolio.id, set()) & criteria)
        row.met = met.get(row.portfolio.id)


CSV_COLUMNS = (
    "Learner",
    "E-mail",
    "LMS user id",
    "In the course roster",
    "State",
    "Progress %",
    "Criteria with evidence",
    "Criteria",
    "Criteria met (latest decision)",
    "Submissions",
    "Certificate",
    "Awarded on",
    "Gradebook",
)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading =, +, -, @ (or tab, CR) would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(roster: Roster) -> list[list[str]]:
    """The roster as CSV rows (header first), for the instructor's export."""
    out = [list(CSV_COLUMNS)]
    for r in roster.rows:
        in_roster = {True: "yes", False: "no", None: "unknown (the LMS roster could not be read)"}[r.in_roster]
        out.append(
            [
                _cell(v)
                for v in (
                    r.name,
                    r.email,
                    r.lms_user_id,
                    in_roster,
                    r.state_label,
                    r.progress_percent if r.portfolio else "",
                    r.evidenced if r.portfolio else "",
                    r.criteria_total if r.portfolio else "",
                    "" if r.met is None else r.met,
                    r.attempts if r.portfolio else "",
                    r.award.certificate_number if r.award else "",
                    r.award.awarded_on.isoformat() if r.award else "",
                    r.sync_status or "",
                )
            ]
        )
    return out

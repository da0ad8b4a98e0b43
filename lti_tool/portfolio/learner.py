"""The learner's side of a portfolio: starting it from a placement, who may see it, its coverage, and
submitting it. Plain functions; the HTTP handlers in learner_routes.py stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from lti_tool.audit import trail as audit
from lti_tool.launch.models import LtiUser, ResourceLink, ToolSession
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification, PartnerOffering, Unit
from lti_tool.portfolio.catalogue.offerings import unit_codes_of
from lti_tool.portfolio.catalogue.placement import certification_code_for, unit_code_for
from lti_tool.portfolio.catalogue.queries import criteria_for, latest_certification
from lti_tool.portfolio.coverage import Coverage
from lti_tool.portfolio.models import (
    ROUTES,
    EvidenceFile,
    EvidenceItem,
    Portfolio,
    PortfolioPlacement,
    Submission,
    evidence_criterion,
)
from lti_tool.portfolio.snapshot import build_snapshot
from lti_tool.store.db import db
from lti_tool.store.memo import Memo
from lti_tool.web.errors import UserError

MAX_NOTE = 5000


# --- starting from a placement ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementCertification:
    code: str | None  # what the placement names (custom parameter or deployment default)
    certification: Certification | None  # its latest version, if the catalogue has it
    unit_code: str | None = None  # a unit placement's unit (one the certification has), else None
    unit_only: bool = False  # the partner's pathway makes that unit a portfolio of its own

    @property
    def scope(self) -> str | None:
        """The unit a portfolio started from this placement holds (None: the whole certification)."""
        return self.unit_code if self.unit_only else None


def unit_only_pathway(partner_id: int | None, code: str) -> bool:
    """The partner's pathway narrows the certification to some of its units: each unit placement is then a
    unit-only portfolio. Otherwise a unit placement opens the learner's one portfolio of the certification."""
    if partner_id is None:
        return False
    offering = db.session.scalar(
        select(PartnerOffering).where(
            PartnerOffering.partner_id == partner_id, PartnerOffering.certification_code == code
        )
    )
    return offering is not None and bool(unit_codes_of(offering))


def placement_certification(link: ResourceLink) -> PlacementCertification:
    code = certification_code_for(link)
    cert = latest_certification(code) if code else None
    unit = unit_code_for(link)
    if code is None or cert is None or unit is None or unit not in {u.code for u in cert.units}:
        return PlacementCertification(code, cert)
    return PlacementCertification(code, cert, unit, unit_only_pathway(link.deployment.partner_id, code))


def placement_route(link: ResourceLink) -> str | None:
    """The route the placement fixes (custom parameter `route`), or None: the learner chooses."""
    value = ((link.custom or {}).get("route") or "").strip().lower().replace("-", "_")
    return value if value in ROUTES else None


def portfolio_for(user_id: int, link_id: int) -> Portfolio | None:
    return db.session.scalar(
        select(Portfolio).where(Portfolio.user_id == user_id, Portfolio.resource_link_id == link_id)
    )


def _same_partner(partner_id: int | None) -> Any:
    return Portfolio.partner_id.is_(None) if partner_id is None else Portfolio.partner_id == partner_id


def certification_portfolio(user_id: int, partner_id: int | None, code: str, scope: str | None) -> Portfolio | None:
    """The learner's one portfolio of certification `code` (any version) under this partner, for the whole
    certification (scope None) or for unit `scope` only; the first one started if older data holds several."""
    return db.session.scalar(
        select(Portfolio)
        .join(Certification, Certification.id == Portfolio.certification_id)
        .where(
            Portfolio.user_id == user_id,
            _same_partner(partner_id),
            Certification.code == code,
            Portfolio.unit_code.is_(None) if scope is None else Portfolio.unit_code == scope,
        )
        .order_by(Portfolio.id)
        .limit(1)
    )


def shown_portfolio(user_id: int, link_id: int) -> Portfolio | None:
    """The portfolio this placement is known to open for the learner, in one query: the one started from it, else
    the one recorded as opened by it (PortfolioPlacement). What a returning learner's launch lands on."""
    recorded = select(PortfolioPlacement.portfolio_id).where(PortfolioPlacement.resource_link_id == link_id)
    return db.session.scalar(
        select(Portfolio)
        .where(Portfolio.user_id == user_id, or_(Portfolio.resource_link_id == link_id, Portfolio.id.in_(recorded)))
        .order_by(case((Portfolio.resource_link_id == link_id, 0), else_=1), Portfolio.id)
        .limit(1)
    )


def placement_portfolio(user_id: int, link: ResourceLink) -> Portfolio | None:
    """The portfolio a placement opens: the one started from it or recorded as opened by it, else the learner's
    portfolio of the same certification (and scope) started from another placement: a learner never gets a
    second one. Reads only; `open_placement` records the last case."""
    return _placement_portfolio(user_id, link)[0]


def open_placement(user_id: int, link: ResourceLink) -> Portfolio | None:
    """`placement_portfolio`, recording the placement the first time it opens a portfolio started from another
    one (`record_placement`). The caller commits."""
    portfolio, known = _placement_portfolio(user_id, link)
    if portfolio is not None and not known:
        record_placement(portfolio, link)
    return portfolio


def _placement_portfolio(user_id: int, link: ResourceLink) -> tuple[Portfolio | None, bool]:
    """(the portfolio the placement opens, whether the placement is known to open it)."""
    known = shown_portfolio(user_id, link.id)
    if known is not None:
        return known, True
    found = placement_certification(link)
    if found.code is None:
        return None, False
    return certification_portfolio(user_id, link.deployment.partner_id, found.code, found.scope), False


def record_placement(portfolio: Portfolio, link: ResourceLink) -> bool:
    """Record that placement `link` opens `portfolio`, started from another placement, and tell the placement
    listeners (grade sync: the placement's gradebook column learns the portfolio's state now), in the caller's
    transaction. Once: two first openings racing write one row (the unique constraint stops the second, which
    leaves it to the first). True when this call recorded it."""
    if portfolio.resource_link_id == link.id:
        return False
    # The portfolio's row lock (PostgreSQL) makes this take turns with decisions, which lock it too
    # (review/lookup.py): a decision committed first is the state read here; one committed after finds this
    # placement among the portfolio's and reports to it as well.
    db.session.execute(
        select(Portfolio)
        .where(Portfolio.id == portfolio.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    try:
        with db.session.begin_nested():
            db.session.add(PortfolioPlacement(portfolio_id=portfolio.id, resource_link_id=link.id))
    except IntegrityError:
        return False  # another opening of this placement recorded it first
    workflow.placed(portfolio, link)
    return True


def chosen_route(user_id: int, partner_id: int | None, code: str) -> str | None:
    """The route the learner chose for another portfolio of this certification: it is chosen once."""
    return db.session.scalar(
        select(Portfolio.route)
        .join(Certification, Certification.id == Portfolio.certification_id)
        .where(Portfolio.user_id == user_id, _same_partner(partner_id), Certification.code == code)
        .order_by(Portfolio.id)
        .limit(1)
    )


# A stored version's units never change (an import makes a new version): kept until this process changes one.
_unit_codes: Memo[frozenset[str]] = Memo("certification_unit_codes", (Certification, Unit), None)


def unit_codes(certification_id: int) -> frozenset[str]:
    """The codes of a certification version's units, from memory (a unit placement's launch reads no catalogue)."""
    return _unit_codes.get(
        certification_id,
        lambda: frozenset(db.session.scalars(select(Unit.code).where(Unit.certification_id == certification_id))),
    )


def focus_unit(link: ResourceLink, portfolio: Portfolio) -> str | None:
    """The unit to open a whole-certification portfolio at, when it is opened from a unit placement."""
    if portfolio.unit_code is not None:
        return None
    unit = unit_code_for(link)
    return unit if unit and unit in unit_codes(portfolio.certification_id) else None


def start_portfolio(
    sess: ToolSession, link: ResourceLink, certification: Certification, route: str, unit_code: str | None = None
) -> Portfolio:
    """The learner's portfolio for this placement, created on first use (two first launches racing make one);
    the learner's portfolio of the same certification and scope when another placement started it."""
    if route not in ROUTES:
        raise UserError("Choose one of the two routes.")
    # Two first launches of different placements of one certification take turns on the learner's row
    # (PostgreSQL), so the second finds the portfolio the first made instead of making another.
    db.session.execute(select(LtiUser.id).where(LtiUser.id == sess.user_id).with_for_update())
    existing = shown_portfolio(sess.user_id, link.id)
    if existing is not None:
        return existing
    existing = certification_portfolio(sess.user_id, link.deployment.partner_id, certification.code, unit_code)
    if existing is not None:
        record_placement(existing, link)  # started meanwhile from another placement: this one opens it too
        return existing
    try:
        with db.session.begin_nested():
            portfolio = Portfolio(
                user_id=sess.user_id,
                certification_id=certification.id,
                resource_link_id=link.id,
                partner_id=link.deployment.partner_id,
                route=route,
                unit_code=unit_code,
                state=workflow.DRAFT,
            )
            db.session.add(portfolio)
            db.session.flush()
            audit.record(
                "portfolio.created",
                actor=sess.user,
                role="learner",
                subject=portfolio,
                after={
                    "certification": certification.code,
                    "version": certification.version,
                    "route": route,
                    "resource_link": link.id,
                    **({"unit": unit_code} if unit_code else {}),
                },
            )
            # The gradebook learns the learner has started, in the same transaction (outbox).
            workflow.created(portfolio)
    except IntegrityError:
        raced = portfolio_for(sess.user_id, link.id)  # the other launch made it first
        assert raced is not None
        return raced
    return portfolio


# --- who may see it ---------------------------------------------------------------------------------


def my_portfolios(sess: ToolSession) -> list[Portfolio]:
    return list(
        db.session.scalars(
            select(Portfolio)
            .where(
                Portfolio.user_id == sess.user_id,
                Portfolio.partner_id.is_(None)
                if sess.deployment.partner_id is None
                else Portfolio.partner_id == sess.deployment.partner_id,
            )
            .order_by(Portfolio.created_at.desc(), Portfolio.id.desc())
        )
    )


# --- coverage ---------------------------------------------------------------------------------------


def evidence_counts(portfolio: Portfolio) -> dict[int, int]:
    """Criterion id -> evidence items mapped to it, counted in the database (one query however many items)."""
    return dict(
        db.session.execute(
            select(evidence_criterion.c.criterion_id, func.count())
            .join(EvidenceItem, EvidenceItem.id == evidence_criterion.c.evidence_id)
            .where(EvidenceItem.portfolio_id == portfolio.id)
            .group_by(evidence_criterion.c.criterion_id)
        ).all()
    )


def load_with_evidence(portfolio_id: int) -> Portfolio | None:
    """The portfolio with its certification, evidence items, their criteria and files: what the portfolio page
    shows, in four queries however many items there are."""
    return db.session.scalar(
        select(Portfolio)
        .where(Portfolio.id == portfolio_id)
        .options(
            joinedload(Portfolio.certification),
            selectinload(Portfolio.evidence).options(
                selectinload(EvidenceItem.criteria), selectinload(EvidenceItem.files).joinedload(EvidenceFile.stored)
            ),
        )
    )


def criteria_by_id(portfolio: Portfolio) -> dict[int, Any]:
    return {c.id: c for c in criteria_for(portfolio.certification, portfolio.partner_id, portfolio.unit_code)}


# --- what to do next -------------------------------------------------------------------------------


def next_step(state: str, coverage: Coverage) -> str:
    """What the learner should do next, in one sentence in the page's language (shown at the top of the
    portfolio page)."""
    if state == workflow.AWARDED:
        return gettext("You are done: print your certificate or share its verification page from My certificates.")
    if state == workflow.APPEALED:
        return gettext("Nothing to do now: your appeal is being decided, and the outcome will appear here.")
    if state not in workflow.EDITABLE:
        return gettext(
            "Nothing to do now: your portfolio is with the assessment team, and their decision will appear here."
        )
    if not coverage.with_evidence:
        return gettext("Add your first piece of evidence and tick the criteria it shows.")
    not_met = coverage.counts.get("not_met", 0)
    if state == workflow.REFERRED and not_met:
        return ngettext(
            "Improve the evidence for the %(num)d criterion marked “Not yet met”, then submit again.",
            "Improve the evidence for the %(num)d criteria marked “Not yet met”, then submit again.",
            not_met,
        )
    missing = coverage.units_missing
    if missing:
        return ngettext(
            "Add evidence for the %(num)d criterion still without any, starting with unit %(unit)s.",
            "Add evidence for the %(num)d criteria still without any, starting with unit %(unit)s.",
            len(coverage.missing),
            unit=missing[0].code,
        )
    return gettext("Every criterion has evidence: check your portfolio, then submit it for assessment.")


# --- submitting -------------------------------------------------------------------------------------


def next_attempt(portfolio: Portfolio) -> int:
    current = db.session.scalar(select(func.max(Submission.attempt)).where(Submission.portfolio_id == portfolio.id))
    return (current or 0) + 1


class StaleSubmitForm(UserError):
    status = 409
    title = "This page is out of date"


class NothingToSubmit(UserError):
    """A portfolio with no criterion evidenced: an assessor could only refer it, so it is not sent."""

    status = 422
    title = "Nothing to submit yet"


def check_submittable(portfolio: Portfolio) -> None:
    """The submission rule: at least one criterion has evidence mapped to it (an empty portfolio is refused)."""
    if not evidence_counts(portfolio):
        raise NothingToSubmit(
            "Your portfolio has no evidence for any criterion yet, so it cannot be submitted.",
            hint="Add evidence and tick the criteria it shows, then submit.",
        )


def submit(portfolio_id: int, attempt: int, note: str, *, actor: Any) -> tuple[Submission, bool]:
    """Freeze the portfolio as submission `attempt` and move it to submitted. The caller commits.

    `attempt` comes from the confirmation form and is the idempotency key: repeating the same POST
    (double click, back button, retry) finds that submission instead of making another. Returns
    (submission, created).
    """
    # The row lock makes concurrent submits of one portfolio take turns (PostgreSQL); on SQLite the
    # unique (portfolio, attempt) constraint stops the second, and the caller looks it up again.
    portfolio = db.session.execute(
        select(Portfolio)
        .where(Portfolio.id == portfolio_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    existing = db.session.scalar(
        select(Submission).where(Submission.portfolio_id == portfolio.id, Submission.attempt == attempt)
    )
    if existing is not None:
        return existing, False
    expected = next_attempt(portfolio)
    if attempt != expected:
        raise StaleSubmitForm(
            "The portfolio changed since this submit page was opened.",
            hint="Go back to your portfolio and choose Submit again.",
        )
    workflow.check(portfolio.state, workflow.SUBMITTED, "learner")
    check_submittable(portfolio)
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise UserError(gettext("Keep the note to the assessor under %(max)s characters.", max=MAX_NOTE))
    submission = Submission(portfolio=portfolio, attempt=attempt, snapshot=build_snapshot(portfolio), learner_note=note)
    db.session.add(submission)
    db.session.flush()
    workflow.transition(
        portfolio,
        workflow.SUBMITTED,
        duty="learner",
        actor=actor,
        details={"attempt": attempt, "submission_id": submission.id},
    )
    return submission, True


def find_submission(portfolio_id: int, attempt: int) -> Submission | None:
    return db.session.scalar(
        select(Submission).where(Submission.portfolio_id == portfolio_id, Submission.attempt == attempt)
    )

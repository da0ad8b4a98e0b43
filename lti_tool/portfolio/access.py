"""Who may see, change and download a portfolio and its files: the one module every portfolio route asks.

- The learner: only their own portfolio, and only through a launch from the same partner (tenant): a
  learner known to two partners' platforms never reaches one partner's work from the other's course.
  Anything else is answered as if the portfolio did not exist (404), so addresses reveal nothing.
- Staff: tool administrators, and assessors and verifiers whose grant covers the portfolio's partner and
  certification (strictly: a grant limited to a partner does not cover work of no partner).
- Changing evidence: the owner, while the portfolio is in an editable state.
- External quality assurers: read only, through the EQA pages and packs (lti_tool/eqa), of the portfolios
  their grant covers (eqa_may_view; eqa_scope for lists); never through the staff pages, which act.

Plain functions over the session and the portfolio: tested without a request (tests/test_authorization_rules.py,
tests/test_portfolio_access.py).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from sqlalchemy import and_, false, or_, select, true

from lti_tool.identity import staff
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import ToolSession
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio
from lti_tool.web.errors import NotFound, UserError

STAFF_VIEW_ROLES = (staff.ASSESSOR, staff.INTERNAL_VERIFIER, staff.INDEPENDENT_VERIFIER)


def learner_may_view(sess: ToolSession, portfolio: Portfolio) -> bool:
    """Its owner, launched through a deployment of the portfolio's partner."""
    return portfolio.user_id == sess.user_id and portfolio.partner_id == sess.deployment.partner_id


def staff_can_view(user_id: int, portfolio: Portfolio) -> bool:
    """Tool administrators, and staff whose grant covers this portfolio's partner and certification."""
    if staff.is_tool_admin(user_id):
        return True
    code = portfolio.certification.code
    return any(
        staff.grant_covers_work(g, g.role, portfolio.partner_id, code)
        for g in staff.grants_for(user_id)
        if g.role in STAFF_VIEW_ROLES
    )


def may_download(sess: ToolSession, portfolio: Portfolio) -> bool:
    """Evidence files: the owner as in learner_may_view, or staff as in staff_can_view."""
    return learner_may_view(sess, portfolio) or staff_can_view(sess.user_id, portfolio)


def eqa_may_view(user_id: int, portfolio: Portfolio) -> bool:
    """Read-only EQA access: tool administrators, and external quality assurers whose grant covers this
    portfolio's partner and certification (strictly, as for staff)."""
    if staff.is_tool_admin(user_id):
        return True
    code = portfolio.certification.code
    return any(
        staff.grant_covers_work(g, staff.EXTERNAL_QUALITY_ASSURER, portfolio.partner_id, code)
        for g in staff.grants_for(user_id)
    )


def eqa_scope(user_id: int) -> Any:
    """eqa_may_view as a condition on Portfolio rows (for lists and samples): true for tool administrators,
    false for someone with no EQA grant."""
    if staff.is_tool_admin(user_id):
        return true()
    clauses = []
    for g in staff.grants_for(user_id):
        if g.role != staff.EXTERNAL_QUALITY_ASSURER:
            continue
        parts = []
        if g.partner_id is not None:
            parts.append(Portfolio.partner_id == g.partner_id)
        if g.certification_code:
            codes = select(Certification.id).where(Certification.code == g.certification_code)
            parts.append(Portfolio.certification_id.in_(codes))
        clauses.append(and_(true(), *parts))
    return or_(*clauses) if clauses else false()


def may_start_portfolio(sess: ToolSession) -> bool:
    """Portfolios are the learners': a launch in any other course role (instructor, teaching assistant,
    administrator) does not start one, nor gets scores sent to the gradebook for one."""
    return lti_roles.is_learner(sess.roles)


def not_yours() -> NotFound:
    return NotFound(
        "There is no portfolio of yours at this address.",
        hint="Open the activity again from your course to reach your own portfolio.",
    )


def require_own(sess: ToolSession, portfolio: Portfolio | None) -> Portfolio:
    """The portfolio, when the session's learner may act on it (learner_may_view); otherwise a 404."""
    if portfolio is None or not learner_may_view(sess, portfolio):
        raise not_yours()
    return portfolio


def require_editable(portfolio: Portfolio) -> None:
    """Evidence changes only while the portfolio is a draft or referred back (workflow.EDITABLE)."""
    if portfolio.state not in workflow.EDITABLE:
        raise UserError(
            gettext(
                "Your portfolio is '%(state)s', so its evidence cannot be changed now.",
                state=workflow.state_words(portfolio.state),
            ),
            status=409,
            title="Portfolio locked",
            hint="You can change it again if the assessor refers it back to you.",
        )

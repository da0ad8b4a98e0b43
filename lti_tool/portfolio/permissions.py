"""Who may see and do what with a portfolio. Plain functions: tested without a request."""

from __future__ import annotations

from lti_tool.identity import staff
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import ToolSession
from lti_tool.portfolio.models import Portfolio

STAFF_VIEW_ROLES = (staff.ASSESSOR, staff.INTERNAL_VERIFIER, staff.INDEPENDENT_VERIFIER)


def is_owner(sess: ToolSession, portfolio: Portfolio) -> bool:
    return portfolio.user_id == sess.user_id


def staff_can_view(user_id: int, portfolio: Portfolio) -> bool:
    """Tool administrators, and staff whose grant covers this portfolio's partner and certification.

    Strict, as the staff pages are: a grant limited to a partner does not cover a portfolio of no partner.
    One rule for the staff record page and the evidence files it links to.
    """
    if staff.is_tool_admin(user_id):
        return True
    code = portfolio.certification.code
    return any(
        staff.grant_covers_work(g, g.role, portfolio.partner_id, code)
        for g in staff.grants_for(user_id)
        if g.role in STAFF_VIEW_ROLES
    )


def may_start_portfolio(sess: ToolSession) -> bool:
    """Portfolios are the learners': a launch in any other course role (instructor, teaching assistant,
    administrator) does not start one, nor gets scores sent to the gradebook for one."""
    return lti_roles.is_learner(sess.roles)


def can_view(sess: ToolSession, portfolio: Portfolio) -> bool:
    """The learner who owns it, or staff whose grant covers its partner and certification."""
    return is_owner(sess, portfolio) or staff_can_view(sess.user_id, portfolio)


def can_edit(sess: ToolSession, portfolio: Portfolio) -> bool:
    from lti_tool.portfolio.workflow import EDITABLE

    return is_owner(sess, portfolio) and portfolio.state in EDITABLE

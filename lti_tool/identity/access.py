"""Who may use the tool-wide administration: the one check every admin page, console and action calls; and
who may open the external quality assurance pages at all (what they may see there is portfolio.access's).

Rules about one piece of work (a portfolio, its files, an award) live beside that work: portfolio.access
for portfolios and evidence, credentials.access for awards, review.duties for who may judge what.
"""

from __future__ import annotations

from lti_tool.identity import staff
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import deny, require_session


def require_tool_admin(refusal: str = "Only tool administrators may use this page.") -> ToolSession:
    """The signed-in session, when it belongs to a tool administrator; otherwise a 403 saying `refusal`."""
    sess = require_session()
    if not staff.is_tool_admin(sess.user_id):
        raise deny(refusal)
    return sess


def eqa_grants(user_id: int) -> list[staff.StaffGrant]:
    """The person's external quality assurer grants (each limited to partners and/or certifications, or not)."""
    return [g for g in staff.grants_for(user_id) if g.role == staff.EXTERNAL_QUALITY_ASSURER]


def require_eqa(
    refusal: str = "Only external quality assurers and tool administrators may use this page.",
) -> ToolSession:
    """The signed-in session of an external quality assurer or a tool administrator; otherwise a 403."""
    sess = require_session()
    if not (staff.is_tool_admin(sess.user_id) or eqa_grants(sess.user_id)):
        raise deny(refusal)
    return sess


def eqa_covers_scope(user_id: int, partner_id: int | None, certification_code: str | None) -> bool:
    """Whether figures limited to this partner and certification (None = all) are within the person's grants:
    a tool administrator sees everything; an external quality assurer only a scope inside one of their grants
    (a grant limited to a partner does not cover figures of every partner)."""
    if staff.is_tool_admin(user_id):
        return True
    return any(
        (g.partner_id is None or g.partner_id == partner_id)
        and (not g.certification_code or g.certification_code == certification_code)
        for g in eqa_grants(user_id)
    )

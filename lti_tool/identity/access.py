"""Who may use the tool-wide administration: the one check every admin page, console and action calls.

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

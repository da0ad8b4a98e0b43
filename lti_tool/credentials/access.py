"""Who may download an award's credential and certificate, and who may revoke it. Plain functions."""

from __future__ import annotations

from lti_tool.identity import staff
from lti_tool.launch.models import ToolSession
from lti_tool.portfolio.review.assessment_models import Award


def is_learner_of(sess: ToolSession, award: Award) -> bool:
    return award.portfolio.user_id == sess.user_id


def can_download(sess: ToolSession, award: Award) -> bool:
    """The learner who owns the award, and tool administrators (who answer learners' and regulators' requests)."""
    return is_learner_of(sess, award) or staff.is_tool_admin(sess.user_id)

"""What a deployment's LMS gradebooks get besides the main score: the learning credits column, opt-in.

The credits always go in the main score's comment ("Awarded. Certificate number ... 12 learning credits, 120
CPD points."). A separate credits line item is made only when all of these hold:
- the deployment opted in (admin console, `lti-tool grading credits-column`; off by default, audited): on
  Moodle the new line item becomes a manual grade item that counts into the course total under Natural
  aggregation (a course out of 100 becomes 112/112, the activity's weight 89%), which no instructor asked for;
- the platform lets the tool create line items (AGS lineitem scope; Open edX's default declarative mode
  grants only the read-only scope);
- the column would not share the main grade: on Open edX every FullyGraded score of a line item whose
  resourceLinkId is the block goes into the block's single grade (lti-consumer-xblock,
  signals.publish_grade_on_score_update), so a credits line item would overwrite the main grade and comment.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.grading.models import GradebookOption
from lti_tool.launch.models import Deployment, ResourceLink
from lti_tool.store.db import db, utcnow

# Open edX placements: the resource link id is the block's usage key, and the AGS endpoints live under
# .../lti_consumer/v1/lti/<config id>/lti-ags (lti_consumer/plugin/urls.py).
OPENEDX_USAGE_KEY = re.compile(r"^(block-v1:|lb:|i4x://)")
OPENEDX_AGS_URL = re.compile(r"/lti_consumer/v1/lti/[^/]+/lti-ags")


def shares_main_grade(link: ResourceLink) -> bool:
    """Whether every line item of this placement feeds the one grade of the activity (Open edX)."""
    if OPENEDX_USAGE_KEY.match(link.resource_link_id or ""):
        return True
    return any(OPENEDX_AGS_URL.search(url or "") for url in (link.ags_lineitems_url, link.ags_lineitem_url))


def credits_column_opted_in(deployment_id: int) -> bool:
    return bool(
        db.session.scalar(select(GradebookOption.credits_column).where(GradebookOption.deployment_id == deployment_id))
    )


def opted_in_deployments(deployment_ids: list[int]) -> set[int]:
    """Which of these deployments opted in to the credits column (one query, for the console's list)."""
    if not deployment_ids:
        return set()
    return set(
        db.session.scalars(
            select(GradebookOption.deployment_id).where(
                GradebookOption.deployment_id.in_(deployment_ids), GradebookOption.credits_column.is_(True)
            )
        )
    )


def set_credits_column(who: Actor, dep: Deployment, on: bool) -> bool:
    """Turn the deployment's credits column on or off, audited, in the caller's transaction; whether it changed."""
    row = db.session.get(GradebookOption, dep.id)
    before = bool(row and row.credits_column)
    if before == on:
        return False
    if row is None:
        row = GradebookOption(deployment_id=dep.id)
        db.session.add(row)
    row.credits_column, row.updated_at = on, utcnow()
    who.record(
        "deployment.credits_column",
        subject=dep,
        before={"credits_column": before},
        after={"credits_column": on, "deployment_id": dep.deployment_id, "registration": dep.registration_id},
    )
    return True


def credits_column_refusal(link: ResourceLink, can_manage_line_items: bool) -> str | None:
    """Why this placement gets no separate credits column (None when it gets one); the caller says whether
    the platform lets the tool create line items (outbox.can_manage_line_items)."""
    if not credits_column_opted_in(link.deployment_id):
        return "the deployment has not opted in to a separate credits column"
    if shares_main_grade(link):
        return "on this platform (Open edX) a second column would overwrite the activity's grade"
    if not can_manage_line_items:
        return "the platform does not let the tool create gradebook columns"
    return None

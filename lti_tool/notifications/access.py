"""Who may see and change which notices: each person only their own (anyone else's is answered as if it did not
exist), their own preferences, and the mail outbox is for tool administrators. The public mail pages (open,
unsubscribe) act on the signed token in their address alone and never sign anyone in."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from lti_tool.identity import staff
from lti_tool.launch.models import ToolSession
from lti_tool.notifications import kinds
from lti_tool.notifications.models import Notification
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound

STAFF_ROLES = frozenset({staff.ASSESSOR, staff.INTERNAL_VERIFIER, staff.INDEPENDENT_VERIFIER})


def own_notification(sess: ToolSession, notification_id: int) -> Notification:
    notice = db.session.get(Notification, notification_id)
    if notice is None or notice.user_id != sess.user_id:
        raise NotFound("There is no such notification of yours.", hint="Go back to your notifications.")
    return notice


def audiences_for(user_id: int) -> list[str]:
    """Which groups of kinds a person may choose about: everyone's own portfolios; staff their work; tool
    administrators the tool's."""
    roles = {g.role for g in staff.grants_for(user_id)}
    out = [kinds.LEARNERS]
    if roles & STAFF_ROLES:
        out.append(kinds.STAFF)
    if staff.TOOL_ADMIN in roles:
        out.append(kinds.ADMINS)
    # Kinds they have been told about before, whatever their roles now.
    told = set(db.session.scalars(select(Notification.kind).where(Notification.user_id == user_id).distinct()))
    for kind in told:
        found = kinds.BY_NAME.get(kind)
        if found is not None and found.audience not in out:
            out.append(found.audience)
    return [a for a in kinds.AUDIENCE_LABELS if a in out]


def unread_probe() -> ColumnElement[int]:
    """unread_count of the session's person, read with the session itself (launch.session probes)."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == ToolSession.user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def unread_count(user_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )

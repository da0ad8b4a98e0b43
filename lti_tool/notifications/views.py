"""The notifications pages: each person's list (open, mark read), their choices, the tool administrators' view of
the mail outbox, and the two public pages an e-mail links to (a notice's page and unsubscribe), which work
without signing in. Thin: the rules are in access.py, notify.py and delivery.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from lti_tool.audit import trail as audit
from lti_tool.identity.access import require_tool_admin
from lti_tool.launch.language import requested_notice
from lti_tool.launch.models import LtiUser
from lti_tool.launch.session import current_session, login_required, require_session, session_probe
from lti_tool.notifications import access, kinds, links
from lti_tool.notifications.delivery import requeue
from lti_tool.notifications.messages import language_of
from lti_tool.notifications.models import (
    CHANNELS,
    EMAIL,
    IN_TOOL,
    MAIL_STATUS_LABELS,
    MAIL_STATUSES,
    MailOutbox,
    Notification,
)
from lti_tool.notifications.notify import (
    channel_for,
    mail_service,
    set_channel,
    set_digest,
    settings_for,
    shown_text,
)
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.paging import page_number

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
# Public: reached from an e-mail, by whoever holds the link; launch/templating.py never puts a session token
# into these addresses.
mail_bp = Blueprint("mail", __name__, url_prefix="/mail")

PER_PAGE = 30
OUTBOX_LIMIT = 200
NOTICES = {
    "read": "Marked as read.",
    "all-read": "All your notifications are marked as read.",
    "saved": "Your choices are saved.",
}


@bp.app_context_processor
def _header_globals() -> dict[str, Any]:
    return {"unread_notifications": unread_for_header}


UNREAD_PROBE = "unread_notifications"  # read with the session (create_app declares it: access.unread_probe)


def unread_for_header() -> int | None:
    """The signed-in person's unread count for the header of every page (None without a session)."""
    sess = current_session()
    if sess is None:
        return None
    read_with_session = session_probe(UNREAD_PROBE)
    if read_with_session is not None:
        return int(read_with_session)
    try:
        return access.unread_count(sess.user_id)
    except SQLAlchemyError:  # the page still renders when the database stumbles
        return None


def target_url(notice: Notification) -> str:
    """Where the notice leads, for the person reading it now (url_for carries their own session token)."""
    if notice.target_endpoint:
        try:
            return url_for(notice.target_endpoint, **(notice.target_values or {}))
        except BuildError:
            pass
    return url_for("notifications.index")


def _mark_read(notice: Notification) -> None:
    if notice.read_at is None:
        notice.read_at = utcnow()


@bp.route("/")
@login_required
def index() -> str:
    sess = require_session()
    number = page_number()
    rows = list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == sess.user_id)
            .order_by(Notification.id.desc())
            .limit(PER_PAGE + 1)
            .offset((number - 1) * PER_PAGE)
        )
    )
    language = language_of(str(get_locale()))
    return render_template(
        "notifications/index.html",
        notices=rows[:PER_PAGE],
        texts={n.id: shown_text(n, language) for n in rows[:PER_PAGE]},
        has_next=len(rows) > PER_PAGE,
        number=number,
        unread=access.unread_count(sess.user_id),
        notice=requested_notice(NOTICES),
    )


@bp.route("/read", methods=["POST"])
@login_required
def read_all() -> Response:
    sess = require_session()
    for notice in db.session.scalars(
        select(Notification).where(Notification.user_id == sess.user_id, Notification.read_at.is_(None))
    ):
        _mark_read(notice)
    db.session.commit()
    return redirect(url_for("notifications.index", notice="all-read"), code=303)


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id: int) -> Response:
    notice = access.own_notification(require_session(), notification_id)
    _mark_read(notice)
    db.session.commit()
    return redirect(url_for("notifications.index", notice="read", _anchor=f"notification-{notice.id}"), code=303)


@bp.route("/<int:notification_id>")
@login_required
def open_item(notification_id: int) -> Response:
    """Open what the notice is about (marking it read)."""
    notice = access.own_notification(require_session(), notification_id)
    _mark_read(notice)
    db.session.commit()
    return redirect(target_url(notice), code=303)


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> ResponseReturnValue:
    sess = require_session()
    audiences = access.audiences_for(sess.user_id)
    shown = [k for k in kinds.KINDS if k.audience in audiences]
    if request.method == "POST":
        for kind in shown:
            channel = request.form.get(f"channel-{kind.name}", EMAIL)
            if channel not in CHANNELS:
                raise UserError("Choose e-mail, in the tool only, or off for each kind of notice.", status=422)
            if channel != channel_for(sess.user_id, kind.name):
                set_channel(sess.user_id, kind.name, channel)
        set_digest(sess.user_id, request.form.get("digest") == "1")
        db.session.commit()
        return redirect(url_for("notifications.preferences", notice="saved"), code=303)
    settings = settings_for(sess.user_id)
    return render_template(
        "notifications/preferences.html",
        groups=[(kinds.AUDIENCE_LABELS[a], [k for k in shown if k.audience == a]) for a in audiences],
        chosen={k.name: channel_for(sess.user_id, k.name) for k in shown},
        channels=CHANNELS,
        digest=bool(settings and settings.digest),
        email=sess.user.email,
        mail_service=mail_service(),
        notice=requested_notice(NOTICES),
    )


# --- the tool administrators' view of the outbox --------------------------------------------------------------


@bp.route("/outbox")
@login_required
def outbox_page() -> str:
    require_tool_admin("The mail outbox is for tool administrators.")
    status = request.args.get("status") or None
    if status is not None and status not in MAIL_STATUSES:
        raise UserError(
            gettext(
                "Unknown status '%(status)s'; choose one of %(statuses)s.",
                status=status,
                statuses=", ".join(MAIL_STATUSES),
            )
        )
    query = select(MailOutbox).order_by(MailOutbox.id.desc()).limit(OUTBOX_LIMIT)
    if status:
        query = query.where(MailOutbox.status == status)
    counts = dict(db.session.execute(select(MailOutbox.status, func.count()).group_by(MailOutbox.status)).all())
    return render_template(
        "notifications/outbox.html",
        rows=list(db.session.scalars(query)),
        status=status,
        statuses=MAIL_STATUSES,
        labels=MAIL_STATUS_LABELS,
        counts=counts,
        mail_service=mail_service(),
    )


@bp.route("/outbox/<int:mail_id>/retry", methods=["POST"])
@login_required
def outbox_retry(mail_id: int) -> Response:
    sess = require_tool_admin("The mail outbox is for tool administrators.")
    row = db.session.get(MailOutbox, mail_id)
    if row is None:
        raise NotFound(gettext("There is no message %(id)s in the outbox.", id=mail_id))
    before = row.status
    requeue(row)
    audit.record(
        "mail.retried",
        actor=sess.user,
        role="tool_admin",
        subject=row,
        before={"status": before},
        after={"status": row.status},
    )
    db.session.commit()
    return redirect(url_for("notifications.outbox_page", status=request.form.get("status") or None), code=303)


# --- public: what an e-mail links to ------------------------------------------------------------------------


@mail_bp.route("/open/<token>")
def open_notice(token: str) -> ResponseReturnValue:
    """A notice's link in an e-mail whose placement gave no LMS address. Its own signed-in reader goes on to it;
    anyone else is told to open the activity from their course (a launch signs them in)."""
    notice_id = links.read_open_token(token)
    notice = db.session.get(Notification, notice_id) if notice_id is not None else None
    if notice is None:
        raise NotFound("This link is not valid.", hint="Open the tool from your course on your learning platform.")
    sess = current_session()
    if sess is not None and sess.user_id == notice.user_id:
        _mark_read(notice)
        db.session.commit()
        return redirect(target_url(notice), code=303)
    link = notice.resource_link
    return render_template(
        "notifications/open.html",
        activity=link.title if link is not None else "",
        course=link.context.title if link is not None and link.context is not None else "",
        lms_url=links.activity_url(link),
    )


def _unsubscribe_subject(token: str) -> tuple[LtiUser, str]:
    found = links.read_unsubscribe_token(token)
    user = db.session.get(LtiUser, found[0]) if found else None
    if found is None or user is None or (found[1] != kinds.ALL and found[1] not in kinds.BY_NAME):
        raise NotFound(
            "This unsubscribe link is not valid.", hint="Choose your e-mails on the tool's Notifications page."
        )
    return user, found[1]


@mail_bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Stop e-mails of one kind (or all) for the person the link was made for: notices stay in the tool. A GET
    only asks (mail scanners open links); the button, or a mail program's one-click POST (RFC 8058), does it."""
    user, kind = _unsubscribe_subject(token)
    label = kinds.BY_NAME[kind].label if kind in kinds.BY_NAME else ""
    if request.method == "POST":
        for name in kinds.BY_NAME if kind == kinds.ALL else (kind,):
            if channel_for(user.id, name) == EMAIL:
                set_channel(user.id, name, IN_TOOL)
        db.session.commit()
        return render_template("notifications/unsubscribed.html", label=label, every=kind == kinds.ALL)
    return render_template("notifications/unsubscribe.html", label=label, every=kind == kinds.ALL, token=token)

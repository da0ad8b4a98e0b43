"""Who may use the console, how its pages link to each other, and what each admin action is recorded as."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, url_for
from werkzeug.wrappers import Response

from lti_tool.admin import bp
from lti_tool.admin.nav import nav_items
from lti_tool.audit.actor import Actor
from lti_tool.identity.access import require_tool_admin
from lti_tool.identity.staff import TOOL_ADMIN, is_tool_admin
from lti_tool.launch.language import requested_notice
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import (
    COOKIE_NAME,
    TOKEN_PARAM,
    check_csrf,
    checks_csrf,
    current_session,
    session_probe,
)

# Short confirmations shown after a redirect (fixed texts: nothing from the request is echoed).
NOTICES = {
    "registration-activated": "The registration is active: launches from it are accepted.",
    "registration-deactivated": "The registration is deactivated: launches from it are refused.",
    "registration-deleted": "The registration was deleted.",
    "registration-created": "The registration was added.",
    "deployment-added": "The deployment was added.",
    "deployment-activated": "The deployment is active.",
    "deployment-deactivated": "The deployment is deactivated: launches through it are refused.",
    "deployment-deleted": "The deployment was deleted.",
    "partner-created": "The partner was added.",
    "deployment-attached": "The deployment now belongs to the partner.",
    "deployment-detached": "The deployment no longer belongs to a partner.",
    "key-rotated": "A new signing key was generated; the previous keys stay published until you retire them.",
    "key-retired": "The key was retired: it is no longer published.",
    "invite-revoked": "The invite was revoked.",
    "credits-column-on": "Awards in this deployment now also get a separate learning credits column (not on Open edX).",
    "credits-column-off": "Awards in this deployment get no separate credits column; the credits stay in the score's "
    "comment.",
}


@bp.before_request
@checks_csrf
def _only_tool_admins() -> None:
    sess = require_tool_admin("Only tool administrators may use the administration pages.")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(sess)


@bp.app_context_processor
def _admin_template_globals() -> dict[str, Any]:
    return {"admin_url": admin_url, "admin_nav": nav_items, "show_admin_link": show_admin_link}


TOOL_ADMIN_PROBE = "tool_admin"  # read with the session (create_app declares it: identity.staff.tool_admin_probe)


def show_admin_link() -> bool:
    sess = current_session()
    if sess is None:
        return False
    read_with_session = session_probe(TOOL_ADMIN_PROBE)
    return bool(read_with_session) if read_with_session is not None else is_tool_admin(sess.user_id)


def admin_session() -> ToolSession:
    sess = current_session()
    assert sess is not None  # _only_tool_admins ran
    return sess


def admin_who() -> Actor:
    return Actor(actor=admin_session().user, role=TOOL_ADMIN)


def admin_url(endpoint: str, **values: Any) -> str:
    """url_for, carrying the session token when the browser did not send the cookie (third-party iframe)."""
    sess = current_session()
    if sess is not None and request.cookies.get(COOKIE_NAME) != sess.id:
        values.setdefault(TOKEN_PARAM, sess.id)
    return url_for(endpoint, **values)


def back_to(endpoint: str, notice: str, **values: Any) -> Response:
    assert notice in NOTICES
    return redirect(admin_url(endpoint, notice=notice, **values), code=303)


def current_notice() -> str | None:
    return requested_notice(NOTICES)


def endpoint_exists(endpoint: str) -> bool:
    return endpoint in current_app.view_functions

"""Who is calling: the tool session started by an LTI launch, and the decorators routes use.

The session id travels in an HttpOnly cookie (SameSite=None; Secure over HTTPS so it works in
an LMS iframe). Pages also carry it in forms and links as `_s` so that a browser that blocks
third-party cookies keeps the session; it is never put into URLs that leave the tool.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, current_app, request
from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from lti_tool.launch.cookies import cookie_kwargs
from lti_tool.launch.models import ToolSession
from lti_tool.store.db import db, utcnow
from lti_tool.web.compare import same_secret
from lti_tool.web.errors import NotAllowed, UserError
from lti_tool.web.form_parsing import check_form_complete

COOKIE_NAME = "lti_tool_session"
TOKEN_PARAM = "_s"
HEADER_NAME = "X-Tool-Session"

F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()
SESSION_PROBES = "lti_tool.session_probes"
SESSION_QUERY = "lti_tool.session_query"
# A value every page needs about the signed-in person (the unread count in the header, whether to show the
# administration link), as an SQL expression correlated with ToolSession: read in the session's own query.
Probe = Callable[[], ColumnElement[Any]]


def set_session_probes(app: Flask, probes: Mapping[str, Probe]) -> None:
    """Declare what is read with every request's session (create_app): name -> expression."""
    app.extensions[SESSION_PROBES] = dict(probes)
    app.extensions.pop(SESSION_QUERY, None)


def session_probe(name: str) -> Any | None:
    """A probe's value read with this request's session, or None when none was read (no session, or the probe
    is not declared): the caller then asks the database itself."""
    current_session()
    return request.environ.get("lti_tool.session_probes", {}).get(name)


def start_session(**fields: Any) -> ToolSession:
    hours = current_app.config["SESSION_HOURS"]
    sess = ToolSession(
        id=secrets.token_urlsafe(32),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + dt.timedelta(hours=hours),
        **fields,
    )
    db.session.add(sess)
    return sess


def set_session_cookie(response: Response, sess: ToolSession) -> None:
    # Inside an LMS iframe the tool is third-party: only a partitioned SameSite=None; Secure cookie is
    # kept there by browsers that block third-party cookies (launch/cookies.py).
    response.set_cookie(
        COOKIE_NAME,
        sess.id,
        max_age=current_app.config["SESSION_HOURS"] * 3600,
        httponly=True,
        path="/",
        **cookie_kwargs(),
    )


def _presented_token() -> str | None:
    # Asked by every url_for of a page (templating: whether links carry the token): looked up once a request.
    cached = request.environ.get("lti_tool.presented_token", _MISSING)
    if cached is _MISSING:
        cached = request.headers.get(HEADER_NAME) or _form_value(TOKEN_PARAM) or request.args.get(TOKEN_PARAM)
        request.environ["lti_tool.presented_token"] = cached
    return cached


def _presented_session_id() -> tuple[str | None, bool]:
    """(session id, whether it came by cookie). The cookie wins when the browser keeps it."""
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        return cookie, True
    return _presented_token(), False


def _load_session(sid: str | None) -> ToolSession | None:
    if not sid or len(sid) > 64:
        return None
    # Every page shows who is signed in, most the course and activity, and any message flashed for it, and
    # access checks read the deployment's partner; the header's probes (unread notices, administration link)
    # come with them: one query instead of eight.
    probes: dict[str, Probe] = current_app.extensions.get(SESSION_PROBES, {})
    row = db.session.execute(_session_query(), {"sid": sid}).first()
    if row is None:
        return None
    request.environ["lti_tool.session_probes"] = dict(zip(probes, row[1:], strict=True))
    return row[0]


def _session_query() -> Select:
    """The session's query with the app's probes, built once per app (building it cost more than running it)."""
    built = current_app.extensions.get(SESSION_QUERY)
    if built is None:
        probes: dict[str, Probe] = current_app.extensions.get(SESSION_PROBES, {})
        built = (
            select(ToolSession, *(probe().label(name) for name, probe in probes.items()))
            .where(ToolSession.id == bindparam("sid"))
            .options(
                joinedload(ToolSession.user),
                joinedload(ToolSession.deployment),
                joinedload(ToolSession.context),
                joinedload(ToolSession.resource_link),
                joinedload(ToolSession.page_data),
            )
        )
        current_app.extensions[SESSION_QUERY] = built
    return built


def _form_value(name: str) -> str | None:
    try:
        return request.form.get(name)
    except RequestEntityTooLarge:
        # The body is refused (413); the error page itself must still find the session elsewhere,
        # or rendering it raises the same error again and the person gets a bare 500.
        return None


def current_session() -> ToolSession | None:
    # Cached per request (not on `g`, which can outlive a request when an app context is shared).
    cached = request.environ.get("lti_tool.session", _MISSING)
    if cached is not _MISSING:
        return cached
    sid, by_cookie = _presented_session_id()
    sess = _load_session(sid)
    if sess is None and by_cookie:
        # A stale cookie must not hide a valid token carried by the page.
        sess = _load_session(_presented_token())
        by_cookie = False
    if sess is not None and sess.expires_at < utcnow():
        sess = None
    request.environ["lti_tool.session"] = sess
    request.environ["lti_tool.session_by_cookie"] = by_cookie
    return sess


def session_needs_token() -> bool:
    """True when this browser did not send our cookie: links and forms must carry the session token."""
    if not _presented_token():
        return False  # only a session that came by token needs it carried on (and no query to know that)
    return current_session() is not None and not request.environ.get("lti_tool.session_by_cookie", False)


def require_session() -> ToolSession:
    sess = current_session()
    if sess is None:
        raise UserError(
            "Your session has ended or was never started.",
            status=401,
            title="Please launch the tool from your course",
            hint="Open the activity again from your learning platform (LMS) to start a new session.",
        )
    return sess


def check_csrf(sess: ToolSession) -> None:
    # A body cut short loses the token with the rest of the form: say what really happened.
    check_form_complete()
    token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not same_secret(token, sess.csrf_token):
        raise UserError(
            "This form has expired or did not come from the tool. Reload the page and try again.",
            status=400,
            title="Form expired",
        )


def login_required(view: F) -> F:
    """Routes that need a launched user; state-changing methods also need the CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sess = require_session()
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            check_csrf(sess)
        return view(*args, **kwargs)

    wrapper.requires_csrf = True  # type: ignore[attr-defined]  # tests/test_csrf_coverage.py looks for it
    return wrapper  # type: ignore[return-value]


def checks_csrf(hook: F) -> F:
    """Marks a blueprint's before_request hook that checks the session and CSRF token for every
    state-changing request of that blueprint (tests/test_csrf_coverage.py looks for the mark)."""
    hook.requires_csrf = True  # type: ignore[attr-defined]
    return hook


def deny(message: str) -> NotAllowed:
    return NotAllowed(
        message, hint="If you think you should have access, ask your course instructor or the tool administrator."
    )

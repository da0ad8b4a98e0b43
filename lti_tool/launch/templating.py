"""What every page template may use (session, CSRF fields, CSP nonce), and the session token that links
carry for browsers that block the tool's cookie in the LMS iframe."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, has_request_context, redirect, request
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from lti_tool.launch.session import (
    COOKIE_NAME,
    TOKEN_PARAM,
    current_session,
    session_needs_token,
    set_session_cookie,
)
from lti_tool.web.security_headers import csp_nonce

# Blueprints (and `static`) whose addresses are public or belong to another party: no session token in them
# ("mail": the pages e-mails link to, notifications/views.py).
PUBLIC_ENDPOINTS = frozenset({"static", "demo", "verify", "launch", "registration", "health", "mail"})


def install_template_helpers(app: Flask) -> None:
    """Template globals, and the session token carried in links for browsers that block our cookie."""

    @app.context_processor
    def _template_globals() -> dict:
        sess = current_session()
        return {"tool_session": sess, "session_param": TOKEN_PARAM, "form_auth": _form_auth, "csp_nonce": csp_nonce}

    @app.before_request
    def _session_id_out_of_window_addresses() -> Response | None:
        return _strip_token_from_window_address()

    @app.url_defaults
    def _carry_session_token(endpoint: str, values: dict) -> None:
        # Browsers that block third-party cookies keep the session through the token in every link, but
        # never in public addresses: a verification link is shared with employers, a launch URL is stored
        # by the LMS (deep linking), and the demo LMS is another site.
        if (
            endpoint.split(".", 1)[0] not in PUBLIC_ENDPOINTS
            and TOKEN_PARAM not in values
            and has_request_context()
            and session_needs_token()
        ):
            values[TOKEN_PARAM] = current_session().id  # type: ignore[union-attr]


def _strip_token_from_window_address() -> Response | None:
    """A top-level window (a tool link opened from the LMS frame in a new tab) needs no session id in its
    address, where it can be copied or bookmarked: the window keeps the cookie. So the session moves into the
    cookie, and the page reloads without `_s`. Only for the tool's own links (same-origin): a link from
    elsewhere is never turned into a cookie, which would sign this browser in as someone else."""
    if request.method != "GET" or TOKEN_PARAM not in request.args:
        return None
    if request.headers.get("Sec-Fetch-Dest") != "document":
        return None
    token = request.args.get(TOKEN_PARAM, "")
    by_cookie = request.cookies.get(COOKIE_NAME) == token
    if not by_cookie and request.headers.get("Sec-Fetch-Site") != "same-origin":
        return None
    sess = current_session()
    if sess is None or sess.id != token:
        return None
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_PARAM])
    resp = redirect(request.script_root + request.path + ("?" + query if query else ""), code=303)
    if not by_cookie:
        set_session_cookie(resp, sess)
    return resp


def _form_auth() -> Markup:
    """Hidden fields every state-changing form carries: the CSRF token (and, for browsers that block
    third-party cookies, the session token)."""
    sess = current_session()
    if sess is None:
        return Markup("")
    return Markup(
        f'<input type="hidden" name="csrf_token" value="{escape(sess.csrf_token)}">'
        f'<input type="hidden" name="{TOKEN_PARAM}" value="{escape(sess.id)}">'
    )

"""What every page template may use (session, CSRF fields, CSP nonce), and the session token that links
carry for browsers that block the tool's cookie in the LMS iframe."""

from __future__ import annotations

from flask import Flask, has_request_context
from markupsafe import Markup, escape

from lti_tool.launch.session import TOKEN_PARAM, current_session, session_needs_token
from lti_tool.web.security_headers import csp_nonce

# Blueprints (and `static`) whose addresses are public or belong to another party: no session token in them.
PUBLIC_ENDPOINTS = frozenset({"static", "demo", "verify", "launch", "registration", "health"})


def install_template_helpers(app: Flask) -> None:
    """Template globals, and the session token carried in links for browsers that block our cookie."""

    @app.context_processor
    def _template_globals() -> dict:
        sess = current_session()
        return {"tool_session": sess, "session_param": TOKEN_PARAM, "form_auth": _form_auth, "csp_nonce": csp_nonce}

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

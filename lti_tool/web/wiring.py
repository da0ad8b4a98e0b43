"""Wires blueprints, template helpers and response headers onto the app."""

from __future__ import annotations

from flask import Flask, has_request_context
from markupsafe import Markup, escape

from lti_tool.web.auth import TOKEN_PARAM, current_session, session_needs_token
from lti_tool.web.security_headers import csp_nonce, install_security_headers

# Blueprints (and `static`) whose addresses are public or belong to another party: no session token in them.
PUBLIC_ENDPOINTS = frozenset({"static", "demo", "verify", "launch", "registration", "health"})


def register_web(app: Flask) -> None:
    from lti_tool.admin import bp as admin_bp
    from lti_tool.credentials.issuance import register_listener as register_credential_listener
    from lti_tool.credentials.pages import bp as credentials_bp
    from lti_tool.credentials.public import bp as verify_bp
    from lti_tool.launch.registration_routes import bp as registration_bp
    from lti_tool.launch.routes import bp as launch_bp
    from lti_tool.portfolio.views.learner import bp as learner_bp
    from lti_tool.web.health import bp as health_bp
    from lti_tool.web.landing import bp as home_bp
    from lti_tool.web.page_messages import init_app as init_page_messages

    init_page_messages(app)
    app.register_blueprint(launch_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(credentials_bp)
    register_credential_listener()
    from lti_tool.grading import init_app as init_grading

    init_grading(app)
    app.register_blueprint(learner_bp)
    from lti_tool.admin.staff_roles import bp as staff_admin_bp
    from lti_tool.portfolio.views.appeals import bp as appeals_bp
    from lti_tool.portfolio.views.staff import bp as staff_work_bp

    app.register_blueprint(staff_work_bp)
    app.register_blueprint(staff_admin_bp)
    app.register_blueprint(appeals_bp)
    if app.config["DEMO_PLATFORM"]:
        from lti_tool.demo_platform import services  # noqa: F401  (adds the service routes)
        from lti_tool.demo_platform.routes import bp as demo_bp

        app.register_blueprint(demo_bp)

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

    install_security_headers(app)


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

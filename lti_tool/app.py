"""The composition root: `create_app` wires every package onto one Flask app, explicitly and in order.

This is the one module that imports every package: blueprints, the landing sequence, the listeners told
about portfolio transitions, request hooks and command-line groups are all declared here, so nothing is
registered as a side effect of importing a module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

import lti_tool.models  # noqa: F401  (every table is known to db.metadata before the schema check)
from lti_tool.admin import bp as admin_bp
from lti_tool.admin.access import TOOL_ADMIN_PROBE
from lti_tool.admin.health import bp as health_bp
from lti_tool.admin.staff_roles import bp as staff_admin_bp
from lti_tool.commands import COMMANDS
from lti_tool.config import load_config
from lti_tool.credentials import issuance as credential_issuance
from lti_tool.credentials.pages import bp as credentials_bp
from lti_tool.credentials.public import bp as verify_bp
from lti_tool.demo_platform import mailbox as demo_mailbox  # (its mailbox pages join the demo blueprint)
from lti_tool.demo_platform import services as demo_services  # noqa: F401  (its service routes join the demo blueprint)
from lti_tool.demo_platform.routes import bp as demo_bp
from lti_tool.demo_platform.setup import ensure_demo_platform
from lti_tool.eqa import views as eqa_views
from lti_tool.grading import outbox as grading_outbox
from lti_tool.grading import routes as grading_routes
from lti_tool.grading import worker as grading_worker
from lti_tool.identity.grants import apply_pending_grants, has_open_pending_grant
from lti_tool.identity.staff import tool_admin_probe
from lti_tool.launch import frame_origins, language
from lti_tool.launch import registrations as launch_registrations
from lti_tool.launch.keys import key_store
from lti_tool.launch.landing import bp as home_bp
from lti_tool.launch.landing import set_landings
from lti_tool.launch.page_messages import init_app as init_page_messages
from lti_tool.launch.registration_routes import bp as registration_bp
from lti_tool.launch.routes import bp as launch_bp
from lti_tool.launch.routes import set_launch_listeners
from lti_tool.launch.session import Probe, set_session_probes
from lti_tool.launch.templating import install_template_helpers
from lti_tool.notifications import delivery as mail_delivery
from lti_tool.notifications import events as notification_events
from lti_tool.notifications.access import unread_probe
from lti_tool.notifications.views import UNREAD_PROBE, mail_bp
from lti_tool.notifications.views import bp as notifications_bp
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue import translations as catalogue_translations
from lti_tool.portfolio.review import sampling
from lti_tool.portfolio.views import learner as learner_views
from lti_tool.portfolio.views import oversight as oversight_views
from lti_tool.portfolio.views import staff as staff_views
from lti_tool.portfolio.views.appeals import bp as appeals_bp
from lti_tool.store import memo
from lti_tool.store.db import db
from lti_tool.store.schema import ensure_schema, migrate
from lti_tool.store.startup import dispose_pool_after_fork, startup_lock
from lti_tool.web import dates
from lti_tool.web.errors import register_error_handlers
from lti_tool.web.form_parsing import init_app as init_form_parsing
from lti_tool.web.observability import configure_logging, install_request_ids
from lti_tool.web.proxies import TrustedProxyFix, parse_trusted_proxies
from lti_tool.web.rate_limits import install_rate_limits
from lti_tool.web.request_guard import install_request_guard
from lti_tool.web.security_headers import install_security_headers
from lti_tool.web.urls import ToolFlask

# Where a launch lands, first match wins (see web.landing): a placement the catalogue cannot serve is
# explained before anything else; deep linking and staff work come before the course roles they also hold.
LANDINGS = (
    learner_views.placement_without_certification,
    grading_routes.land_deep_linking,
    eqa_views.land_eqa,
    staff_views.staff_work,
    grading_routes.land_instructor_roster,
    learner_views.learner_portfolio,
)

# Told about every verified launch, in its transaction: staff roles granted before the person's first
# launch take effect at it.
# A returning person's launch reads the guard with their rows and skips the listener when it is false.
LAUNCH_LISTENERS = ((apply_pending_grants, has_open_pending_grant),)

# Read with every request's session, in its one query: the header's unread count and administration link.
SESSION_PROBES: dict[str, Probe] = {UNREAD_PROBE: unread_probe, TOOL_ADMIN_PROBE: tool_admin_probe}

# Told about every portfolio transition inside its transaction. The credential is signed first, so the
# grade job written next reports an award that already carries it; the notices (and their mail) come last.
TRANSITION_LISTENERS = (
    credential_issuance.on_portfolio_transition,
    grading_outbox.on_portfolio_transition,
    notification_events.on_portfolio_transition,
)

# Told, in its transaction, when a placement is recorded as opening a portfolio started from another one (a unit
# placement of its certification): its gradebook column learns the portfolio's state at once.
PLACEMENT_LISTENERS = (grading_outbox.on_portfolio_placed,)

# Told, in its transaction, when a grade job fails for good and when a platform registers itself and waits
# for activation: tool administrators are notified.
GRADE_FAILURE_LISTENERS = (notification_events.on_grade_job_failed,)
REGISTRATION_WAITING_LISTENERS = (notification_events.on_registration_waiting,)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """App factory. `overrides` replace configuration values (used by tests)."""
    app = ToolFlask(__name__)  # external URLs on LTI_TOOL_PUBLIC_URL when set, never on the Host header
    init_form_parsing(app)  # before anything reads a form
    app.config.update(load_config(overrides))
    configure_logging(app.config["LOG_FORMAT"])
    install_request_ids(app)

    # Behind a TLS-terminating proxy, trust its X-Forwarded-* so URLs, Secure cookies and rate limits are
    # right; only from the configured proxy addresses, or any client could choose its own address.
    trusted_proxies = parse_trusted_proxies(app.config["TRUSTED_PROXIES"])
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, trusted_proxies, app.config["TRUST_PROXY"])  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db)
    register_error_handlers(app)
    install_request_guard(app)
    init_page_messages(app)
    language.install(app)  # Flask-Babel: the page's language and time zone (launch/language.py)
    for blueprint in (
        launch_bp,
        registration_bp,
        admin_bp,
        home_bp,
        health_bp,
        verify_bp,
        credentials_bp,
        grading_routes.bp,
        learner_views.bp,
        staff_views.bp,
        oversight_views.bp,
        staff_admin_bp,
        appeals_bp,
        eqa_views.bp,
        notifications_bp,
        mail_bp,
        language.bp,
    ):
        app.register_blueprint(blueprint)
    if app.config["DEMO_PLATFORM"]:
        app.register_blueprint(demo_bp)
        if not app.config["MAIL_SMTP_HOST"]:
            # The demo's mailbox page stands in for a mail server: `make run` shows the mails sent.
            mail_delivery.install_transport(app, demo_mailbox.transport)
    set_landings(app, LANDINGS)
    set_launch_listeners(app, LAUNCH_LISTENERS)
    set_session_probes(app, SESSION_PROBES)
    memo.install(app)  # rows kept in memory are forgotten when this process changes them (store/memo.py)
    for listener in TRANSITION_LISTENERS:
        workflow.add_listener(app, listener)
    for placement_listener in PLACEMENT_LISTENERS:
        workflow.add_placement_listener(app, placement_listener)
    for failure_listener in GRADE_FAILURE_LISTENERS:
        grading_worker.add_failure_listener(app, failure_listener)
    for waiting_listener in REGISTRATION_WAITING_LISTENERS:
        launch_registrations.add_waiting_listener(app, waiting_listener)
    install_template_helpers(app)
    # A catalogue's titles and texts in the page's language where its file translates them.
    app.add_template_global(catalogue_translations.localized, "localized")
    # Why a decision was sampled, kept in English with it, in the page's language.
    app.add_template_filter(sampling.reason_words, "sampling_reason")
    dates.install(app)  # the `when` filter: one date format on every page
    install_security_headers(app)
    frame_origins.install(app)
    install_rate_limits(app)
    for command in COMMANDS:  # `flask --app lti_tool.app` and test runners see the same commands
        app.cli.add_command(command)

    with app.app_context():
        init_storage(app)
    return app


def init_storage(app: Flask) -> None:
    """Create tables and keys that must exist before the first request."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (gunicorn workers) may start at once: one at a time migrates and seeds.
    with startup_lock():
        ensure_schema(app)
        key_store(app).ensure()
        if app.config["SCHEMA_MODE"] == "skip":
            return
        if app.config["DEMO_PLATFORM"]:
            ensure_demo_platform(app)
    # Under `gunicorn --preload` this runs in the master: forked workers must not share its connections.
    dispose_pool_after_fork(db.engine)

"""LTI 1.3 tool for competence-based professional accreditation."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool.config import load_config

# `db` is imported inside functions: a package-level name `db` would shadow the module lti_tool.store.db.


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """App factory. `overrides` replace configuration values (used by tests)."""
    app = Flask(__name__)
    from lti_tool.web.form_parsing import init_app as init_form_parsing

    init_form_parsing(app)  # before anything reads a form
    app.config.update(load_config(overrides))
    from lti_tool.web.observability import configure_logging, install_request_ids

    configure_logging(app.config["LOG_FORMAT"])
    install_request_ids(app)

    if app.config["TRUST_PROXY"]:
        # Behind a TLS-terminating proxy, trust its X-Forwarded-* so URLs and Secure cookies are right.
        n = app.config["TRUST_PROXY"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    from lti_tool.store.db import db

    db.init_app(app)
    import lti_tool.models  # noqa: F401  (registers every table)
    from lti_tool.store.schema import migrate

    migrate.init_app(app, db)
    from lti_tool.web.errors import register_error_handlers
    from lti_tool.web.wiring import register_web

    register_error_handlers(app)
    from lti_tool.web.request_guard import install_request_guard

    install_request_guard(app)
    register_web(app)
    from lti_tool.web.rate_limits import install_rate_limits

    install_rate_limits(app)
    from lti_tool.cli import register_cli

    register_cli(app)

    with app.app_context():
        init_storage(app)
    return app


def init_storage(app: Flask) -> None:
    """Create tables and keys that must exist before the first request."""
    from lti_tool.launch.keys import key_store
    from lti_tool.store.db import db
    from lti_tool.store.startup import dispose_pool_after_fork, startup_lock

    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from pathlib import Path

        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    from lti_tool.store.schema import ensure_schema

    # Several processes (gunicorn workers) may start at once: one at a time migrates and seeds.
    with startup_lock():
        ensure_schema(app)
        key_store(app).ensure()
        if app.config["SCHEMA_MODE"] == "skip":
            return
        if app.config["DEMO_PLATFORM"]:
            from lti_tool.demo_platform.setup import ensure_demo_platform

            ensure_demo_platform(app)
    # Under `gunicorn --preload` this runs in the master: forked workers must not share its connections.
    dispose_pool_after_fork(db.engine)

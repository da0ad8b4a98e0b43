"""Per-client-IP rate limits on the endpoints anyone on the internet can hit without a session: OIDC login,
launch, dynamic registration and certificate verification. Flask-Limiter does the counting; with several
processes the counters must live in a shared store (Redis), since each process would otherwise count only its
own share.

Behind a proxy (LTI_TOOL_TRUST_PROXY) web/proxies.py has already put the client's address in remote_addr, for
connections from the proxies in LTI_TOOL_TRUSTED_PROXIES only (anyone else could pick a new address per request).
A school behind one NAT address shares one budget: raise the limits for large classes launching at once.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

log = logging.getLogger(__name__)

# endpoint -> config key of its limit. Each endpoint counts on its own (a launch is one login + one launch).
LIMITED_ENDPOINTS = {
    "launch.login": "RATE_LIMIT_LAUNCH",
    "launch.launch": "RATE_LIMIT_LAUNCH",
    "registration.register": "RATE_LIMIT_REGISTER",
    # Certificate numbers run in sequence and the page names the learner: a limit keeps anyone from walking
    # the numbers to list who holds which certification, while an employer checking a few never meets it.
    "verify.certificate": "RATE_LIMIT_VERIFY",
    "verify.certificate_json": "RATE_LIMIT_VERIFY",
}


def _limit_for(config_key: str):  # noqa: ANN202  (a callable Flask-Limiter evaluates per request)
    return lambda: current_app.config[config_key]


def check_limit_setting(name: str, value: str) -> None:
    try:
        if not parse_many(value):
            raise ValueError(value)
    except ValueError as exc:
        raise SystemExit(
            f"Configuration error: {name} must be a rate limit such as '60/minute' or "
            f"'10/minute;100/hour', got {value!r}"
        ) from exc


def install_rate_limits(app: Flask) -> Limiter:
    for key in set(LIMITED_ENDPOINTS.values()):
        check_limit_setting(key, app.config[key])
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=app.config["RATE_LIMIT_STORAGE_URI"],
        key_prefix=app.config["RATE_LIMIT_KEY_PREFIX"],
        headers_enabled=True,  # X-RateLimit-* on limited routes, Retry-After on a 429
        # If Redis is down for a moment, count in this process rather than refuse every launch.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        enabled=app.config["RATE_LIMIT_ENABLED"],
    )
    limiter.init_app(app)
    for endpoint, key in LIMITED_ENDPOINTS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            # Flask-Limiter types its decorator Callable[P, R] -> Callable[P, R]; given Flask's sync-or-async
            # view union, mypy infers one callable returning either, which the view table's type refuses.
            app.view_functions[endpoint] = limiter.limit(_limit_for(key))(view)  # type: ignore[assignment]
    app.extensions["lti_tool.limiter"] = limiter
    return limiter

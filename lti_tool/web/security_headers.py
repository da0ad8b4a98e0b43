"""Security headers on every response: a Content-Security-Policy that allows script and style only from the
tool itself (or with this response's nonce), and lets only registered, active platforms frame the tool.

No X-Frame-Options: the tool lives in the LMS's iframe, and `frame-ancestors` says which LMS may frame it
(browsers that know CSP ignore X-Frame-Options when frame-ancestors is present anyway).

Which platforms may frame the tool is not known here: `create_app` names the source (launch.frame_origins,
the active registrations), so this plumbing imports no domain package.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.store.db import db


def origin(url: str | None) -> str | None:
    """scheme://host[:port] of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit((url or "").strip())
        parts.port  # noqa: B018  (a bad port raises ValueError)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in parts.netloc for c in " ;,'\""):
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


PLATFORM_ORIGINS = "lti_tool.frame_platform_origins"


def set_platform_origins(app: Flask, source: Callable[[], Iterable[str]]) -> None:
    """Name where the platforms that may frame the tool come from (create_app: launch.frame_origins)."""
    app.extensions[PLATFORM_ORIGINS] = source


def platform_origins() -> tuple[str, ...]:
    source = current_app.extensions.get(PLATFORM_ORIGINS)
    return tuple(source()) if source is not None else ()


def csp_nonce() -> str:
    """This response's nonce, for the rare inline <script>/<style> that cannot be a static file."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def allow_form_target(url: str) -> None:
    """Let this response's page post a form to `url`'s origin (e.g. a deep linking return to the platform)."""
    found = origin(url)
    if found:
        g.setdefault("csp_form_targets", set()).add(found)


def _policy(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(dict.fromkeys(values))}" for name, values in directives.items())


def content_security_policy() -> str:
    nonce = [f"'nonce-{g.csp_nonce}'"] if "csp_nonce" in g else []
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *nonce],
        "style-src": ["'self'", *nonce],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
    }
    targets = sorted(g.get("csp_form_targets", ()))
    if request.blueprint == "demo":
        # The demo LMS frames the tool and posts launches to it; nothing but itself may frame the demo.
        tool = origin(current_app.config.get("DEMO_TOOL_URL"))
        directives["form-action"] = ["'self'", *([tool] if tool else []), *targets]
        directives["frame-src"] = ["'self'", *([tool] if tool else [])]
        directives["frame-ancestors"] = ["'self'"]
    else:
        platforms = list(platform_origins())
        directives["form-action"] = ["'self'", *platforms, *targets]
        directives["frame-ancestors"] = ["'self'", *platforms]
    return _policy(directives)


def install_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        try:
            resp.headers.setdefault("Content-Security-Policy", content_security_policy())
        except SQLAlchemyError:  # the database is down: the strictest policy still lets the error page show
            db.session.rollback()
            resp.headers.setdefault(
                "Content-Security-Policy",
                _policy(
                    {
                        "default-src": ["'self'"],
                        "object-src": ["'none'"],
                        "base-uri": ["'self'"],
                        "form-action": ["'self'"],
                        "frame-ancestors": ["'self'"],
                    }
                ),
            )
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp

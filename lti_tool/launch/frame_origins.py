"""Which LMS origins may frame the tool and receive its forms: the issuer and login URL origins of the
active registrations (plus the demo platform and LTI_TOOL_FRAME_ANCESTORS), for the Content-Security-Policy
that web.security_headers writes.

Cached per process for FRAME_ORIGINS_CACHE_SECONDS; a change of registrations in this process is seen at
once, other processes see it when their cache expires.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from lti_tool.launch.models import Registration
from lti_tool.store.db import db
from lti_tool.web.security_headers import origin, set_platform_origins

_generation = 0  # bumped when this process flushes a change to a registration


def _load_platform_origins(app: Flask) -> tuple[str, ...]:
    rows = db.session.execute(
        select(Registration.issuer, Registration.auth_login_url).where(Registration.active.is_(True))
    ).all()
    found = {origin(url) for url in chain.from_iterable(rows)}
    if app.config.get("DEMO_PLATFORM"):
        found.add(origin(app.config.get("DEMO_BASE_URL")))
    found.update(origin(o) for o in app.config.get("FRAME_ANCESTORS_EXTRA", ()))
    found.discard(None)
    return tuple(sorted(found))  # type: ignore[arg-type]


def platform_origins() -> tuple[str, ...]:
    """Origins of the active registered platforms (and the demo platform), briefly cached."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache: dict[str, Any] = app.extensions.setdefault("lti_tool.platform_origins", {})
    now = time.monotonic()
    if cache.get("generation") != _generation or cache.get("expires", 0) <= now:
        cache.update(
            origins=_load_platform_origins(app),
            generation=_generation,
            expires=now + app.config["FRAME_ORIGINS_CACHE_SECONDS"],
        )
    return cache["origins"]


def _registration_changed(session: Session, flush_context: Any) -> None:
    global _generation
    if any(isinstance(obj, Registration) for obj in chain(session.new, session.dirty, session.deleted)):
        _generation += 1


def install(app: Flask) -> None:
    """Make the active registrations the source of frame-ancestors (called by create_app)."""
    if not event.contains(Session, "after_flush", _registration_changed):
        event.listen(Session, "after_flush", _registration_changed)
    set_platform_origins(app, platform_origins)

"""Flask's `session` (the tool uses it only for flashed messages) kept server-side with the tool session.

Flask keeps it in a cookie of its own, which a browser that blocks third-party cookies refuses inside an LMS
iframe: "Decision recorded" and the like were then lost between the form and the next page. With a tool
session (by cookie or by token) the data lives in the shared cache table under that session's id; requests
without one (demo LMS, public pages) keep Flask's signed cookie.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from sqlalchemy import delete, insert
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.launch.models import PAGE_DATA_PREFIX, CacheEntry
from lti_tool.launch.session import current_session
from lti_tool.store.db import db, utcnow

log = logging.getLogger(__name__)
KEY_PREFIX = PAGE_DATA_PREFIX


class ServerSideSession(SecureCookieSession):
    tool_session_id: str = ""


class ToolSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        static = request.path.startswith((app.static_url_path or "/static") + "/")
        try:
            sess = None if static else current_session()
            entry = sess.page_data if sess is not None else None
            stored = json.loads(entry.value) if entry is not None and entry.expires_at > utcnow() else None
        except SQLAlchemyError:
            # The database is down: this runs before the view, outside the error pages' reach. Carry on
            # without stored messages; the view meets the same error and the person gets the 503 page.
            db.session.rollback()
            request.environ.pop("lti_tool.session", None)
            return super().open_session(app, request)
        if sess is None:
            return super().open_session(app, request)
        page = ServerSideSession(stored or {})
        page.tool_session_id = sess.id
        return page

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSideSession):
            return super().save_session(app, session, response)
        if not session.modified:
            return None
        _store(KEY_PREFIX + session.tool_session_id, dict(session), int(app.config["SESSION_HOURS"]) * 3600)
        return None


def _store(key: str, data: dict[str, Any], ttl_seconds: int) -> None:
    # On a connection of its own: committing the request's ORM session here could commit half of a request
    # that failed (error pages read the messages too).
    try:
        with db.engine.begin() as conn:
            conn.execute(delete(CacheEntry).where(CacheEntry.key == key))
            if data:
                conn.execute(
                    insert(CacheEntry).values(
                        key=key, value=json.dumps(data), expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds)
                    )
                )
    except Exception:  # a lost message must not turn the page into an error
        log.warning("page messages for a session could not be saved", exc_info=True)


def init_app(app: Flask) -> None:
    app.session_interface = ToolSessionInterface()

"""The addresses in e-mails: the way back into the tool through the LMS, the tool's public page for a notice,
and unsubscribe links. Never a session token: an e-mail is forwarded, stored and read on other machines.

- Mail links are built from the route table itself (`_path`), not `url_for`: `url_for` adds the session token
  of the request that happens to write the mail (launch/templating.py), which would be someone else's.
- The base is LTI_TOOL_PUBLIC_URL (the tool's own address for the demo or development without it), never
  the Host header of the request that writes the mail, which its sender chooses.
- A placement's custom parameter `activity_url` (set in the LMS, where platforms fill in their own
  variables, e.g. Moodle's `https://moodle.example/mod/lti/view.php?l=$ResourceLink.id`) is where the
  activity opens in the LMS: mails link there, so the tool opens through a fresh launch. Without it a mail
  links to the tool's public page for the notice (views.open_notice), which sends a signed-in person on and
  tells anyone else to open the activity from their course.
- Tokens are signed with the app's secret (itsdangerous): an open link names one notice, an unsubscribe link
  one person and kind. Neither signs anyone in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from lti_tool.launch.models import ResourceLink, ToolSession
from lti_tool.launch.session import TOKEN_PARAM
from lti_tool.store.db import db

OPEN_SALT = "notification-open"
UNSUBSCRIBE_SALT = "notification-unsubscribe"
ACTIVITY_URL_PARAM = "activity_url"


class SessionTokenInMail(RuntimeError):
    """A programming error: a link about to go into a mail carries a session token."""


def mail_base(app: Flask | None = None) -> str:
    config = (app or current_app).config
    return str(config.get("PUBLIC_URL") or config.get("DEMO_TOOL_URL") or "").rstrip("/")


def mail_domain(app: Flask | None = None) -> str:
    return urlsplit(mail_base(app)).hostname or "localhost"


def _path(endpoint: str, **values: Any) -> str:
    # The route table's own builder: no url_defaults, so no session token is ever added.
    return current_app.url_map.bind("localhost").build(endpoint, values)


def mail_url(endpoint: str, **values: Any) -> str:
    url = mail_base() + _path(endpoint, **values)
    check_no_session_token(url)
    return url


def check_no_session_token(text: str) -> None:
    if f"?{TOKEN_PARAM}=" in text or f"&{TOKEN_PARAM}=" in text:
        raise SessionTokenInMail("a mail link carries a session token")


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def open_token(notification_id: int) -> str:
    return _serializer(OPEN_SALT).dumps(notification_id)


def read_open_token(token: str) -> int | None:
    try:
        value = _serializer(OPEN_SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_token(user_id: int, kind: str) -> str:
    return _serializer(UNSUBSCRIBE_SALT).dumps([user_id, kind])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    try:
        value = _serializer(UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str):
        return value[0], value[1]
    return None


def unsubscribe_url(user_id: int, kind: str) -> str:
    return mail_url("mail.unsubscribe", token=unsubscribe_token(user_id, kind))


def activity_url(link: ResourceLink | None) -> str | None:
    """Where the placement opens in the LMS, when its `activity_url` custom parameter says (http(s) only)."""
    if link is None:
        return None
    value = str((link.custom or {}).get(ACTIVITY_URL_PARAM) or "").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "$" in value or len(value) > 1000:
        return None  # "$..." is a variable the platform did not fill in
    return value


def entry_link_id(user_id: int, fallback: int | None = None) -> int | None:
    """The placement through which a person enters the tool: `fallback` (a learner's own portfolio's), else the
    one of their latest launch still on record."""
    if fallback is not None:
        return fallback
    return db.session.scalar(
        select(ToolSession.resource_link_id)
        .where(ToolSession.user_id == user_id, ToolSession.resource_link_id.is_not(None))
        .order_by(ToolSession.created_at.desc())
        .limit(1)
    )

"""Request ids and structured (JSON) logs, so one request can be followed across processes."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# Credentials that travel in URLs, forms and headers, and so reach access logs and error messages: the one
# list of what a log line must never show. Query and form parameters by name (any case):
SECRET_PARAMETERS = (
    "registration_token",  # dynamic registration: the platform's one-time bearer token
    "id_token",  # a signed launch: replaying it within its lifetime is a login
    "jwt",  # deep-linking responses
    "code",
    "client_assertion",
    "access_token",
    "refresh_token",
    "token",
    "state",  # the OIDC login state, which the state cookie matches
    "lti_storage_proof",
    "_s",  # the tool session token carried in links when the iframe blocks cookies
    "csrf_token",
    "client_secret",
    "password",
)
SECRET_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-CSRF-Token")
REDACTED = "[redacted]"

_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_PARAMETERS, key=len, reverse=True))
_PATTERNS = (
    # name=value in a query string, a form body or a cookie header (not part of a longer name: statuscode=)
    (re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{_NAMES})=)[^&\s\"';,#]+"), rf"\1{REDACTED}"),
    # 'name': 'value' and "name": "value" (a dict or JSON in a message)
    (re.compile(rf"(?i)(['\"](?:{_NAMES})['\"]\s*:\s*['\"])[^'\"]*"), rf"\1{REDACTED}"),
    # Header: value, to the end of the value
    (
        re.compile(rf"(?i)\b((?:{'|'.join(re.escape(h) for h in SECRET_HEADERS)})['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+"),
        rf"\1{REDACTED}",
    ),
    # A bearer token or a JWT anywhere else
    (re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
)
_TRIGGERS = tuple(n.lower() for n in (*SECRET_PARAMETERS, *SECRET_HEADERS)) + ("bearer", "eyj")


def redact(text: str) -> str:
    """`text` with every credential the lists above name replaced by [redacted]."""
    lowered = text.lower()
    if not any(t in lowered for t in _TRIGGERS):  # most lines: no regular expression runs at all
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts credentials from a record's message (on the loggers of access logs, and on our handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RequestIdFilter(RedactingFilter):
    """Adds the request id, and redacts credentials from any line (access logs show URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return super().filter(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))  # the traceback too: exception messages may quote a URL


def configure_logging(fmt: str) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_lti_tool", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._lti_tool = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    # Alembic announces every plugin and context at INFO on each start; only its warnings matter here.
    if sys.argv[1:2] != ["db"]:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    # Access logs written by the server's own handlers (gunicorn's, when it logs to a file) never reach ours:
    # their loggers redact too.
    for name in ACCESS_LOGGERS:
        access = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in access.filters):
            access.addFilter(RedactingFilter())


def install_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_ID.match(incoming) else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(resp: Response) -> Response:
        resp.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return resp

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
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_SESSION_TOKEN = re.compile(r"([?&]_s=)[^&\s\"']+")


class RequestIdFilter(logging.Filter):
    """Adds the request id, and redacts session tokens from any line (access logs show URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        message = record.getMessage()
        if "_s=" in message:
            record.msg = _SESSION_TOKEN.sub(r"\1[redacted]", message)
            record.args = None
        return True


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
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))


def install_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_ID.match(incoming) else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(resp: Response) -> Response:
        resp.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return resp

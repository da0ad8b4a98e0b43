"""Credentials never reach a log line: the request log of a real server, and any message or traceback."""

from __future__ import annotations

import io
import logging
import threading

import pytest
import requests
from werkzeug.serving import make_server

from lti_tool.web.observability import SECRET_HEADERS, SECRET_PARAMETERS, configure_logging, redact

SECRET = "S3cr3t-value-9Q"


@pytest.fixture
def log_output(sqlite_app):
    """What the tool's log handler writes, while the test runs."""
    configure_logging("text")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_lti_tool", False))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
        werkzeug_logger.setLevel(level)


def test_the_request_log_of_a_real_server_shows_no_credential(sqlite_app, log_output):
    server = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        query = {name: SECRET for name in SECRET_PARAMETERS}
        query["openid_configuration"] = "https://lms.example/.well-known/openid-configuration"
        requests.get(base + "/lti/register", params=query, timeout=10)
        requests.get(base + "/healthz", params={"_s": SECRET, "id_token": "eyJhbGciOi.eyJzdWIi.c2ln"}, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    logged = log_output.getvalue()
    assert "GET /lti/register?" in logged and "GET /healthz?" in logged  # the lines were written...
    assert "registration_token=[redacted]" in logged
    assert SECRET not in logged and "eyJhbGciOi" not in logged  # ...without the secrets


@pytest.mark.parametrize("name", SECRET_PARAMETERS)
def test_every_credential_parameter_is_redacted(name):
    for line in (f"GET /x?a=1&{name}={SECRET}&b=2", f"{name}={SECRET}", f"{{'{name}': '{SECRET}'}}"):
        assert SECRET not in redact(line), line
    assert redact(f"GET /x?a=1&{name}={SECRET}&b=2") == f"GET /x?a=1&{name}=[redacted]&b=2"


@pytest.mark.parametrize("header", SECRET_HEADERS)
def test_every_credential_header_is_redacted(header):
    assert SECRET not in redact(f"{header}: Bearer {SECRET}")
    assert SECRET not in redact(f"headers={{'{header}': 'x={SECRET}; y=2'}}")


def test_other_text_is_left_alone():
    line = "GET /portfolio/3?page=2&statuscode=5 HTTP/1.1 200"
    assert redact(line) == line


def test_a_traceback_is_redacted_too(sqlite_app, log_output):
    try:
        raise ValueError(f"could not fetch https://lms.example/x?registration_token={SECRET}")
    except ValueError:
        logging.getLogger("lti_tool.test").exception("failed")
    assert "registration_token=[redacted]" in log_output.getvalue() and SECRET not in log_output.getvalue()

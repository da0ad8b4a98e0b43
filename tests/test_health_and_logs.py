from __future__ import annotations

import json
import logging

from lti_tool.web.observability import JsonFormatter, RequestIdFilter


def test_health_reports_database_and_keys(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["keys"].endswith("active")


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated and " " not in generated


def test_json_log_lines_carry_the_request_id(sqlite_app):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with sqlite_app.test_request_context("/"):
        from flask import g

        g.request_id = "rid-1"
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world" and line["request_id"] == "rid-1" and line["level"] == "INFO"

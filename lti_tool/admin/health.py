"""Health endpoint for load balancers and operators: database, keys, grade-sync backlog."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from lti_tool.grading.backlog import pending_job_count
from lti_tool.launch.keys import key_store
from lti_tool.store.db import db

bp = Blueprint("health", __name__)


def _backlog() -> int | None:
    return pending_job_count()


@bp.route("/healthz")
def healthz() -> Response:
    checks: dict[str, Any] = {}
    ok = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy, and says why
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
        ok = False
    try:
        keys = key_store().active_keys()
        checks["keys"] = f"{len(keys)} active" if keys else "none"
        ok = ok and bool(keys)
    except Exception as exc:  # unreadable key files
        checks["keys"] = f"error: {exc.__class__.__name__}"
        ok = False
    if checks["database"] == "ok":
        checks["grade_sync_backlog"] = _backlog()
    resp = jsonify({"status": "ok" if ok else "unhealthy", "checks": checks})
    resp.status_code = 200 if ok else 503
    return resp

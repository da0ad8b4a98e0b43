"""Results back to the LMS: AGS line items and scores through a durable outbox and worker, deep linking
with line items, and the instructor's roster (NRPS).

For other modules:
- `enqueue_for_state(portfolio)`: call it in the transaction that creates a portfolio (the "started" score);
  every later state change is picked up from `workflow.transition` by the listener registered here.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from lti_tool.grading.outbox import enqueue_for_state

__all__ = ["enqueue_for_state", "init_app"]


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"Configuration error: {name} must be a number, got {raw!r}") from exc


def _defaults() -> dict[str, Any]:
    thread = os.environ.get("LTI_TOOL_GRADING_THREAD", "1").strip().lower() in {"1", "true", "yes", "on"}
    return {
        # The in-process worker `lti-tool serve` starts (embedded setup); production runs `lti-tool grading worker`.
        "GRADING_WORKER_THREAD": thread,
        "GRADING_POLL_SECONDS": _env_number("LTI_TOOL_GRADING_POLL_SECONDS", 3),
        # Longer than one delivery can take (a few HTTP calls, each with HTTP_TIMEOUT).
        "GRADING_LEASE_SECONDS": _env_number("LTI_TOOL_GRADING_LEASE_SECONDS", 300),
        "GRADING_BACKOFF_SECONDS": _env_number("LTI_TOOL_GRADING_BACKOFF_SECONDS", 30),
        "GRADING_BACKOFF_MAX_SECONDS": _env_number("LTI_TOOL_GRADING_BACKOFF_MAX_SECONDS", 3600),
        "GRADING_MAX_ATTEMPTS": int(_env_number("LTI_TOOL_GRADING_MAX_ATTEMPTS", 20)),
        # Jobs claimed per transaction: fewer round trips to the database per score; a worker that dies
        # mid-batch leaves at most this many scores to be delivered again after the lease.
        "GRADING_BATCH_SIZE": int(_env_number("LTI_TOOL_GRADING_BATCH_SIZE", 50)),
        "GRADING_ROSTER_CACHE_SECONDS": int(_env_number("LTI_TOOL_GRADING_ROSTER_CACHE_SECONDS", 60)),
    }


def init_app(app: Flask) -> None:
    from lti_tool.grading.outbox import on_portfolio_transition
    from lti_tool.grading.routes import bp
    from lti_tool.portfolio import workflow

    for key, value in _defaults().items():
        app.config.setdefault(key, value)
    workflow.on_transition(on_portfolio_transition)
    app.register_blueprint(bp)
    from lti_tool.grading.routes import register_landings

    register_landings()

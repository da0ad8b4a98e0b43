"""How many grade jobs wait for delivery: the health endpoint reports it, so a stalled worker shows."""

from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.grading.models import IN_PROGRESS, PENDING, GradeJob
from lti_tool.store.db import db


def pending_job_count() -> int:
    """Jobs not yet delivered nor failed (pending, or leased by a worker right now)."""
    query = select(func.count()).select_from(GradeJob).where(GradeJob.status.in_((PENDING, IN_PROGRESS)))
    return int(db.session.scalar(query) or 0)

"""The grade jobs a tool administrator sees and retries: all of them (administrators are tool-wide, see
staff.is_inert)."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.grading.models import GradeJob
from lti_tool.store.db import db


def list_jobs(status: str | None, limit: int = 200) -> list[GradeJob]:
    """Newest first."""
    query = select(GradeJob)
    if status:
        query = query.where(GradeJob.status == status)
    return list(db.session.scalars(query.order_by(GradeJob.id.desc()).limit(limit)))

"""Per-day counts of how launches ended, for the operator (admin console): a launch that needs the new
window is the normal path in a browser that refuses the tool's cookie in the LMS frame, but an operator
should know how often that happens and how often it fails.

Counted in the caller's transaction (a launch commits once); a failed launch counts in its own.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lti_tool.launch.models import LaunchCounter
from lti_tool.store.db import db, rowcount, utcnow

log = logging.getLogger(__name__)

# The launches an operator should know of. handoff_*: the frame could not keep the sign-in and offered the
# new window, which was then completed, or completed in the frame once the browser granted storage access
# (handoff_in_frame), or found expired; failed: refused (bad token, expired login, a
# top-level launch without the cookie...). Launches that simply work are not counted: every one of them
# would update the same row, and concurrent launches would wait for each other on its lock.
OUTCOMES = ("handoff_offered", "handoff_completed", "handoff_in_frame", "handoff_expired", "failed")


def count(outcome: str) -> None:
    """One more `outcome` today (an upsert: two processes counting at once both count)."""
    assert outcome in OUTCOMES, outcome
    values = {"day": utcnow().date(), "outcome": outcome, "count": 1}
    dialect = db.session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgres_insert(LaunchCounter) if dialect == "postgresql" else sqlite_insert(LaunchCounter)
        db.session.execute(
            insert.values(values).on_conflict_do_update(
                index_elements=["day", "outcome"], set_={"count": LaunchCounter.count + 1}
            )
        )
        return
    bump = (
        update(LaunchCounter)
        .where(LaunchCounter.day == values["day"], LaunchCounter.outcome == outcome)
        .values(count=LaunchCounter.count + 1)
    )
    if rowcount(db.session.execute(bump)) == 0:
        try:
            with db.session.begin_nested():
                db.session.add(LaunchCounter(**values))
        except IntegrityError:
            db.session.execute(bump)


def count_now(outcome: str) -> None:
    """Count in a transaction of its own (after a refused launch has rolled back its own). A database that
    cannot count just now must not turn the person's clear refusal into an outage page."""
    try:
        count(outcome)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("launch counter %s not recorded: the database refused", outcome)


def recent(days: int = 7) -> dict[str, int]:
    """Totals per outcome over the last `days` days (today included)."""
    since = utcnow().date() - dt.timedelta(days=days - 1)
    rows = db.session.execute(
        select(LaunchCounter.outcome, func.sum(LaunchCounter.count))
        .where(LaunchCounter.day >= since)
        .group_by(LaunchCounter.outcome)
    ).all()
    totals = dict.fromkeys(OUTCOMES, 0)
    totals.update({outcome: int(total or 0) for outcome, total in rows})
    return totals

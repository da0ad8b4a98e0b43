"""`lti-tool housekeeping purge`: remove expired rows that nothing reads again (run it from cron).

Abandoned logins leave their state and nonce in the shared cache, and every launch leaves a session row;
both expire but are only skipped, not removed, when read.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import delete

from lti_tool.db import db, utcnow
from lti_tool.launch.cache import cache_purge_expired
from lti_tool.launch.models import ToolSession


def purge_expired() -> dict[str, int]:
    """Delete expired cache entries and sessions; how many of each."""
    cache = cache_purge_expired()
    sessions = db.session.execute(delete(ToolSession).where(ToolSession.expires_at < utcnow())).rowcount or 0
    db.session.commit()
    return {"cache": cache, "sessions": sessions}


@click.group("housekeeping", help="Routine clean-up for production (run from cron or a timer).")
def housekeeping_cli() -> None:
    pass


@housekeeping_cli.command("purge", help="Remove expired login states, nonces, cached values and sessions.")
@with_appcontext
def purge_command() -> None:
    counts = purge_expired()
    click.echo(f"Removed {counts['cache']} expired cache entries and {counts['sessions']} expired sessions.")

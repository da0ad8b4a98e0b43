"""`lti-tool housekeeping`: routine clean-up, run from cron. `purge` removes expired rows that nothing reads again,
and deletes the files of EQA packs past their expiry (lti_tool/eqa/jobs.py).

Abandoned logins leave their state and nonce in the shared cache, and every launch leaves a session row;
both expire but are only skipped, not removed, when read. `sweep-evidence` removes evidence files that
nothing refers to (see lti_tool/portfolio/evidence_sweep.py).
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext
from sqlalchemy import delete

from lti_tool.eqa.jobs import expire_packs
from lti_tool.launch.cache import cache_purge_expired
from lti_tool.launch.models import ToolSession
from lti_tool.notifications.delivery import purge_sent
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.evidence.sweep import sweep_evidence
from lti_tool.store.db import db, rowcount, utcnow


def purge_expired() -> dict[str, int]:
    """Delete expired cache entries and sessions, and the files of expired EQA packs; how many of each."""
    cache = cache_purge_expired()
    sessions = rowcount(db.session.execute(delete(ToolSession).where(ToolSession.expires_at < utcnow()))) or 0
    packs = expire_packs()
    db.session.commit()
    counts = {"cache": cache, "sessions": sessions, "packs": packs.packs, "pack_files": packs.files}
    return {**counts, "mails": purge_sent()}


@click.group("housekeeping", help="Routine clean-up for production (run from cron or a timer).")
def housekeeping_cli() -> None:
    pass


@housekeeping_cli.command("purge", help="Remove expired login states, nonces, cached values and sessions.")
@with_appcontext
def purge_command() -> None:
    counts = purge_expired()
    click.echo(f"Removed {counts['cache']} expired cache entries and {counts['sessions']} expired sessions.")
    click.echo(f"Expired {counts['packs']} EQA packs and deleted {counts['pack_files']} pack files.")
    click.echo(f"Removed {counts['mails']} sent e-mails kept past LTI_TOOL_MAIL_KEEP_DAYS.")


@housekeeping_cli.command(
    "sweep-evidence",
    short_help="Remove evidence files that nothing refers to.",
    help="Remove evidence files that no evidence item or submission refers to (left by a process that was "
    "stopped mid-upload or mid-removal), and the pieces of uploads that never finished.",
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Hours: files written more recently are left alone.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@with_appcontext
def sweep_evidence_command(older_than: float, dry_run: bool) -> None:
    report = sweep_evidence(storage(), older_than=dt.timedelta(hours=older_than), dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {len(report.unrecorded)} stored files with no record and {len(report.unreferenced)} "
        f"recorded files that nothing refers to"
        + ("." if dry_run else f", and {report.partials} pieces of unfinished uploads.")
    )
    if dry_run:
        for sha256 in [*report.unrecorded, *report.unreferenced]:
            click.echo(f"  {sha256}")
    for what, problem in report.problems:
        click.echo(f"  {what}: {problem}", err=True)
    if report.problems:
        raise click.ClickException(
            "Some files could not be checked or removed (listed above); run the sweep "
            "again once the storage or database answers."
        )

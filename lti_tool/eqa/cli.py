"""`lti-tool pack`: build a pack for an operator, run the pack worker, and check a pack offline."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from lti_tool.audit.actor import cli_actor, cli_errors
from lti_tool.eqa import jobs
from lti_tool.eqa import manifest as mf
from lti_tool.eqa.models import PORTFOLIO, READY, SAMPLE
from lti_tool.portfolio.models import Portfolio
from lti_tool.store.db import db


@click.group("pack", help="External quality assurance packs: build, run the builder, verify.")
def pack_cli() -> None:
    pass


@pack_cli.command("build", help="Build a pack of one or more portfolios now (the operator's way; audited).")
@click.option("--portfolio", "portfolio_ids", type=int, multiple=True, required=True, help="A portfolio id (repeat).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Copy the ZIP here too.")
@with_appcontext
def build_command(portfolio_ids: tuple[int, ...], out: Path | None) -> None:
    with cli_errors():
        missing = [i for i in portfolio_ids if db.session.get(Portfolio, i) is None]
        if missing:
            raise click.ClickException(f"No portfolio with id {', '.join(map(str, missing))}.")
        ids = list(dict.fromkeys(portfolio_ids))
        job = jobs.request_pack(cli_actor(), ids, kind=PORTFOLIO if len(ids) == 1 else SAMPLE)
        db.session.commit()
        job_id = job.id
    worker_id = jobs.default_worker_id()
    if not jobs.claim(job_id, worker_id):  # a background worker took it first: it builds it
        raise click.ClickException(f"Pack {job_id} is being built by the background worker; see 'pack work'.")
    job = jobs.build(job_id, worker_id)
    if job.state != READY:
        raise click.ClickException(f"Pack {job.id} failed: {job.error}")
    click.echo(f"Pack {job.id}: {job.file_path} ({job.size} bytes, sha256 {job.sha256}).")
    if out is not None:
        shutil.copyfile(job.file_path, out)
        click.echo(f"Copied to {out}.")


@pack_cli.command("work", help="Build queued packs in the background (the production worker).")
@click.option("--once", is_flag=True, help="Build what is queued now, then exit (for cron).")
@with_appcontext
def work_command(once: bool) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    with _stop_on_sigterm(stop):
        if not once:
            click.echo("Pack worker running; stop with Ctrl-C or SIGTERM (the pack in hand is finished first).")
        try:
            built = jobs.run_worker(app, once=once, stop=stop)
        except KeyboardInterrupt:
            click.echo("Stopped.")
            return
    click.echo(f"Built {built} pack(s).")


@pack_cli.command(
    "verify",
    help="Check a pack offline: every file against the signed manifest (nothing changed, missing or added) and "
    "the signature. Exit code 1 when anything is wrong.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trusted-jwks",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved copy of the issuer's published key set (<issuer>/jwks.json): the signing key must be in it.",
)
def verify_command(file: Path, trusted_jwks: Path | None) -> None:
    if not file.is_file():
        raise click.ClickException(f"{file}: no such file.")
    trusted = None
    if trusted_jwks is not None:
        try:
            trusted = json.loads(trusted_jwks.read_text())
        except (ValueError, OSError) as exc:
            raise click.ClickException(f"{trusted_jwks} is not a JSON key set: {exc}") from exc
    report = mf.verify(file, trusted)
    for line in mf.describe(report):
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM finishes the pack in hand, then stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

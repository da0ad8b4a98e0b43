"""`lti-tool grading`: list and retry grade jobs, and run the delivery worker."""

from __future__ import annotations

import contextlib
import getpass
import signal
import threading
from collections.abc import Iterator

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit import trail as audit
from lti_tool.audit.actor import cli_actor
from lti_tool.grading import gradebook
from lti_tool.grading.admin import list_jobs
from lti_tool.grading.models import FAILED, JOB_STATUSES, GradeJob
from lti_tool.grading.outbox import requeue
from lti_tool.grading.worker import default_worker_id, run_worker
from lti_tool.launch.registrations import find_registration
from lti_tool.store.db import db
from lti_tool.web.errors import UserError


@click.group("grading", help="Grade delivery to the LMS gradebooks (AGS).")
def grading_cli() -> None:
    pass


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"  # type: ignore[attr-defined]


@grading_cli.command("jobs")
@click.option("--status", type=click.Choice(JOB_STATUSES), default=None, help="Only jobs in this status.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@with_appcontext
def jobs_command(status: str | None, limit: int) -> None:
    jobs = list_jobs(status, limit)
    if not jobs:
        click.echo("No grade jobs" + (f" with status {status}." if status else "."))
        return
    for job in jobs:
        click.echo(
            f"[{job.id}] {job.status:<11} {job.target:<7} state={job.state:<14} learner={job.lms_user_id} "
            f"link={job.resource_link.resource_link_id} attempts={job.attempts} "
            f"created={_when(job.created_at)} next={_when(job.next_attempt_at)}"
        )
        if job.last_error:
            # A delivered job's text is a note (the platform already held the score), not an error.
            label = "note" if job.status == "delivered" else "error"
            click.echo(f"     {label}: " + job.last_error.replace("\n", "\n     "))


# `lti-tool grading list` is the same listing (the name the other groups use for theirs).
grading_cli.add_command(jobs_command, "list")


@grading_cli.command("retry")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Retry every failed job.")
@with_appcontext
def retry_command(job_ids: tuple[int, ...], all_failed: bool) -> None:
    if not job_ids and not all_failed:
        raise click.UsageError("Give one or more JOB_IDs, or --all-failed.")
    jobs = []
    for job_id in job_ids:
        job = db.session.get(GradeJob, job_id)
        if job is None:
            raise click.ClickException(f"No grade job {job_id}. See 'lti-tool grading jobs'.")
        jobs.append(job)
    if all_failed:
        jobs.extend(db.session.scalars(select(GradeJob).where(GradeJob.status == FAILED).order_by(GradeJob.id)))
    actor = f"cli:{getpass.getuser()}"
    done = 0
    for job in dict.fromkeys(jobs):
        before = job.status
        try:
            requeue(job)
        except UserError as exc:
            if not all_failed or job.id in job_ids:
                db.session.rollback()
                raise click.ClickException(exc.message) from exc
            click.echo(f"Skipped job {job.id}: {exc.message}")
            continue
        audit.record(
            "grading.job_retried",
            actor_label=actor,
            role="tool_admin",
            subject=job,
            before={"status": before},
            after={"status": job.status},
        )
        done += 1
    db.session.commit()
    click.echo(f"{done} job(s) queued for delivery again.")


@grading_cli.command("credits-column")
@click.option("--issuer", required=True, help="The platform's issuer (iss).")
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@click.option("--on/--off", "on", default=None, help="Turn the separate credits column on or off (default: show).")
@with_appcontext
def credits_column_command(issuer: str, client_id: str, deployment_id: str, on: bool | None) -> None:
    """Whether awards also get a separate learning credits column in this deployment's gradebooks.

    Off by default: the credits are always in the main score's comment. On Moodle a credits column counts
    into the course total; on Open edX it is never made (it would overwrite the activity's grade).
    """
    reg = find_registration(issuer.strip(), client_id.strip())
    if reg is None:
        raise click.ClickException(f"No registration for issuer {issuer!r} and client ID {client_id!r}.")
    dep = next((d for d in reg.deployments if d.deployment_id == deployment_id.strip()), None)
    if dep is None:
        raise click.ClickException(f"No deployment {deployment_id!r} on {reg.label()}.")
    if on is not None:
        gradebook.set_credits_column(cli_actor("tool_admin"), dep, on)
        db.session.commit()
    state = "on" if gradebook.credits_column_opted_in(dep.id) else "off"
    click.echo(
        f"Separate credits column for deployment {dep.deployment_id!r} of {reg.label()}: {state}. "
        "The credits are always in the main score's comment; Open edX placements never get the column."
    )


@grading_cli.command("worker")
@click.option("--once", is_flag=True, help="Deliver the jobs that are due now, then exit (for cron).")
@with_appcontext
def worker_command(once: bool) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker_id = default_worker_id()
    stop = threading.Event()
    with _stop_on_sigterm(stop):
        if not once:
            click.echo(
                f"Grade worker {worker_id} running; stop with Ctrl-C or SIGTERM. Jobs interrupted "
                "mid-delivery are delivered again once their lease runs out."
            )
        try:
            totals = run_worker(app, once=once, worker_id=worker_id, stop=stop)
        except KeyboardInterrupt:
            click.echo("Stopped.")
            return
    click.echo(f"Delivered {totals['delivered']}, to retry later {totals['pending']}, failed {totals['failed']}.")


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (systemd, Docker, Kubernetes stopping the worker) finishes the job in hand, then stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

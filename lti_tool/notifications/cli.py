"""`lti-tool notifications`: run the mail worker and the scan, list and retry queued mail, check the SMTP
settings with a test message."""

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
from lti_tool.notifications import delivery, mail, scan
from lti_tool.notifications.models import FAILED, MAIL_STATUSES, SENT, MailOutbox
from lti_tool.notifications.notify import mail_service
from lti_tool.store.db import db
from lti_tool.web.errors import UserError


@click.group("notifications", help="Notifications: the mail worker, the mail outbox, and the scan for reminders.")
def notifications_cli() -> None:
    pass


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"  # type: ignore[attr-defined]


@notifications_cli.command("worker")
@click.option("--once", is_flag=True, help="Send the messages that are due now, then exit (for cron).")
@with_appcontext
def worker_command(once: bool) -> None:
    """Deliver queued mail (and, unless --once, look for reminders every LTI_TOOL_NOTIFY_SCAN_SECONDS)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not mail_service(app):
        click.echo("No SMTP server is configured (LTI_TOOL_MAIL_SMTP_HOST): no mail is queued or sent.")
    stop = threading.Event()
    with _stop_on_sigterm(stop):
        if not once:
            click.echo(
                "Mail worker running; stop with Ctrl-C or SIGTERM. A message interrupted mid-delivery is sent "
                "again once its lease runs out."
            )
        try:
            totals = delivery.run_worker(app, once=once, stop=stop)
        except KeyboardInterrupt:
            click.echo("Stopped.")
            return
    click.echo(f"Sent {totals[SENT]}, to retry later {totals['pending']}, failed {totals[FAILED]}.")


@notifications_cli.command("scan")
@with_appcontext
def scan_command() -> None:
    """Look once for appeal deadlines coming up, work overdue and digests due (the worker does it on its own)."""
    counts = scan.run_scan()
    click.echo(
        f"Appeal reminders {counts['appeal_reminders']}, overdue notices {counts['overdue']}, "
        f"digests {counts['digests']}."
    )


@notifications_cli.command("outbox")
@click.option("--status", type=click.Choice(MAIL_STATUSES), default=None, help="Only messages in this status.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@with_appcontext
def outbox_command(status: str | None, limit: int) -> None:
    query = select(MailOutbox).order_by(MailOutbox.id.desc()).limit(limit)
    if status:
        query = query.where(MailOutbox.status == status)
    rows = list(db.session.scalars(query))
    if not rows:
        click.echo("No messages" + (f" with status {status}." if status else "."))
        return
    for row in rows:
        click.echo(
            f"[{row.id}] {row.status:<8} to={row.to_address} attempts={row.attempts} created={_when(row.created_at)} "
            f"next={_when(row.next_attempt_at)} sent={_when(row.sent_at)}  {row.subject}"
        )
        if row.last_error:
            click.echo("     error: " + row.last_error.replace("\n", "\n     "))


@notifications_cli.command("retry")
@click.argument("mail_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Send every failed message again.")
@with_appcontext
def retry_command(mail_ids: tuple[int, ...], all_failed: bool) -> None:
    if not mail_ids and not all_failed:
        raise click.UsageError("Give one or more MAIL_IDs, or --all-failed.")
    rows = []
    for mail_id in mail_ids:
        row = db.session.get(MailOutbox, mail_id)
        if row is None:
            raise click.ClickException(f"No message {mail_id}. See 'lti-tool notifications outbox'.")
        rows.append(row)
    if all_failed:
        rows.extend(db.session.scalars(select(MailOutbox).where(MailOutbox.status == FAILED).order_by(MailOutbox.id)))
    done = 0
    for row in dict.fromkeys(rows):
        before = row.status
        try:
            delivery.requeue(row)
        except UserError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        audit.record(
            "mail.retried",
            actor_label=f"cli:{getpass.getuser()}",
            role="tool_admin",
            subject=row,
            before={"status": before},
            after={"status": row.status},
        )
        done += 1
    db.session.commit()
    click.echo(f"{done} message(s) queued to be sent again.")


@notifications_cli.command("test-mail")
@click.argument("address")
@with_appcontext
def test_mail_command(address: str) -> None:
    """Send one message to ADDRESS straight away, through the configured SMTP server, to check its settings."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    transport = delivery.transport_for(app)
    if transport is None:
        raise click.ClickException("No SMTP server is configured: set LTI_TOOL_MAIL_SMTP_HOST (and its companions).")
    composed = mail.compose(
        name="",
        language="en",
        subject="Test message from the accreditation tool",
        intro="This message checks the tool's e-mail settings. Nothing needs doing.",
        entries=[],
        unsubscribe_url="",
    )
    row = mail.Outgoing(
        0, address, "", composed.subject, composed.text, composed.html, "en", mail.new_message_id(app), "", 1
    )
    try:
        transport.send(mail.build_message(row, mail.sender(app)))
    except Exception as exc:
        failure = delivery.classify(exc)
        raise click.ClickException(f"Not sent: {failure.message}") from exc
    finally:
        transport.close()
    click.echo(f"Sent a test message to {address}.")


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (systemd, Docker, Kubernetes stopping the worker) finishes the message in hand, then stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

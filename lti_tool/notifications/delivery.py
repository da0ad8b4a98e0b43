"""Delivering queued e-mail: claim with a lease, hand to the SMTP server, record; retry with backoff.

1. Claim, in one short transaction: up to MAIL_BATCH_SIZE due messages (pending and due, or `sending` with a
   lease that ran out) become `sending` under this worker's lease, one more attempt counted. On PostgreSQL
   the rows are read FOR UPDATE SKIP LOCKED, and the update is a compare-and-set on every backend: two
   workers never hold the same message.
2. Send, outside any transaction, over one SMTP connection per batch (STARTTLS or implicit TLS, and the
   credentials, from configuration), each message with a plain-text and an HTML part (mail.build_message).
3. Record each message `sent` in its own commit as soon as the server has accepted it, and only while this
   worker still holds its lease.

Failures: a server that cannot be reached, drops the connection, refuses the login or answers 4xx leaves the
message `pending` with exponential backoff and jitter (MAIL_BACKOFF_SECONDS doubling up to
MAIL_BACKOFF_MAX_SECONDS), and the rest of the batch waits as long, unattempted; after MAIL_MAX_ATTEMPTS it
is `failed`. A 5xx about the message itself (recipient unknown, content refused) or an address that is none
fails it at once. Failed messages stay listed (`lti-tool notifications outbox --status failed`, the admin
page) and can be queued again (`lti-tool notifications retry`).

Exactly once, and the one window where it is not: a server that refuses or cannot be reached never received
the message, and the row waits: nothing is lost, nothing sent twice. The window is between the server's
acceptance of a message (its 250 reply to DATA) and the commit of step 3: a worker killed there, or whose
database is unreachable at that moment, leaves the row `sending`; once its lease (MAIL_LEASE_SECONDS) runs
out the message is sent again. Recording `sent` before sending would close the window the other way, by
losing the message, and a lost decision notice is worse than a repeated one. The copy carries the same
Message-ID, fixed when the message was queued, by which mail systems and clients recognise it. A connection
that drops after DATA but before the 250 arrives falls in the same window.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from flask import Flask, current_app
from flask_babel import gettext
from sqlalchemy import and_, delete, or_, select, update

from lti_tool.notifications import mail, scan
from lti_tool.notifications.models import FAILED, PENDING, SENDING, SENT, MailOutbox
from lti_tool.notifications.notify import MAIL_TRANSPORT
from lti_tool.store.db import db, rowcount, utcnow
from lti_tool.web.background import BackgroundWorker, start_worker
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)
ERROR_LIMIT = 2000
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class Transport(Protocol):
    """Hands messages on: an SMTP connection, or the demo platform's mailbox. `send` raises on failure."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


TransportFactory = Callable[[Flask], Transport]


def install_transport(app: Flask, factory: TransportFactory) -> None:
    """Deliver through `factory`'s transport when no SMTP server is configured (create_app: the demo mailbox)."""
    app.extensions[MAIL_TRANSPORT] = factory


class SmtpTransport:
    """One SMTP connection, opened at the first message and kept for the batch."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.connection: smtplib.SMTP | None = None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.get("MAIL_SMTP_CA_FILE") or None)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        security = c["MAIL_SMTP_SECURITY"]
        host, port = c["MAIL_SMTP_HOST"], int(c["MAIL_SMTP_PORT"] or DEFAULT_PORTS[security])
        timeout = float(c["MAIL_SMTP_TIMEOUT"])
        connection: smtplib.SMTP
        if security == "tls":
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls_context())
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        try:
            connection.ehlo()
            if security == "starttls":
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if c.get("MAIL_SMTP_USER"):
                connection.login(c["MAIL_SMTP_USER"], c.get("MAIL_SMTP_PASSWORD") or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def send(self, message: EmailMessage) -> None:
        if self.connection is None:
            self.connection = self._connect()
        refused = self.connection.send_message(message)
        if refused:  # some recipients refused (we send to one: this does not happen, but never ignore it)
            raise smtplib.SMTPRecipientsRefused(refused)

    def close(self) -> None:
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        self.connection = None


def transport_for(app: Flask) -> Transport | None:
    if app.config.get("MAIL_SMTP_HOST"):
        return SmtpTransport(app.config)
    factory = app.extensions.get(MAIL_TRANSPORT)
    return factory(app) if factory is not None else None


@dataclass(frozen=True)
class Settings:
    lease_seconds: float
    backoff_seconds: float
    backoff_max_seconds: float
    max_attempts: int
    poll_seconds: float
    batch_size: int
    scan_seconds: float

    @classmethod
    def from_app(cls, app: Flask | None = None) -> Settings:
        c = (app or current_app).config
        return cls(
            lease_seconds=float(c["MAIL_LEASE_SECONDS"]),
            backoff_seconds=float(c["MAIL_BACKOFF_SECONDS"]),
            backoff_max_seconds=float(c["MAIL_BACKOFF_MAX_SECONDS"]),
            max_attempts=int(c["MAIL_MAX_ATTEMPTS"]),
            poll_seconds=float(c["MAIL_POLL_SECONDS"]),
            batch_size=int(c["MAIL_BATCH_SIZE"]),
            scan_seconds=float(c["NOTIFY_SCAN_SECONDS"]),
        )


@dataclass
class Failure:
    retry: bool
    message: str
    server: bool  # the server (not this message) is failing: the rest of the batch waits too


def classify(exc: BaseException) -> Failure:
    def said(e: smtplib.SMTPResponseException) -> str:
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {text}".strip()

    if isinstance(exc, mail.BadAddress):
        return Failure(False, f"not an e-mail address: {str(exc)!r}", False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = [
            f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for code, msg in exc.recipients.values()
        ]
        temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
        return Failure(temporary, "the server refused the recipient: " + "; ".join(answers), False)
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused | smtplib.SMTPHeloError):
        # Configuration (credentials, sender address): every message would fail alike until it is fixed.
        return Failure(True, f"{type(exc).__name__}: {said(exc)}", True)
    if isinstance(exc, smtplib.SMTPResponseException):
        temporary = 400 <= exc.smtp_code < 500
        return Failure(temporary, f"the server answered {said(exc)}", temporary)
    if isinstance(exc, smtplib.SMTPException | OSError):  # connection refused or dropped, timeouts, TLS
        return Failure(True, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT], True)
    return Failure(True, f"unexpected error: {type(exc).__name__}: {exc}"[:ERROR_LIMIT], False)


def retry_delay(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: half to the whole of backoff x 2^(attempts-1), capped."""
    step = min(settings.backoff_max_seconds, settings.backoff_seconds * (2 ** max(attempts - 1, 0)))
    return step * (0.5 + 0.5 * (rng or random).random())


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _due(now: dt.datetime) -> Any:
    return or_(
        and_(MailOutbox.status == PENDING, MailOutbox.next_attempt_at <= now),
        and_(MailOutbox.status == SENDING, MailOutbox.lease_until < now),
    )


def claim_batch(worker_id: str, settings: Settings, size: int | None = None) -> list[int]:
    """Lease up to `size` due messages (abandoned leases first, then the oldest due), in one transaction."""
    size = size or settings.batch_size
    for _ in range(5):  # another worker may win the race for the same rows: look again
        now = utcnow()
        query = select(MailOutbox.id).where(_due(now)).order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(size)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query))
        if not ids:
            db.session.rollback()
            return []
        claimed = set(
            db.session.scalars(
                update(MailOutbox)
                .where(MailOutbox.id.in_(ids), _due(now))
                .values(
                    status=SENDING,
                    lease_until=now + dt.timedelta(seconds=settings.lease_seconds),
                    leased_by=worker_id,
                    attempts=MailOutbox.attempts + 1,
                    updated_at=now,
                )
                .returning(MailOutbox.id)
                .execution_options(synchronize_session=False)
            )
        )
        db.session.commit()
        if claimed:
            return [i for i in ids if i in claimed]
    return []


def load(ids: list[int]) -> list[mail.Outgoing]:
    rows = {
        r.id: r
        for r in db.session.scalars(
            select(MailOutbox).where(MailOutbox.id.in_(ids)).execution_options(populate_existing=True)
        )
    }
    out = [
        mail.Outgoing(
            r.id,
            r.to_address,
            r.to_name,
            r.subject,
            r.text,
            r.html,
            r.language,
            r.message_id,
            r.unsubscribe_url,
            r.attempts,
        )
        for r in (rows[i] for i in ids if i in rows)
    ]
    db.session.commit()  # no transaction stays open while the server is talked to
    return out


def _held(row_id: int, worker_id: str) -> Any:
    return and_(MailOutbox.id == row_id, MailOutbox.status == SENDING, MailOutbox.leased_by == worker_id)


def _record_sent(row_id: int, worker_id: str) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(MailOutbox)
        .where(_held(row_id, worker_id))
        .values(status=SENT, sent_at=now, lease_until=None, last_error="", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(result):
        # Another worker took it over after our lease ran out: it records its own delivery.
        db.session.rollback()
        log.warning("mail %s: sent, but the lease had passed to another worker", row_id)
        return False
    db.session.commit()
    return True


def _record_failure(
    row: mail.Outgoing, failure: Failure, worker_id: str, settings: Settings
) -> tuple[str, dt.datetime | None]:
    """Back to pending with backoff, or failed for good; (status, when it is due again)."""
    db.session.rollback()
    now = utcnow()
    if failure.retry and row.attempts >= settings.max_attempts:
        failure.retry = False
        failure.message = f"gave up after {row.attempts} attempts; last: {failure.message}"
    if failure.retry:
        delay = retry_delay(row.attempts, settings)
        values: dict[str, Any] = {"status": PENDING, "next_attempt_at": now + dt.timedelta(seconds=delay)}
        log.warning("mail %s: attempt %s failed, retry in %.0fs: %s", row.id, row.attempts, delay, failure.message)
    else:
        values = {"status": FAILED}
        log.error("mail %s failed: %s", row.id, failure.message)
    db.session.execute(
        update(MailOutbox)
        .where(_held(row.id, worker_id))
        .values(lease_until=None, leased_by=None, last_error=failure.message[:ERROR_LIMIT], updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return values["status"], values.get("next_attempt_at")


def _hand_back(ids: list[int], worker_id: str, due: dt.datetime | None = None) -> None:
    """Messages claimed but not attempted go back as they were (the attempt is not counted)."""
    if not ids:
        return
    db.session.execute(
        update(MailOutbox)
        .where(MailOutbox.id.in_(ids), MailOutbox.status == SENDING, MailOutbox.leased_by == worker_id)
        .values(
            status=PENDING,
            lease_until=None,
            leased_by=None,
            attempts=MailOutbox.attempts - 1,
            updated_at=utcnow(),
            **({"next_attempt_at": due} if due else {}),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def process_batch(
    rows: list[mail.Outgoing],
    transport: Transport,
    worker_id: str,
    settings: Settings,
    stop: threading.Event | None = None,
) -> tuple[dict[str, int], bool]:
    """Send claimed messages one after another; (counts by outcome, whether the server is failing). Messages not
    attempted go back unchanged when stopping or half the lease has gone, and all the rest once the server
    fails in a way that is not about one message (they wait as long as the failed one)."""
    counts = {SENT: 0, PENDING: 0, FAILED: 0}
    deadline = time.monotonic() + settings.lease_seconds / 2
    sender = mail.sender()
    for i, row in enumerate(rows):
        if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
            _hand_back([r.id for r in rows[i:]], worker_id)
            break
        try:
            transport.send(mail.build_message(row, sender))
        except Exception as exc:  # every failure is recorded on its message; none stops the worker
            failure = classify(exc)
            status, due = _record_failure(row, failure, worker_id, settings)
            counts[status] += 1
            if failure.server:
                transport.close()
                rest = [r.id for r in rows[i + 1 :]]
                _hand_back(rest, worker_id, due)
                counts[PENDING] += len(rest)
                return counts, True
            continue
        if _record_sent(row.id, worker_id):
            counts[SENT] += 1
            log.info("mail %s sent (attempt %s)", row.id, row.attempts)
    return counts, False


def process_due(
    worker_id: str | None = None,
    settings: Settings | None = None,
    stop: threading.Event | None = None,
    limit: int = 1000,
) -> dict[str, int]:
    """Deliver the due messages, a batch at a time, until none is due (or `limit`, or `stop`); counts by outcome.
    Nothing happens without a transport (no SMTP server configured and no demo mailbox): messages wait."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker_id = worker_id or default_worker_id()
    settings = settings or Settings.from_app(app)
    counts = {SENT: 0, PENDING: 0, FAILED: 0}
    transport = transport_for(app)
    if transport is None:
        return counts
    claimed = 0
    try:
        while claimed < limit and not (stop is not None and stop.is_set()):
            ids = claim_batch(worker_id, settings, min(settings.batch_size, limit - claimed))
            if not ids:
                break
            claimed += len(ids)
            batch, server_failing = process_batch(load(ids), transport, worker_id, settings, stop)
            for status, n in batch.items():
                counts[status] += n
            if server_failing:
                break  # the messages wait for their backoff
    finally:
        transport.close()
    return counts


def run_worker(
    app: Flask, *, once: bool = False, stop: threading.Event | None = None, worker_id: str | None = None
) -> dict[str, int]:
    """The delivery loop, which also runs the scan (scan.py) every NOTIFY_SCAN_SECONDS; with `once`, one pass
    over the due messages."""
    stop = stop or threading.Event()
    worker_id = worker_id or default_worker_id()
    settings = Settings.from_app(app)
    totals = {SENT: 0, PENDING: 0, FAILED: 0}
    next_scan = 0.0
    while not stop.is_set():
        counts: dict[str, int] = {}
        with app.app_context():
            try:
                if not once and time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + settings.scan_seconds
                    scan.run_scan()
                counts = process_due(worker_id, settings, stop)
            except Exception:  # e.g. the database is briefly unreachable: log, wait, try again
                log.exception("mail worker pass failed")
                db.session.rollback()
            finally:
                db.session.remove()
        for status, n in counts.items():
            totals[status] += n
        if once:
            break
        stop.wait(0 if counts.get(SENT) else settings.poll_seconds)
    return totals


THREAD_NAME = "mail-worker"


def start_background_worker(app: Flask) -> BackgroundWorker:
    """The in-process worker of the embedded setup (`lti-tool serve`)."""
    return start_worker(app, THREAD_NAME, lambda app, stop: run_worker(app, stop=stop))


def purge_sent(now: dt.datetime | None = None) -> int:
    """Remove sent messages older than MAIL_KEEP_DAYS (a copy of what a notice said, and an address: kept no
    longer than needed); how many. The notices themselves stay."""
    cutoff = (now or utcnow()) - dt.timedelta(days=int(current_app.config["MAIL_KEEP_DAYS"]))
    result = db.session.execute(delete(MailOutbox).where(MailOutbox.status == SENT, MailOutbox.sent_at < cutoff))
    db.session.commit()
    return rowcount(result)


class RetryRefused(UserError):
    status = 409
    title = "This message cannot be sent again"


def requeue(row: MailOutbox) -> None:
    """A failed (or waiting) message due now with a fresh count of attempts; the caller commits."""
    if row.status in (SENT, SENDING):
        raise RetryRefused(
            gettext("Message %(id)s is sent; only failed or pending messages can be retried.", id=row.id)
            if row.status == SENT
            else gettext("Message %(id)s is being sent; only failed or pending messages can be retried.", id=row.id)
        )
    row.status, row.attempts, row.next_attempt_at = PENDING, 0, utcnow()
    row.lease_until, row.leased_by, row.updated_at = None, None, utcnow()


def destination(app: Flask) -> str:
    """Where e-mail goes, in words (`lti-tool serve` says it at start)."""
    if app.config.get("MAIL_SMTP_HOST"):
        return f"the SMTP server {app.config['MAIL_SMTP_HOST']}"
    if MAIL_TRANSPORT in app.extensions:
        return f"the demo mailbox, {app.config['DEMO_BASE_URL']}/demo/mailbox"
    return "nowhere (no SMTP server configured: notices stay in the tool)"

"""Notification e-mail against a real SMTP server (aiosmtpd, started by the tests on a free port): a message with
both parts and a link without any session token; a server that is down for a while (nothing listening), then
back: nothing lost, nothing sent twice; STARTTLS with a login, implicit TLS; a refused recipient; and the one
window where a message can go twice (documented in notifications/delivery.py) carrying the same Message-ID.

Time never passes in these tests: a message waiting for its backoff is made due by setting its due time."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from lti_tool.launch import roles as lti_roles
from lti_tool.launch.session import COOKIE_NAME
from lti_tool.notifications import delivery
from lti_tool.notifications.models import FAILED, PENDING, SENDING, SENT, MailOutbox, Notification
from lti_tool.store.db import db, utcnow
from tests import assessment_factories as f
from tests.conftest import make_test_app

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Inbox:
    """What the test SMTP server received: each message as parsed, with its envelope."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [m for _, _, m in self.received]


class SmtpServer:
    def __init__(self, port: int, **kwargs: Any) -> None:
        self.port = port
        self.inbox = Inbox()
        self.kwargs = kwargs
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.inbox, hostname=HOST, port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


def mail_app(tmp_path: Path, keys_dir: Path, port: int, backend: str = "sqlite", **extra: Any) -> Any:
    config: dict[str, Any] = {
        "MAIL_SMTP_HOST": HOST,
        "MAIL_SMTP_PORT": port,
        "MAIL_SMTP_SECURITY": "none",
        "MAIL_SMTP_TIMEOUT": 5,
        "MAIL_FROM": "Accreditation portfolio <portfolio@tool.example>",
    }
    return make_test_app(backend, tmp_path, keys_dir, **{**config, **extra})


@pytest.fixture
def app_on(tmp_path, keys_dir):
    """An app sending to the SMTP server on `port` (the fixture's own app context, removed after the test)."""
    made = []

    def make(port: int, backend: str = "sqlite", **extra: Any) -> Any:
        application = mail_app(tmp_path, keys_dir, port, backend, **extra)
        ctx = application.app_context()
        ctx.push()
        made.append((application, ctx, backend))
        return application

    yield make
    for _, ctx, backend in reversed(made):
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()
        ctx.pop()


def submitted_world(email_address: str = "lee@learner.example", **custom: str) -> f.World:
    """A learner with an e-mail address submits: the learner's 'received' notice queues one message."""
    w = f.world(submitted=False)
    w.learner.email = email_address
    if custom:
        w.portfolio.resource_link.custom = dict(custom)
    db.session.commit()
    f.submit(w.portfolio)
    db.session.commit()
    return w


def outbox() -> list[MailOutbox]:
    db.session.expire_all()
    return list(db.session.scalars(select(MailOutbox).order_by(MailOutbox.id)))


def deliver() -> dict[str, int]:
    counts = delivery.process_due(worker_id="test-worker")
    db.session.expire_all()
    return counts


def make_due() -> None:
    """What waiting out the backoff does: every pending message is due now."""
    for row in outbox():
        if row.status == PENDING:
            row.next_attempt_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_notice_is_mailed_with_both_parts_and_a_link_that_carries_no_session(app_on, smtp, backend):
    app = app_on(smtp.port, backend)
    client = app.test_client()
    w = f.world(submitted=False)
    w.learner.email = "lee@learner.example"
    db.session.commit()
    # The learner submits from a browser that refuses the tool's cookie: the session travels as `_s` in the
    # page's links and forms. The mail written in that request must not carry it.
    sess = f.sign_in(client, w.learner, [lti_roles.LEARNER], f.deployment(w.partner))
    client.delete_cookie(COOKIE_NAME, domain="localhost")
    resp = client.post(
        f"/portfolio/{w.portfolio.id}/submit?_s={sess.id}", data={"attempt": "1", "csrf_token": sess.csrf_token}
    )
    assert resp.status_code == 303 and f"_s={sess.id}" in resp.location

    assert deliver()[SENT] == 1
    [(mail_from, rcpt, message)] = smtp.inbox.received
    assert mail_from == "portfolio@tool.example" and rcpt == ["lee@learner.example"]
    assert message["Subject"] == "Your portfolio has been received"
    assert message["To"].addresses[0].display_name == "Lee Learner"
    assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"] == outbox()[0].message_id
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hello Lee Learner," in text and "CMIACR portfolio (attempt 1)" in text
    assert "Lee Learner" in html and "<a href=" in html
    raw = message.as_string()
    assert sess.id not in raw and "_s=" not in raw

    # The link: the tool's public page for this notice, on the tool's own address.
    [link] = [u for u in text.split() if "/mail/open/" in u]
    assert link.startswith("http://localhost/mail/open/") and link in html
    # Without a session it says to open the activity from the course (a launch signs the person in) ...
    anonymous = app.test_client()
    page = anonymous.get(urlsplit(link).path)
    assert page.status_code == 200 and b"Open it from your course" in page.data
    # ... and the learner's own browser, signed in, goes on to the portfolio, the notice now read.
    f.sign_in(client, w.learner, [lti_roles.LEARNER], f.deployment(w.partner))
    opened = client.get(urlsplit(link).path)
    assert opened.status_code == 303 and opened.location.endswith(f"/portfolio/{w.portfolio.id}")
    notice = db.session.scalar(select(Notification).where(Notification.user_id == w.learner.id))
    assert notice.read_at is not None

    # Unsubscribe: the header points at the one-click address (RFC 8058).
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and unsubscribe in text


def test_the_link_opens_the_activity_through_the_lms_where_the_placement_says_where(app_on, smtp):
    app_on(smtp.port)
    submitted_world(activity_url="https://moodle.example/mod/lti/view.php?l=7")
    deliver()
    [message] = smtp.inbox.messages()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "from your course on your learning platform: https://moodle.example/mod/lti/view.php?l=7" in text
    assert "/mail/open/" not in text


def test_server_down_then_back_nothing_lost_nothing_twice(app_on, tmp_path, keys_dir):
    port = free_port()  # nothing listens here yet
    app_on(port, MAIL_BACKOFF_SECONDS=60, MAIL_MAX_ATTEMPTS=5)
    submitted_world()
    w2 = f.world(submitted=False)  # a second learner's notice waits in the same batch
    w2.learner.email = "lou@learner.example"
    db.session.commit()
    f.submit(w2.portfolio)
    db.session.commit()
    assert [r.status for r in outbox()] == [PENDING, PENDING]

    before = utcnow()
    counts = deliver()
    assert counts == {SENT: 0, PENDING: 2, FAILED: 0}
    first, second = outbox()
    # The one attempted waits its backoff (30 to 60 s for a first failure), its error says why ...
    assert first.status == PENDING and first.attempts == 1 and "Connection" in first.last_error
    assert before + dt.timedelta(seconds=29) < first.next_attempt_at < utcnow() + dt.timedelta(seconds=61)
    # ... and the other was handed back unattempted, due when the first one is.
    assert second.status == PENDING and second.attempts == 0 and second.next_attempt_at == first.next_attempt_at
    assert deliver() == {SENT: 0, PENDING: 0, FAILED: 0}  # nothing is due before the backoff ends

    make_due()
    assert deliver()[PENDING] == 2  # still down: the second failure waits longer
    assert outbox()[0].attempts == 2

    server = SmtpServer(port).start()  # the server is back
    try:
        make_due()
        assert deliver()[SENT] == 2
        assert all(r.status == SENT and r.sent_at is not None and r.last_error == "" for r in outbox())
        make_due()
        assert deliver() == {SENT: 0, PENDING: 0, FAILED: 0}
        assert sorted(m["To"].addresses[0].addr_spec for m in server.inbox.messages()) == [
            "lee@learner.example",
            "lou@learner.example",
        ]
    finally:
        server.stop()


def test_a_server_down_for_good_fails_the_message_after_the_last_attempt(app_on):
    app_on(free_port(), MAIL_MAX_ATTEMPTS=2)
    submitted_world()
    deliver()
    make_due()
    assert deliver()[FAILED] == 1
    [row] = outbox()
    assert row.status == FAILED and row.last_error.startswith("gave up after 2 attempts")
    # An administrator queues it again once the server is fixed.
    delivery.requeue(row)
    db.session.commit()
    assert outbox()[0].status == PENDING and outbox()[0].attempts == 0


def test_a_refused_recipient_fails_at_once_and_the_others_go(app_on, smtp):
    app_on(smtp.port)
    smtp.inbox.refuse.add("gone@learner.example")
    submitted_world("gone@learner.example")
    w2 = f.world(submitted=False)
    w2.learner.email = "lou@learner.example"
    db.session.commit()
    f.submit(w2.portfolio)
    db.session.commit()
    assert deliver() == {SENT: 1, PENDING: 0, FAILED: 1}
    refused, sent = outbox()
    assert refused.status == FAILED and "550" in refused.last_error and refused.attempts == 1
    assert sent.status == SENT
    assert [m["To"].addresses[0].addr_spec for m in smtp.inbox.messages()] == ["lou@learner.example"]


def test_two_workers_never_hold_the_same_message(app_on, smtp):
    app_on(smtp.port)
    submitted_world()
    settings = delivery.Settings.from_app()
    assert delivery.claim_batch("worker-a", settings) != []
    assert delivery.claim_batch("worker-b", settings) == []
    # Worker b cannot record a message it does not hold.
    [row] = outbox()
    assert row.status == SENDING and row.leased_by == "worker-a"
    assert delivery._record_sent(row.id, "worker-b") is False
    assert outbox()[0].status == SENDING


def test_the_crash_window_sends_again_with_the_same_message_id(app_on, smtp):
    """A worker that dies after the server accepted a message, before it recorded it as sent: once the lease
    runs out the message goes again (never lost), as the same message (same Message-ID)."""
    app = app_on(smtp.port)
    submitted_world()
    settings = delivery.Settings.from_app()
    ids = delivery.claim_batch("doomed-worker", settings)
    [row] = delivery.load(ids)
    transport = delivery.transport_for(app)
    transport.send(delivery.mail.build_message(row, "portfolio@tool.example"))  # ... and the worker dies here
    transport.close()
    assert outbox()[0].status == SENDING
    assert deliver()[SENT] == 0  # the lease still holds: nobody else sends it

    stored = outbox()[0]
    stored.lease_until = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert deliver()[SENT] == 1
    first, second = smtp.inbox.messages()
    assert first["Message-ID"] == second["Message-ID"] == stored.message_id
    assert outbox()[0].attempts == 2


def _certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 it signed: (CA file, server cert, server key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test mail CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


def _server_tls(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _authenticator(logins: list[str]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"tool", b"s3cret")
        logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    return check


def test_starttls_with_a_login(app_on, tmp_path):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    logins: list[str] = []
    server = SmtpServer(
        free_port(),
        tls_context=_server_tls(cert_file, key_file),
        require_starttls=True,
        authenticator=_authenticator(logins),
        auth_require_tls=True,
    ).start()
    try:
        app_on(
            server.port,
            MAIL_SMTP_SECURITY="starttls",
            MAIL_SMTP_USER="tool",
            MAIL_SMTP_PASSWORD="s3cret",
            MAIL_SMTP_CA_FILE=str(ca_file),
        )
        submitted_world()
        assert deliver()[SENT] == 1
        assert len(server.inbox.messages()) == 1 and logins
    finally:
        server.stop()


def test_a_wrong_password_waits_and_says_why(app_on, tmp_path):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    server = SmtpServer(
        free_port(),
        tls_context=_server_tls(cert_file, key_file),
        require_starttls=True,
        authenticator=_authenticator([]),
        auth_require_tls=True,
    ).start()
    try:
        app_on(
            server.port,
            MAIL_SMTP_SECURITY="starttls",
            MAIL_SMTP_USER="tool",
            MAIL_SMTP_PASSWORD="wrong",
            MAIL_SMTP_CA_FILE=str(ca_file),
        )
        submitted_world()
        assert deliver()[PENDING] == 1
        [row] = outbox()
        assert row.status == PENDING and "SMTPAuthenticationError" in row.last_error
        assert server.inbox.messages() == []
    finally:
        server.stop()


def test_implicit_tls(app_on, tmp_path):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    server = SmtpServer(free_port(), ssl_context=_server_tls(cert_file, key_file)).start()
    try:
        app_on(server.port, MAIL_SMTP_SECURITY="tls", MAIL_SMTP_CA_FILE=str(ca_file))
        submitted_world()
        assert deliver()[SENT] == 1
        assert len(server.inbox.messages()) == 1
    finally:
        server.stop()


def test_a_certificate_the_tool_cannot_check_is_refused(app_on, tmp_path):
    _, cert_file, key_file = _certificates(tmp_path)
    server = SmtpServer(free_port(), ssl_context=_server_tls(cert_file, key_file)).start()
    try:
        app_on(server.port, MAIL_SMTP_SECURITY="tls")  # the test CA is not trusted
        submitted_world()
        assert deliver()[PENDING] == 1
        assert "CERTIFICATE_VERIFY_FAILED" in outbox()[0].last_error and server.inbox.messages() == []
    finally:
        server.stop()


def test_the_command_line_checks_settings_sends_lists_and_retries(app_on, smtp):
    app = app_on(smtp.port)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["notifications", "test-mail", "ops@tool.example"])
    assert result.exit_code == 0, result.output
    [test_message] = smtp.inbox.messages()
    assert test_message["To"].addresses[0].addr_spec == "ops@tool.example"
    assert test_message.get_body(preferencelist=("html",)) is not None

    smtp.inbox.refuse.add("lee@learner.example")
    submitted_world()
    result = runner.invoke(args=["notifications", "worker", "--once"])
    assert result.exit_code == 0 and "Sent 0, to retry later 0, failed 1." in result.output
    listed = runner.invoke(args=["notifications", "outbox", "--status", "failed"]).output
    assert "lee@learner.example" in listed and "550" in listed

    smtp.inbox.refuse.clear()
    assert "1 message(s) queued" in runner.invoke(args=["notifications", "retry", "--all-failed"]).output
    result = runner.invoke(args=["notifications", "worker", "--once"])
    assert "Sent 1, to retry later 0, failed 0." in result.output
    assert [m["To"].addresses[0].addr_spec for m in smtp.inbox.messages()] == [
        "ops@tool.example",
        "lee@learner.example",
    ]


def test_the_test_message_says_why_it_was_not_sent(app_on):
    app = app_on(free_port())  # nothing listens
    result = app.test_cli_runner().invoke(args=["notifications", "test-mail", "ops@tool.example"])
    assert result.exit_code == 1 and "Not sent: ConnectionRefusedError" in result.output


def test_the_background_worker_of_lti_tool_serve_delivers_and_stops(app_on, smtp):
    app = app_on(smtp.port, MAIL_POLL_SECONDS=0.05)
    submitted_world()
    worker = delivery.start_background_worker(app)
    try:
        for _ in range(400):  # wait for the state, not for a time: at most a few seconds on a busy machine
            if smtp.inbox.received:
                break
            worker.stop_event.wait(0.025)
    finally:
        worker.stop()
    assert not worker.is_alive()
    assert len(smtp.inbox.messages()) == 1 and outbox()[0].status == SENT


def test_housekeeping_removes_sent_mail_past_its_keeping(app_on, smtp):
    from lti_tool.housekeeping import housekeeping_cli

    app = app_on(smtp.port, MAIL_KEEP_DAYS=30)
    submitted_world()
    deliver()
    submitted_world("lou@learner.example")  # a second message, still waiting
    old = outbox()[0]
    old.sent_at = utcnow() - dt.timedelta(days=31)
    notice_id = old.notification_id
    db.session.commit()
    result = app.test_cli_runner().invoke(housekeeping_cli, ["purge"])
    assert result.exit_code == 0 and "Removed 1 sent e-mails" in result.output
    assert [r.to_address for r in outbox()] == ["lou@learner.example"]
    assert db.session.get(Notification, notice_id) is not None  # the notice stays in the tool

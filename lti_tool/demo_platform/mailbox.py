"""The demo's mailbox: with the demo platform on and no SMTP server configured, the tool's mail worker hands its
messages here instead (create_app installs `DemoMailbox` as the mail transport), and /demo/mailbox shows them,
so `make run` lets a new user read the mails of the demo journey.

The message stored is the whole message as it would travel by SMTP, both parts and every header; it is saved
in the worker's transaction, the one that records the message as sent, so each is delivered here exactly once.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, Message

from flask import Flask, abort, render_template, request
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from lti_tool.demo_platform import people
from lti_tool.demo_platform.models import DemoMail
from lti_tool.demo_platform.routes import bp
from lti_tool.store.db import db

PER_PAGE = 50
URL = re.compile(r"https?://[^\s<>\"']+")
# The HTML part is shown in a sandboxed frame of its own: no script, nothing loaded from elsewhere.
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)


class DemoMailbox:
    """A mail transport (notifications.delivery.Transport) that keeps each message in the demo's mailbox."""

    def send(self, message: EmailMessage) -> None:
        db.session.add(
            DemoMail(
                to_address=str(message["To"].addresses[0].addr_spec),
                subject=str(message["Subject"]),
                raw=message.as_string(),
            )
        )
        db.session.flush()

    def close(self) -> None:
        pass


def transport(app: Flask) -> DemoMailbox:
    return DemoMailbox()


def _parsed(row: DemoMail) -> Message:
    return email.message_from_string(row.raw, policy=email.policy.default)


def _part(message: Message, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,)) if isinstance(message, EmailMessage) else None
    return str(body.get_content()) if body is not None else ""


@bp.route("/mailbox")
def mailbox() -> str:
    to = (request.args.get("to") or "").strip()[:320]
    query = select(DemoMail).order_by(DemoMail.id.desc()).limit(PER_PAGE)
    if to:
        query = query.where(DemoMail.to_address == to)
    total = db.session.scalar(select(func.count()).select_from(DemoMail)) or 0
    return render_template(
        "demo/mailbox.html", mails=list(db.session.scalars(query)), to=to, total=total, users=people.USERS
    )


def _mail(mail_id: int) -> DemoMail:
    row = db.session.get(DemoMail, mail_id)
    if row is None:
        abort(404)
    return row


@bp.route("/mailbox/<int:mail_id>")
def mailbox_message(mail_id: int) -> str:
    row = _mail(mail_id)
    message = _parsed(row)
    text = _part(message, "plain")
    headers = [
        (name, str(message[name]))
        for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")
        if message[name]
    ]
    return render_template(
        "demo/mailbox_message.html",
        mail=row,
        headers=headers,
        text=text,
        links=list(dict.fromkeys(URL.findall(text))),
        parts=[part.get_content_type() for part in message.walk() if not part.is_multipart()],
    )


@bp.route("/mailbox/<int:mail_id>/html")
def mailbox_html(mail_id: int) -> Response:
    html = _part(_parsed(_mail(mail_id)), "html")
    # Links open in the demo's window, not inside the small frame.
    html = html.replace("<head>", '<head><base target="_top">', 1)
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = HTML_POLICY
    return resp

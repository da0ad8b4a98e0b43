"""Notices, each person's choices about them, and the mail outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow

# Notification.mail_state: what became of the notice's e-mail.
MAIL_QUEUED = "queued"  # a message is in the outbox (MailOutbox.notification_id)
MAIL_DIGEST = "digest"  # waits for the person's daily digest
MAIL_DIGESTED = "digested"  # went out in a digest
MAIL_NONE = "none"  # in the tool only: the person's choice, no address, or no mail service

# Preference channels, per person and kind of notice.
EMAIL = "email"  # in the tool and by e-mail
IN_TOOL = "in_tool"  # in the tool only
OFF = "off"  # not at all
CHANNELS = {
    EMAIL: "In the tool and by e-mail",
    IN_TOOL: "In the tool only",
    OFF: "Off",
}

# MailOutbox.status
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
MAIL_STATUSES = (PENDING, SENDING, SENT, FAILED)
# What the outbox page calls each status (extracted for translation by their table's name).
MAIL_STATUS_LABELS = {PENDING: "Pending", SENDING: "Being sent", SENT: "Sent", FAILED: "Failed"}


class Notification(Model):
    """One thing one person is told. (user, event_key) is unique: an event never tells anyone twice."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "event_key"),
        # Every page counts the signed-in person's unread notices.
        Index("ix_notification_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # Where the notice leads in the tool: an endpoint and its values, turned into a link for the person who
    # reads it (a stored URL could carry someone else's session token).
    target_endpoint: Mapped[str] = mapped_column(String(80), default="")
    target_values: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    # The message it was written from and its values (messages.storable), so that a page can say it again in
    # the reader's language; None on notices written before they were kept, which show title and body as stored.
    template: Mapped[str | None] = mapped_column(String(60), nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    # The placement through which this person enters the tool (the LMS link in a mail).
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_resource_link.id", ondelete="SET NULL"), nullable=True
    )
    mail_state: Mapped[str] = mapped_column(String(20), default=MAIL_NONE)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    user = relationship("LtiUser")
    resource_link = relationship("ResourceLink")


class NotificationPreference(Model):
    """How one person wants to hear about one kind of notice (no row: the kind's default, e-mail)."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20), default=EMAIL)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NotificationSettings(Model):
    """A person's choices that cover every kind: one e-mail a day (a digest) instead of one per notice."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[bool] = mapped_column(default=False)
    digest_sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailOutbox(Model):
    """One e-mail to send, written in the transaction of what it reports; the worker delivers it.

    `key` is unique: one message per notice ("n:<id>") or per person's digest and day, so a retried event or
    scan never queues the same message twice. `message_id` is fixed when the row is written: a message sent
    again after a crash (see delivery.py) carries the same Message-ID, which mail systems recognise.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"), nullable=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35), default="en")
    unsubscribe_url: Mapped[str] = mapped_column(String(1000), default="")
    message_id: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

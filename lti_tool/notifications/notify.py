"""Writing a notice, and its e-mail into the outbox, in the caller's transaction (the caller commits).

`notify` is the one way a notice is made: it reads the person's choice for the kind (off: nothing), writes the
notice once per event key (a repeated event, or two workers scanning at once, make no second one), and
queues its e-mail when the person wants e-mail, the tool has their address and a mail service is set up, or
keeps it for their daily digest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from lti_tool.launch.models import LtiUser
from lti_tool.notifications import links, mail, rules
from lti_tool.notifications.kinds import ALL
from lti_tool.notifications.messages import EN, Text, language_of, render, restored, storable
from lti_tool.notifications.models import (
    EMAIL,
    MAIL_DIGEST,
    MAIL_NONE,
    MAIL_QUEUED,
    MailOutbox,
    Notification,
    NotificationPreference,
    NotificationSettings,
)
from lti_tool.store.db import db, utcnow

log = logging.getLogger(__name__)

MAIL_TRANSPORT = "lti_tool.mail_transport"
MAX_TITLE = 300


def mail_service(app: Flask | None = None) -> bool:
    """Whether e-mail can go anywhere: an SMTP server is configured, or create_app installed another transport
    (the demo platform's mailbox)."""
    app = app or current_app
    return bool(app.config.get("MAIL_SMTP_HOST")) or MAIL_TRANSPORT in app.extensions


def channel_for(user_id: int, kind: str) -> str:
    channel = db.session.scalar(
        select(NotificationPreference.channel).where(
            NotificationPreference.user_id == user_id, NotificationPreference.kind == kind
        )
    )
    return channel or EMAIL


def settings_for(user_id: int) -> NotificationSettings | None:
    return db.session.get(NotificationSettings, user_id)


@dataclass(frozen=True)
class Target:
    endpoint: str
    values: Mapping[str, Any]


def _already(user_id: int, key: str) -> bool:
    return (
        db.session.scalar(
            select(Notification.id).where(Notification.user_id == user_id, Notification.event_key == key).limit(1)
        )
        is not None
    )


def notify(
    user: LtiUser,
    kind: str,
    template: str,
    params: Mapping[str, Any],
    *,
    event_key: str,
    target: Target | None = None,
    resource_link_id: int | None = None,
) -> Notification | None:
    """Tell `user` about an event, once per `event_key`; the notice made, or None (turned off, or told before)."""
    channel = channel_for(user.id, kind)
    settings = settings_for(user.id)
    state = rules.mail_state(
        channel,
        has_address=mail.usable_address(user.email),
        mail_service=mail_service(),
        digest=bool(settings and settings.digest),
    )
    if state is None or _already(user.id, event_key):
        return None
    language = language_of(user.locale)
    text = render(template, language, params)
    notice = Notification(
        user_id=user.id,
        kind=kind,
        event_key=event_key[:200],
        title=mail.one_line(text.title, MAX_TITLE),
        body=text.body,
        target_endpoint=target.endpoint if target else "",
        target_values=dict(target.values) if target else None,
        resource_link_id=links.entry_link_id(user.id, resource_link_id),
        mail_state=state,
        template=template,
        params=storable(params),
    )
    try:
        with db.session.begin_nested():  # told at the same moment by another transaction: theirs stands
            db.session.add(notice)
            db.session.flush()
    except IntegrityError:
        return None
    if state == MAIL_QUEUED:
        queue_mail(notice, user, text, language)
    return notice


def shown_text(notice: Notification, language: str) -> tuple[str, str]:
    """A notice's title and body in `language` (a page's, which the reader may have chosen apart from their
    LMS's): written again from its message and values; as stored when it has none (written before they were
    kept) or its message is gone."""
    if notice.template not in EN or notice.params is None:
        return notice.title, notice.body
    text = render(notice.template, language, restored(notice.params))
    return mail.one_line(text.title, MAX_TITLE), text.body


def entry_for(notice: Notification, text: Text) -> mail.Entry:
    lms = links.activity_url(notice.resource_link)
    if lms:
        return mail.Entry(text, lms, through_lms=True)
    return mail.Entry(text, links.mail_url("mail.open_notice", token=links.open_token(notice.id)), through_lms=False)


def queue_mail(notice: Notification, user: LtiUser, text: Text, language: str) -> MailOutbox:
    unsubscribe = links.unsubscribe_url(user.id, notice.kind)
    composed = mail.compose(
        name=user.display_name(),
        language=language,
        subject=text.title,
        intro="",
        entries=[entry_for(notice, text)],
        unsubscribe_url=unsubscribe,
    )
    return _add_mail(f"n:{notice.id}", user, composed, language, unsubscribe, notice.id)


def queue_digest(user: LtiUser, notices: list[Notification]) -> MailOutbox | None:
    """One message with every notice kept for the person's digest (the caller marks them and commits)."""
    if not notices:
        return None
    language = language_of(user.locale)
    head = render("digest", language, {"count": len(notices)})
    entries = [entry_for(n, Text(n.title, n.body, head.action)) for n in notices]
    unsubscribe = links.unsubscribe_url(user.id, ALL)
    composed = mail.compose(
        name=user.display_name(),
        language=language,
        subject=head.title,
        intro=head.body,
        entries=entries,
        unsubscribe_url=unsubscribe,
    )
    key = f"digest:{user.id}:{notices[-1].id}"  # the same notices never make a second digest
    return _add_mail(key, user, composed, language, unsubscribe, None)


def _add_mail(
    key: str, user: LtiUser, composed: mail.Composed, language: str, unsubscribe: str, notification_id: int | None
) -> MailOutbox:
    row = MailOutbox(
        key=key,
        notification_id=notification_id,
        user_id=user.id,
        to_address=user.email.strip(),
        to_name=mail.one_line(user.display_name(), 300),
        subject=composed.subject,
        text=composed.text,
        html=composed.html,
        language=language,
        unsubscribe_url=unsubscribe,
        message_id=mail.new_message_id(),
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def set_channel(user_id: int, kind: str, channel: str) -> None:
    row = db.session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.user_id == user_id, NotificationPreference.kind == kind
        )
    )
    if row is None:
        row = NotificationPreference(user_id=user_id, kind=kind)
        db.session.add(row)
    row.channel, row.updated_at = channel, utcnow()
    if channel != EMAIL:  # notices kept for the digest no longer go by e-mail either
        db.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.kind == kind, Notification.mail_state == MAIL_DIGEST)
            .values(mail_state=MAIL_NONE)
            .execution_options(synchronize_session=False)
        )


def set_digest(user_id: int, digest: bool) -> None:
    row = settings_for(user_id)
    if row is None:
        row = NotificationSettings(user_id=user_id)
        db.session.add(row)
    row.digest, row.updated_at = digest, utcnow()

"""What the demo platform records of the tool's calls: line items, scores, tokens, deep links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.store.db import JSONText, Model, utcnow


class DemoLineItem(Model):
    __tablename__ = "demo_line_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[str] = mapped_column(String(255), index=True)
    label: Mapped[str] = mapped_column(String(500))
    score_maximum: Mapped[float] = mapped_column()
    resource_link_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoScore(Model):
    __tablename__ = "demo_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("demo_line_item.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoAccessToken(Model):
    __tablename__ = "demo_access_token"

    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSONText)
    expires_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoDeepLink(Model):
    __tablename__ = "demo_deep_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONText)
    message: Mapped[str] = mapped_column(String(1000), default="")
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoOutage(Model):
    """A simulated outage of the demo platform's services: the next `remaining` service calls get `status`."""

    __tablename__ = "demo_outage"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[int] = mapped_column(default=503)
    remaining: Mapped[int] = mapped_column(default=0)
    retry_after: Mapped[int | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoMail(Model):
    """A message the tool sent while the demo platform stood in for a mail server (no SMTP host configured):
    the demo's mailbox page shows them, so the mails of a demo journey can be read."""

    __tablename__ = "demo_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    raw: Mapped[str] = mapped_column(Text)  # the whole message as it would travel (RFC 5322)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

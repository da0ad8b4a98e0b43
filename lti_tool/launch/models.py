"""Platform registrations, deployments, and what each launch tells us about users and courses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, literal
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow


class Registration(Model):
    """One tool registration on one platform: issuer + client_id (Open edX gives one per block)."""

    __tablename__ = "lti_registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # A pasted JWKS for platforms whose JWKS endpoint the tool cannot reach (and the demo platform).
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    auth_audience: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )

    def label(self) -> str:
        return self.name or f"{self.issuer} ({self.client_id})"


class Deployment(Model):
    __tablename__ = "lti_deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), nullable=True, index=True)
    # Used when a placement names no certification (no deep linking, no custom parameter).
    default_certification_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="deployments")
    partner = relationship("Partner")


class LtiUser(Model):
    """A person as a platform knows them: (issuer, sub) is their identity in the tool."""

    __tablename__ = "lti_user"
    __table_args__ = (UniqueConstraint("issuer", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    # The language the platform last launched the person in (launch_presentation.locale, e.g. "fr-FR"):
    # notifications are written in it where the tool has the words (notifications/messages.py).
    locale: Mapped[str] = mapped_column(String(35), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or full or self.email or f"User {self.sub}"


class LtiContext(Model):
    """A course (context) in one deployment."""

    __tablename__ = "lti_context"
    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("lti_deployment.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    nrps_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship()


class ResourceLink(Model):
    """A placement of the tool in a course; a portfolio belongs to one."""

    __tablename__ = "lti_resource_link"
    __table_args__ = (UniqueConstraint("deployment_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("lti_deployment.id", ondelete="CASCADE"))
    context_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_context.id", ondelete="CASCADE"), nullable=True, index=True
    )
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    custom: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    ags_lineitems_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    ags_lineitem_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    ags_scopes: Mapped[list[str] | None] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship()
    context: Mapped[LtiContext | None] = relationship()


class Membership(Model):
    """A user's LTI roles in a context, as of their latest launch."""

    __tablename__ = "lti_membership"
    __table_args__ = (UniqueConstraint("user_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSONText, default=list)
    first_launch_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[LtiUser] = relationship()
    context: Mapped[LtiContext] = relationship()


class ToolSession(Model):
    """A signed-in visit that started with a launch. Kept server-side so any process can serve it."""

    __tablename__ = "tool_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("lti_deployment.id", ondelete="CASCADE"))
    context_id: Mapped[int | None] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"), nullable=True)
    resource_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_resource_link.id", ondelete="CASCADE"), nullable=True
    )
    roles: Mapped[list[str]] = mapped_column(JSONText, default=list)
    message_type: Mapped[str] = mapped_column(String(64), default="LtiResourceLinkRequest")
    launch_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

    user: Mapped[LtiUser] = relationship()
    deployment: Mapped[Deployment] = relationship()
    context: Mapped[LtiContext | None] = relationship()
    resource_link: Mapped[ResourceLink | None] = relationship()
    # Flask's session data of this visit (flashed messages, see page_messages.py), kept in the cache table
    # under PAGE_DATA_PREFIX + id. A relationship so that a page loads it with the session row: one query.
    page_data: Mapped[CacheEntry | None] = relationship(
        primaryjoin=lambda: foreign(CacheEntry.key) == literal(PAGE_DATA_PREFIX).concat(ToolSession.id),
        viewonly=True,
        uselist=False,
    )


PAGE_DATA_PREFIX = "page-session:"


class CacheEntry(Model):
    """Short-lived shared values: OIDC state and nonces, launch data, fetched platform JWKS."""

    __tablename__ = "lti_cache"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column()

    __table_args__ = (Index("ix_lti_cache_expires_at", "expires_at"),)


class LaunchCounter(Model):
    """How launches ended, per day: the admin console shows how many needed the new-window handoff (the
    browser refused the tool's cookie in the LMS frame), how many completed it, and how many failed."""

    __tablename__ = "launch_counter"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    outcome: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)

"""Grade sync records: the outbox of scores for the LMS, the line items they go to, and cached access tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.store.db import JSONText, Model, utcnow

PENDING = "pending"
IN_PROGRESS = "in_progress"
DELIVERED = "delivered"
FAILED = "failed"
JOB_STATUSES = (PENDING, IN_PROGRESS, DELIVERED, FAILED)
# What the grade jobs page calls each status (extracted for translation by their table's name).
JOB_STATUS_LABELS = {PENDING: "Pending", IN_PROGRESS: "Being sent", DELIVERED: "Delivered", FAILED: "Failed"}

MAIN = "main"  # the accreditation column: progress, then 100/100 at award
CREDITS = "credits"  # a second column: learning credits earned at award
TARGETS = (MAIN, CREDITS)


class GradeJob(Model):
    """One score to deliver to one line item for one learner, written in the transaction of the state change.

    The payload (with its timestamp) is fixed at enqueue time, so delivering it twice is harmless: the
    platform keeps one result per learner, and the same timestamp never overrides a later score.
    `sequence` orders the jobs of one learner on one line item; a job is only delivered once every earlier
    one has been delivered or has failed.
    """

    __tablename__ = "grade_job"
    __table_args__ = (
        UniqueConstraint("resource_link_id", "user_id", "target", "sequence"),
        Index("ix_grade_job_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id"), index=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id"), index=True)
    lms_user_id: Mapped[str] = mapped_column(String(255))  # the learner's `sub` on the platform
    target: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))  # the portfolio state the score reports
    sequence: Mapped[int] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText)
    # How to find or create the line item: label, scoreMaximum, resourceId, tag.
    line_item: Mapped[dict[str, Any]] = mapped_column(JSONText)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_status: Mapped[int | None] = mapped_column(nullable=True)  # HTTP status of the last attempt
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    portfolio = relationship("Portfolio")
    resource_link = relationship("ResourceLink")
    user = relationship("LtiUser")


class GradeLineItem(Model):
    """The platform line item (gradebook column) a placement's scores go to, found or created once."""

    __tablename__ = "grade_line_item"
    __table_args__ = (UniqueConstraint("resource_link_id", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(1000))
    source: Mapped[str] = mapped_column(String(20))  # launch | found | created
    label: Mapped[str] = mapped_column(String(500), default="")
    score_maximum: Mapped[float | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServiceToken(Model):
    """An OAuth2 access token for a platform's services, shared by every process until shortly before expiry."""

    __tablename__ = "grade_service_token"
    __table_args__ = (UniqueConstraint("registration_id", "scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(64))  # sha256 of the sorted scopes
    scopes: Mapped[list[str]] = mapped_column(JSONText)
    access_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GradebookOption(Model):
    """What a deployment chose for its LMS gradebooks (no row: the defaults).

    `credits_column`: a second line item with the learning credits earned, besides the main score (whose
    comment always names the credits). Off by default: on Moodle it becomes a grade item that counts into
    the course total; on Open edX it would overwrite the activity's grade, so it is never made there.
    """

    __tablename__ = "grade_gradebook_option"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("lti_deployment.id", ondelete="CASCADE"), primary_key=True)
    credits_column: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

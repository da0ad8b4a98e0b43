"""Revoking an award: a tool administrator's decision with a reason, audited, and visible to every verifier
(the verification page and the status list read the Award's revocation)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from lti_tool.audit import trail as audit
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import utcnow
from lti_tool.web.errors import UserError

MIN_REASON = 10
MAX_REASON = 2000


class RevocationRefused(UserError):
    status = 409
    title = "Cannot revoke"


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON:
        raise UserError(
            gettext(
                "Give the reason for revoking (at least %(min)s characters): it is shown to anyone "
                "who checks the certificate and kept in the audit trail.",
                min=MIN_REASON,
            ),
            title="Reason needed",
        )
    if len(text) > MAX_REASON:
        raise UserError(
            gettext(
                "The reason is too long (%(length)s characters; at most %(max)s).", length=len(text), max=MAX_REASON
            )
        )
    return text


def revoke(award: Award, reason: str | None, *, actor: Any = None, actor_label: str = "") -> Award:
    """Mark the award revoked now; the caller commits. Revocation is final."""
    text = clean_reason(reason)
    if award.revoked_at is not None:
        raise RevocationRefused(
            gettext(
                "Certificate %(number)s was already revoked on %(date)s.",
                number=award.certificate_number,
                date=award.revoked_at.date().isoformat(),
            )
        )
    award.revoked_at = utcnow()
    award.revocation_reason = text
    audit.record(
        "award.revoked",
        actor=actor,
        actor_label=actor_label,
        role="tool_admin",
        subject=award,
        before={"revoked": False},
        after={
            "revoked": True,
            "certificate_number": award.certificate_number,
            "revoked_at": award.revoked_at.isoformat(),
        },
        rationale=text,
    )
    return award

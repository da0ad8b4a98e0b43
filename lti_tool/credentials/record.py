"""What anyone may learn about a certificate from its number: the one place that decides what is public.

Only the learner's name and the award itself: no email, no LMS or platform ids, no course, partner or
evidence data. The verification page and its JSON both render this dict and nothing else: the JSON in English
(software reads it), the page in the reader's language (`page_record`).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext

from lti_tool.credentials import content, issuer
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.verify import verify_here, verify_json_here
from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT
from lti_tool.portfolio.catalogue.translations import localized
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.web.errors import N_

VALID = "valid"
REVOKED = "revoked"
NOT_VERIFIED = "not_verified"

STATUS_TEXT = {
    VALID: N_("Valid: this certificate was awarded and has not been revoked."),
    REVOKED: N_("Revoked: this certificate is no longer valid."),
    NOT_VERIFIED: N_("Could not be verified: see the problems below."),
}
NO_NAME = N_("(name not recorded)")


def public_record(award: Award) -> dict[str, Any]:
    cert = award.portfolio.certification
    issued = credential_for(award)
    if issued is not None:
        result = verify_here(issued.jwt)
        signature: dict[str, Any] = {"checked": True, **result.as_dict(), "embedded_proof": None}
        if issued.proofed is not None:
            # Both proofs are checked: a wallet may hold either form of the credential.
            embedded = verify_json_here(issued.proofed)
            signature["embedded_proof"] = embedded.as_dict()
            signature["checks"] += [c for c in embedded.checks if c.startswith("Embedded proof")]
            signature["problems"] += [p for p in embedded.problems if p not in signature["problems"]]
            signature["valid"] = result.valid and embedded.valid
        name = issued.learner_name
    else:
        signature = {
            "checked": False,
            "valid": False,
            "revoked": False,
            "key": None,
            "checks": [],
            "problems": ["No signed credential is on record for this award yet."],
            "embedded_proof": None,
        }
        name = content.learner_name(award.portfolio.user)
    if award.revoked_at is not None:
        status = REVOKED
    elif issued is not None and not signature["valid"]:
        status = NOT_VERIFIED
    else:
        status = VALID
    return {
        "certificate_number": award.certificate_number,
        "status": status,
        "status_text": STATUS_TEXT[status],
        "learner_name": name or NO_NAME,
        "certification": {
            "code": cert.code,
            "version": cert.version,
            "title": cert.title,
            # A unit-only award is for this unit of the certification, and the page must say so.
            "unit": ({"code": unit.code, "title": unit.title} if (unit := award.portfolio.unit) is not None else None),
            "awarded_title": award.portfolio.awarded_title,
            "isced_level": content.isced_level_label(cert.isced_level),
            "isced_field": content.isced_field_label(cert.isced_field),
        },
        "credits": award.credits,
        "notional_hours": award.credits * HOURS_PER_CREDIT,
        "cpd_points": award.cpd_points,
        "credit_note": content.credit_note(),
        "awarded_on": award.awarded_on.isoformat(),
        "revoked_on": award.revoked_at.date().isoformat() if award.revoked_at else None,
        "revocation_reason": award.revocation_reason if award.revoked_at else None,
        "issuer": {"id": issuer.issuer_id(), "name": current_app.config["ISSUER_NAME"]},
        "signature": signature,
        "verify_url": issuer.verify_url(award.certificate_number),
    }


def page_record(award: Award) -> dict[str, Any]:
    """The public record as the verification page shows it: the same facts, in the reader's language (the
    catalogue's translations of the certification), the dates as dates for the page's `when` filter."""
    record = public_record(award)
    cert = award.portfolio.certification
    unit = award.portfolio.unit
    shown = record["certification"]
    return {
        **record,
        "status_text": gettext(record["status_text"]),
        "learner_name": gettext(NO_NAME) if record["learner_name"] == NO_NAME else record["learner_name"],
        "certification": {
            **shown,
            "title": localized(cert),
            "unit": {**shown["unit"], "title": localized(unit, cert=cert)} if unit is not None else None,
            "isced_level": content.page_isced_level_label(cert.isced_level),
            "isced_field": content.page_isced_field_label(cert.isced_field),
        },
        "credit_note": content.page_credit_note(),
        "awarded_on": award.awarded_on,
        "revoked_on": award.revoked_at,
    }

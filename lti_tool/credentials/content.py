"""What an award's OpenBadgeCredential says: the achievement (certification), the subject, the results.

Shape follows Open Badges 3.0 (context 3.0.3, VCDM 2.0). Choices worth knowing:
- Our learning credit is 10 notional learning hours, not the semester credit hour OB's credit fields assume:
  every credential says so in its description and in the achievement description.
- ISCED 2011 level and ISCED-F 2013 field are Alignments (the OB way to point into an external framework);
  the units and the competency framework are Alignments too. fieldOfStudy repeats the ISCED-F field in words.
- The learner is a random urn:uuid (the JWT `sub`) plus a salted SHA-256 of their name (IdentityObject), so an
  employer who knows the name can confirm it; no email, LMS user id or course data goes in.
- The credential is signed and checked by software: its words are English and never depend on the page that
  happened to issue it. The same words in the reader's language (verification page, printed certificate) come
  from the `page_...` functions, which look the one English wording up in the catalogue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_babel import gettext

from lti_tool.credentials import issuer, jsonld_docs, vc_jwt
from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT, Certification
from lti_tool.web.errors import N_

# The extensions context defines 1EdTechJsonSchemaValidator2019 (the credentialSchema type), as OB 3.0's own
# examples do: without it strict JSON-LD processors refuse the credential.
CONTEXT = [jsonld_docs.VC_V2, jsonld_docs.OB_V3, jsonld_docs.OB_EXTENSIONS]
CREDENTIAL_SCHEMA = {
    "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json",
    "type": "1EdTechJsonSchemaValidator2019",
}
ISCED_URL = "https://uis.unesco.org/en/topic/international-standard-classification-education-isced"

# The standard's names of its levels and fields, in English as UNESCO writes them; the catalogue has UNESCO's
# Spanish names (CINE 2011, CINE-F 2013) for the pages.
ISCED_LEVELS = {
    "ED0": N_("Early childhood education"),
    "ED1": N_("Primary education"),
    "ED2": N_("Lower secondary education"),
    "ED3": N_("Upper secondary education"),
    "ED4": N_("Post-secondary non-tertiary education"),
    "ED5": N_("Short-cycle tertiary education"),
    "ED6": N_("Bachelor's or equivalent level"),
    "ED7": N_("Master's or equivalent level"),
    "ED8": N_("Doctoral or equivalent level"),
}
# Only the ISCED-F 2013 fields our certifications use are named; others show their code alone.
ISCED_FIELDS = {
    "0919": N_("Health not elsewhere classified"),
    "0988": N_("Inter-disciplinary programmes and qualifications involving health and welfare"),
    "0912": N_("Medicine"),
    "0913": N_("Nursing and midwifery"),
    "0916": N_("Pharmacy"),
}
LEVEL_NAMED = N_("ISCED 2011 level %(level)s: %(name)s")
LEVEL_CODE = N_("ISCED 2011 level %(level)s")
FIELD_NAMED = N_("ISCED-F 2013 %(code)s %(name)s")
FIELD_CODE = N_("ISCED-F 2013 %(code)s")
CREDIT_NOTE = N_(
    "Credits are learning credits: 1 credit = %(hours)s notional learning hours (not a semester or quarter "
    "credit hour). 1 notional learning hour = 1 CPD point = 1 CPE point."
)

Words = Callable[..., str]


def _english(text: str, **values: Any) -> str:
    """The catalogue's source words, filled in: what the signed credential says."""
    return text % values if values else text


def credit_note(say: Words = _english) -> str:
    return say(CREDIT_NOTE, hours=HOURS_PER_CREDIT)


def page_credit_note() -> str:
    """The credit note in the page's language."""
    return credit_note(gettext)


def learner_name(user: Any) -> str:
    """The name to print and publish. Never falls back to the email or the LMS user id."""
    full = " ".join(p for p in (user.given_name, user.family_name) if p)
    return (user.name or full).strip()


def isced_level_label(code: str, say: Words = _english) -> str:
    key = code.strip().upper()
    key = f"ED{key}" if key.isdigit() else key  # the catalogue may say "5" or "ED5"
    label = ISCED_LEVELS.get(key)
    return say(LEVEL_NAMED, level=key[-1], name=say(label)) if label else say(LEVEL_CODE, level=code)


def isced_field_label(code: str, say: Words = _english) -> str:
    label = ISCED_FIELDS.get(code)
    return say(FIELD_NAMED, code=code, name=say(label)) if label else say(FIELD_CODE, code=code)


def page_isced_level_label(code: str) -> str:
    """The level in the page's language: the standard's number, its name in words (CINE 2011 in Spanish)."""
    return isced_level_label(code, gettext)


def page_isced_field_label(code: str) -> str:
    return isced_field_label(code, gettext)


def _alignments(cert: Certification, achievement_id: str) -> list[dict[str, Any]]:
    alignments = [
        {
            "type": ["Alignment"],
            "targetName": isced_level_label(cert.isced_level),
            "targetCode": cert.isced_level,
            "targetFramework": "ISCED 2011 (UNESCO)",
            "targetType": "ext:ISCEDLevel",
            "targetUrl": ISCED_URL,
        },
        {
            "type": ["Alignment"],
            "targetName": isced_field_label(cert.isced_field),
            "targetCode": cert.isced_field,
            "targetFramework": "ISCED-F 2013 (UNESCO)",
            "targetType": "ext:ISCEDField",
            "targetUrl": ISCED_URL,
        },
    ]
    if cert.framework:
        alignments.append(
            {
                "type": ["Alignment"],
                "targetName": cert.framework,
                "targetFramework": cert.framework,
                "targetType": "ext:CompetencyFramework",
                "targetUrl": f"{achievement_id}#framework",
                "targetDescription": "The competency framework the units are developed from.",
            }
        )
    for unit in cert.units:
        alignments.append(
            {
                "type": ["Alignment"],
                "targetName": unit.title,
                "targetCode": unit.code,
                "targetFramework": f"{cert.code} v{cert.version} accredited units",
                "targetType": "ext:AccreditedUnit",
                "targetUrl": f"{achievement_id}#unit-{unit.code}",
                "targetDescription": (
                    f"{unit.credits} credits ({unit.credits * HOURS_PER_CREDIT} notional learning hours)"
                ),
            }
        )
    return alignments


def _criteria_narrative(cert: Certification) -> str:
    units = "\n".join(f"- {u.code} {u.title} ({u.credits} credits)" for u in cert.units)
    return (
        "A portfolio of workplace evidence, assessed against every assessment criterion of every unit below "
        "and judged competent by an assessor; the decision was then confirmed by a two-step verification "
        "(internal verification, then independent verification by a verifier independent of the training "
        "partner).\n\nUnits:\n" + (units or "- (none listed)")
    )


def achievement(cert: Certification) -> dict[str, Any]:
    """The Achievement for a certification version (also served at its id URL)."""
    achievement_id = issuer.achievement_url(cert.code, cert.version)
    about = cert.description.strip() or f"{cert.title} ({cert.code}), a competence-based professional certification."
    return {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": "Certification",
        "name": cert.title,
        "description": f"{about}\n\n{credit_note()}",
        "criteria": {"id": f"{achievement_id}#criteria", "narrative": _criteria_narrative(cert)},
        "creditsAvailable": float(cert.credits),
        "humanCode": cert.code,
        "version": str(cert.version),
        "fieldOfStudy": isced_field_label(cert.isced_field),
        "inLanguage": "en",
        "alignment": _alignments(cert, achievement_id),
        "resultDescription": [
            {
                "id": f"{achievement_id}#outcome",
                "type": ["ResultDescription"],
                "name": "Assessment outcome",
                "resultType": "Status",
            },
            {
                "id": f"{achievement_id}#cpd",
                "type": ["ResultDescription"],
                "name": "CPD points (1 notional learning hour = 1 CPD point = 1 CPE point)",
                "resultType": "ext:CPDPoints",
                "valueMin": "0",
                "valueMax": str(cert.cpd_points),
            },
        ],
    }


def unit_achievement(cert: Certification, unit: Any) -> dict[str, Any]:
    """The Achievement for one unit of a certification version: what a unit-only award is for. Its own id
    (served there too), so no credential of a unit can be read as the whole certification."""
    parent_id = issuer.achievement_url(cert.code, cert.version)
    achievement_id = issuer.unit_achievement_url(cert.code, cert.version, unit.code)
    alignments = [a for a in _alignments(cert, parent_id) if a["targetType"] != "ext:AccreditedUnit"]
    alignments.append(
        {
            "type": ["Alignment"],
            "targetName": f"{cert.title} ({cert.code} version {cert.version})",
            "targetCode": cert.code,
            "targetFramework": "Accredited certifications",
            "targetType": "ext:PartOfCertification",
            "targetUrl": parent_id,
            "targetDescription": "The certification this unit belongs to. This award is for the unit alone.",
        }
    )
    criteria = "\n".join(f"- {c.code} {c.text}" for outcome in unit.outcomes for c in outcome.criteria)
    return {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": f"Unit {unit.code}: {unit.title}",
        "description": (
            f"Unit {unit.code} of {cert.title} ({cert.code} version {cert.version}), a competence-based "
            f"professional certification; this achievement is the unit alone, not the certification.\n\n"
            f"{credit_note()}"
        ),
        "criteria": {
            "id": f"{achievement_id}#criteria",
            "narrative": (
                "A portfolio of workplace evidence, assessed against every assessment criterion of this unit and "
                "judged competent by an assessor; the decision was then confirmed by a two-step verification "
                "(internal verification, then independent verification by a verifier independent of the "
                "training partner).\n\nCriteria:\n" + (criteria or "- (none listed)")
            ),
        },
        "creditsAvailable": float(unit.credits),
        "humanCode": f"{cert.code}-{unit.code}",
        "version": str(cert.version),
        "fieldOfStudy": isced_field_label(cert.isced_field),
        "inLanguage": "en",
        "alignment": alignments,
        "resultDescription": [
            {
                "id": f"{achievement_id}#outcome",
                "type": ["ResultDescription"],
                "name": "Assessment outcome",
                "resultType": "Status",
            },
            {
                "id": f"{achievement_id}#cpd",
                "type": ["ResultDescription"],
                "name": "CPD points (1 notional learning hour = 1 CPD point = 1 CPE point)",
                "resultType": "ext:CPDPoints",
                "valueMin": "0",
                "valueMax": str(unit.credits * HOURS_PER_CREDIT),
            },
        ],
    }


def name_identity(name: str) -> dict[str, Any]:
    """A salted SHA-256 of the learner's name: confirms a name someone already knows, reveals nothing else."""
    salt = secrets.token_hex(8)
    digest = hashlib.sha256((name + salt).encode()).hexdigest()
    return {
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": True,
        "identityHash": f"sha256${digest}",
        "salt": salt,
    }


def award_credential(
    award: Any, *, credential_id: str, subject_id: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    portfolio = award.portfolio
    cert = portfolio.certification
    valid_from = vc_jwt.format_datetime(dt.datetime.combine(award.awarded_on, dt.time.min, dt.UTC))
    unit = portfolio.unit
    ach = unit_achievement(cert, unit) if unit is not None else achievement(cert)
    code = f"{cert.code}-{unit.code}" if unit is not None else cert.code
    subject: dict[str, Any] = {
        "id": subject_id,
        "type": ["AchievementSubject"],
        "achievement": ach,
        "creditsEarned": float(award.credits),
        "licenseNumber": award.certificate_number,
        "result": [
            {"type": ["Result"], "resultDescription": f"{ach['id']}#outcome", "status": "Completed"},
            {"type": ["Result"], "resultDescription": f"{ach['id']}#cpd", "value": str(award.cpd_points)},
        ],
    }
    if name:
        subject["identifier"] = [name_identity(name)]
    return {
        "@context": list(CONTEXT),
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{portfolio.awarded_title} ({code})",
        "description": (
            f"Certificate {award.certificate_number}: {portfolio.awarded_title} ({code} version {cert.version}), "
            f"{award.credits} credits and {award.cpd_points} CPD points, awarded for life by "
            f"{current_app.config['ISSUER_NAME']}. {credit_note()}"
        ),
        "issuer": issuer.issuer_profile(),
        "validFrom": valid_from,
        "awardedDate": valid_from,
        "credentialSubject": subject,
        "credentialSchema": [dict(CREDENTIAL_SCHEMA)],
        "credentialStatus": status,
    }

"""Deep linking: an instructor picks certifications (or units) and the tool returns signed ltiResourceLink
items, each with a lineItem so that the LMS (Moodle in particular) creates a gradebook column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from pylti1p3.contrib.flask import FlaskRequest
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from sqlalchemy import func, select

from lti_tool.grading.scores import GRADE_MAXIMUM, MAIN_TAG, fit_label
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.cache import cache_get, cache_set
from lti_tool.launch.lti_messages import DbSessionService
from lti_tool.launch.models import ToolSession
from lti_tool.launch.tool_config import to_pylti_registration
from lti_tool.portfolio.catalogue.models import Certification, PartnerOffering
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
MSG_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
DATA_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/data"


def may_deep_link(sess: ToolSession) -> bool:
    return lti_roles.is_instructor(sess.roles) or lti_roles.is_lms_admin(sess.roles)


@dataclass(frozen=True)
class Choice:
    """Something an instructor can place in a course: a whole certification, or one of its units."""

    key: str  # CODE or CODE/UNIT
    code: str
    unit_code: str | None
    title: str
    credits: int

    @property
    def custom(self) -> dict[str, str]:
        params = {"certification": self.code}
        if self.unit_code:
            params["unit"] = self.unit_code
        return params


def _choices_for(cert: Certification, unit_codes: set[str] | None) -> list[Choice]:
    whole = unit_codes is None
    out = []
    if whole:
        out.append(Choice(cert.code, cert.code, None, f"{cert.title} ({cert.code})", cert.credits))
    for unit in cert.units:
        if whole or unit.code in unit_codes:  # type: ignore[operator]
            out.append(
                Choice(
                    f"{cert.code}/{unit.code}",
                    cert.code,
                    unit.code,
                    f"{unit.title} ({cert.code} unit {unit.code})",
                    unit.credits,
                )
            )
    return out


def offered_choices(partner_id: int | None) -> tuple[list[Choice], bool]:
    """What the partner offers (its pathways), or every certification when it has set none (False)."""
    offerings = []
    if partner_id is not None:
        offerings = list(
            db.session.scalars(
                select(PartnerOffering)
                .where(PartnerOffering.partner_id == partner_id)
                .order_by(PartnerOffering.certification_code)
            )
        )
    if offerings:
        choices: list[Choice] = []
        for offering in offerings:
            cert = latest_certification(offering.certification_code)
            if cert is None:
                continue
            units = {u.strip() for u in offering.unit_codes.split(",") if u.strip()} or None
            choices.extend(_choices_for(cert, units))
        return choices, True
    latest = (
        select(Certification.code, func.max(Certification.version).label("version"))
        .group_by(Certification.code)
        .subquery()
    )
    certs = db.session.scalars(
        select(Certification)
        .join(latest, (Certification.code == latest.c.code) & (Certification.version == latest.c.version))
        .order_by(Certification.code)
    )
    return [c for cert in certs for c in _choices_for(cert, None)], False


def _cache_key(sess: ToolSession) -> str:
    return f"grading:deep-link:{sess.id}"


def launch_settings(sess: ToolSession) -> dict[str, Any]:
    """The deep-linking request's settings, kept for the session (pylti1p3's copy lasts only the login TTL)."""
    kept = cache_get(_cache_key(sess))
    if kept is not None:
        return kept
    data = DbSessionService(FlaskRequest()).get_launch_data(sess.launch_id) if sess.launch_id else None
    if not data or not isinstance(data.get(SETTINGS_CLAIM), dict):
        raise UserError(
            "The deep-linking request from your LMS has expired.",
            status=410,
            title="Please start again from your course",
            hint="Close this window and choose 'add an activity from the tool' in your course again.",
        )
    kept = {"settings": data[SETTINGS_CLAIM], "deployment_id": data.get(DEPLOYMENT_CLAIM) or ""}
    cache_set(_cache_key(sess), kept, current_app.config["SESSION_HOURS"] * 3600)
    return kept


def resources(choices: list[Choice], launch_url: str) -> list[DeepLinkResource]:
    out = []
    for choice in choices:
        line_item = (
            LineItem()
            .set_score_maximum(GRADE_MAXIMUM)
            .set_label(fit_label(choice.title))  # Open edX keeps at most 100 characters
            .set_resource_id(choice.key)
            .set_tag(MAIN_TAG)
        )
        out.append(
            DeepLinkResource()
            .set_type("ltiResourceLink")
            .set_title(choice.title)
            .set_url(launch_url)
            .set_custom_params(choice.custom)
            .set_lineitem(line_item)
        )
    return out


def accepts_links(settings: dict[str, Any]) -> bool:
    return "ltiResourceLink" in (settings.get("accept_types") or [])


def accepts_multiple(settings: dict[str, Any]) -> bool:
    return settings.get("accept_multiple") in (True, "true")


def response_jwt(sess: ToolSession, chosen: list[Choice], launch_url: str) -> tuple[str, str]:
    """(deep_link_return_url, signed LtiDeepLinkingResponse JWT) for the chosen items."""
    kept = launch_settings(sess)
    link = DeepLink(
        to_pylti_registration(sess.deployment.registration),
        kept["deployment_id"] or sess.deployment.deployment_id,
        kept["settings"],
    )
    message = link.get_message_jwt(resources(chosen, launch_url))
    count = len(chosen)
    if message.get(DATA_CLAIM) is None:
        message.pop(DATA_CLAIM, None)  # echo `data` only when the platform sent it
    message[MSG_CLAIM] = f"Added {count} accreditation activit{'y' if count == 1 else 'ies'}."
    return kept["settings"]["deep_link_return_url"], link.encode_jwt(message)

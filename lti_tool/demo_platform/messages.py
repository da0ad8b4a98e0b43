"""The id_tokens the demo platform signs: the same claims a real LMS sends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from flask import url_for

from lti_tool.demo_platform import people
from lti_tool.demo_platform.setup import demo_base, demo_issuer, platform_key
from lti_tool.launch.keys import loaded_private_key
from lti_tool.launch.records import AGS_CLAIM, CLAIM, NRPS_CLAIM

AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]


def launch_claims(
    user: people.DemoUser,
    *,
    nonce: str,
    client_id: str,
    target_link_uri: str,
    message_type: str,
    link: people.DemoPlacement | None,
    deep_link_return_url: str | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    base = demo_base()
    claims: dict[str, Any] = {
        "iss": demo_issuer(),
        "aud": client_id,
        "azp": client_id,
        "sub": user.sub,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        CLAIM + "message_type": message_type,
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": people.DEPLOYMENT_ID,
        CLAIM + "target_link_uri": target_link_uri,
        CLAIM + "roles": list(user.roles),
        CLAIM + "context": {
            "id": people.COURSE_ID,
            "label": people.COURSE_LABEL,
            "title": people.COURSE_TITLE,
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
        },
        CLAIM + "tool_platform": {
            "guid": "demo-platform",
            "name": "Demo LMS",
            "product_family_code": "demo",
            "version": "1",
        },
        CLAIM + "launch_presentation": {
            "document_target": "iframe",
            "return_url": base + "/demo/",
            "locale": user.locale,
        },
        NRPS_CLAIM: {
            "context_memberships_url": base + url_for("demo.memberships", context_id=people.COURSE_ID),
            "service_versions": ["2.0"],
        },
        AGS_CLAIM: {"scope": AGS_SCOPES, "lineitems": base + url_for("demo.lineitems", context_id=people.COURSE_ID)},
    }
    if message_type == "LtiResourceLinkRequest" and link is not None:
        claims[CLAIM + "resource_link"] = {"id": link.id, "title": link.title}
        # Where the activity opens in this LMS, as an administrator sets it up in a real one (Moodle:
        # activity_url=https://moodle.example/mod/lti/view.php?l=$ResourceLink.id): the tool's e-mails link
        # there. The demo's course page is per person, so its people's list.
        claims[CLAIM + "custom"] = {**link.custom, "activity_url": base + url_for("demo.index")}
        if link.line_item_id is not None:
            claims[AGS_CLAIM]["lineitem"] = base + url_for(
                "demo.lineitem", context_id=people.COURSE_ID, item_id=link.line_item_id
            )
    if message_type == "LtiDeepLinkingRequest":
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
            "deep_link_return_url": base + (deep_link_return_url or url_for("demo.deep_link_return")),
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe", "window"],
            "accept_multiple": True,
            "auto_create": True,
            "data": uuid.uuid4().hex,
        }
    return claims


def sign(claims: dict[str, Any]) -> str:
    private_pem, jwk = platform_key()
    return jwt.encode(claims, loaded_private_key(private_pem), algorithm="RS256", headers={"kid": jwk["kid"]})

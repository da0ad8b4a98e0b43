"""What an LMS admin pastes into each platform to set the tool up by hand: the configuration page's values
and the Canvas developer key JSON."""

from __future__ import annotations

from typing import Any

from lti_tool.launch.tool_urls import TOOL_DESCRIPTION, TOOL_NAME, TOOL_SCOPES, ToolUrls


def setup_fields(urls: ToolUrls) -> list[tuple[str, str, str]]:
    """(id, label, value) for each value a platform asks for."""
    return [
        ("tool-url", "Tool URL / target link URI / launch URL", urls.launch),
        ("login-url", "Initiate login URL (OIDC login initiation)", urls.login),
        ("redirect-uris", "Redirection URI(s)", "\n".join(urls.redirect_uris)),
        ("jwks-url", "Public keyset URL (JWKS)", urls.jwks),
        ("deep-link-url", "Deep linking / content selection URL", urls.deep_link),
        ("domain", "Tool domain", urls.domain),
        ("register-url", "Dynamic registration URL", urls.register),
        ("canvas-json-url", "Canvas developer key JSON URL", urls.canvas_json),
    ]


def canvas_developer_key(urls: ToolUrls) -> dict[str, Any]:
    """Canvas › Developer Keys › + LTI Key › Method 'Enter URL' (or paste JSON)."""

    def placement(name: str, message_type: str, target: str, text: str) -> dict[str, Any]:
        return {
            "placement": name,
            "message_type": message_type,
            "target_link_uri": target,
            "text": text,
            "icon_url": urls.logo,
            "enabled": True,
        }

    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls.login,
        "target_link_uri": urls.launch,
        "public_jwk_url": urls.jwks,
        "scopes": list(TOOL_SCOPES),
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": urls.domain,
                "tool_id": "accreditation-portfolio",
                # Portfolios and certificates carry the learner's name and email.
                "privacy_level": "public",
                "settings": {
                    "text": TOOL_NAME,
                    "icon_url": urls.logo,
                    "placements": [
                        placement("course_navigation", "LtiResourceLinkRequest", urls.launch, TOOL_NAME),
                        placement(
                            "assignment_selection",
                            "LtiDeepLinkingRequest",
                            urls.deep_link,
                            "Accreditation portfolio (choose a certification)",
                        ),
                        placement(
                            "link_selection",
                            "LtiDeepLinkingRequest",
                            urls.deep_link,
                            "Accreditation portfolio (choose a certification)",
                        ),
                    ],
                },
            }
        ],
        # Course copies keep a history of ids: lets a copied placement find its certification again.
        "custom_fields": {
            "context_id_history": "$Context.id.history",
            "resource_link_id_history": "$ResourceLink.id.history",
            "canvas_course_id": "$Canvas.course.id",
        },
    }

"""Which certification a placement (resource link) is for."""

from __future__ import annotations

from lti_tool.launch.models import ResourceLink


def certification_code_for(link: ResourceLink) -> str | None:
    """The custom parameter set by deep linking or the LMS admin wins; else the deployment's default."""
    custom = link.custom or {}
    code = (custom.get("certification") or "").strip()
    if code:
        return code
    return link.deployment.default_certification_code or None

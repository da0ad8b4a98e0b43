"""Which certification (and which of its units) a placement (resource link) is for."""

from __future__ import annotations

from lti_tool.launch.models import ResourceLink


def certification_code_for(link: ResourceLink) -> str | None:
    """The custom parameter set by deep linking or the LMS admin wins; else the deployment's default."""
    custom = link.custom or {}
    code = (custom.get("certification") or "").strip()
    if code:
        return code
    return link.deployment.default_certification_code or None


def unit_code_for(link: ResourceLink) -> str | None:
    """The unit a unit placement names (custom parameter `unit`, set by deep linking), or None."""
    return ((link.custom or {}).get("unit") or "").strip() or None

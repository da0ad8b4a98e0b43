"""What the printed certificate shows besides the award itself: the issuer's logo from configuration, the units
awarded with their credits, and who signs it."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lti_tool.portfolio.catalogue.translations import localized
from lti_tool.portfolio.review.assessment_models import Award

log = logging.getLogger(__name__)

# The tool's own logo, used when LTI_TOOL_ISSUER_LOGO_FILE names none.
DEFAULT_LOGO = Path(__file__).resolve().parent.parent / "static" / "logo.svg"
MAX_LOGO_BYTES = 512 * 1024
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class AwardedUnit:
    code: str
    title: str
    credits: int


@dataclass(frozen=True)
class Signatory:
    name: str
    title: str


def awarded_units(award: Award) -> list[AwardedUnit]:
    """The units the award covers, in the certification's order: every unit, or the one of a unit-only
    portfolio; their titles in the page's language (the catalogue's translation) where it has them."""
    portfolio = award.portfolio
    return [
        AwardedUnit(u.code, localized(u, cert=portfolio.certification), u.credits)
        for u in portfolio.certification.units
        if portfolio.unit_code is None or u.code == portfolio.unit_code
    ]


def signatory(config: Mapping[str, Any]) -> Signatory:
    return Signatory(
        str(config.get("CERTIFICATE_SIGNATORY") or ""), str(config.get("CERTIFICATE_SIGNATORY_TITLE") or "")
    )


def _looks_like(media_type: str, data: bytes) -> bool:
    if media_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if media_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    return b"<svg" in data[:4096]


def logo_data_uri(config: Mapping[str, Any]) -> str | None:
    """The issuer's logo as a data: URI (the page's CSP allows images from data:, and an image cannot run
    script even when it is an SVG), or None when the configured file is missing, too large or not an image:
    the certificate then prints without one, and the log says why."""
    configured = str(config.get("ISSUER_LOGO_FILE") or "")
    path = Path(configured) if configured else DEFAULT_LOGO
    media_type = LOGO_TYPES.get(path.suffix.lower())
    if media_type is None:
        log.warning("issuer logo %s: not an .svg, .png or .jpg file; the certificate has no logo", path)
        return None
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_LOGO_BYTES + 1)
    except OSError as exc:
        log.warning("issuer logo %s cannot be read (%s); the certificate has no logo", path, exc)
        return None
    if len(data) > MAX_LOGO_BYTES or not _looks_like(media_type, data):
        log.warning("issuer logo %s: larger than %d bytes or not a %s; no logo", path, MAX_LOGO_BYTES, media_type)
        return None
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"

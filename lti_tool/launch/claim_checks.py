"""Shape checks on an id_token's claims, before anything reads them.

pylti1p3 assumes well-formed JSON (it calls .get() on whatever a claim holds), and the database refuses
strings longer than its columns or containing NUL. A platform that sends a claim of the wrong type gets a
clear 401 naming the claim, instead of a crash or a half-written launch. A claim that is missing is left to
pylti1p3's own checks, whose messages the LMS admin guides quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lti_tool.launch.errors import LaunchError

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MAX_ID_TOKEN_CHARS = 128 * 1024
# LTI 1.3 and OpenID Connect cap these identifiers at 255 characters; the columns are sized to match.
MAX_ID = 255
MAX_ISSUER = 500
MAX_ROLES = 100
MAX_ROLE = 1000


def _refuse(message: str) -> LaunchError:
    return LaunchError(message, status=401)


def contains_nul(value: Any, depth: int = 0) -> bool:
    """Whether any string (key or value) in a JSON document holds a NUL character: no LTI value has one, and
    PostgreSQL cannot store or even compare it."""
    if depth > 64:
        return True  # absurd nesting is refused along with NULs
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k, depth + 1) or contains_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v, depth + 1) for v in value)
    return False


def check_token_parts(header: Any, body: Any) -> None:
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise _refuse("The id_token's header and payload must be JSON objects.")
    if contains_nul(header) or contains_nul(body):
        raise _refuse("The id_token contains a NUL character or is nested too deeply.")


def _identifier(body: Mapping[str, Any], name: str, label: str, limit: int = MAX_ID) -> None:
    """A present identifier must be a non-empty string within the length LTI allows."""
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, str) or len(value) > limit:
        raise _refuse(f"The id_token's {label} must be a string of at most {limit} characters.")


def _optional_text(obj: Mapping[str, Any], name: str, label: str) -> None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise _refuse(f"The id_token's {label} must be a string.")


def check_claim_shapes(body: Mapping[str, Any]) -> None:
    """Refuse claims of the wrong type or size; leave missing ones to the LTI message validators."""
    _identifier(body, "iss", "issuer ('iss')", MAX_ISSUER)
    _identifier(body, "sub", "user id ('sub')")
    _identifier(body, CLAIM + "deployment_id", "deployment_id")
    _identifier(body, "nonce", "nonce", MAX_ID)
    for name in ("message_type", "version", "target_link_uri"):
        _optional_text(body, CLAIM + name, name)

    roles = body.get(CLAIM + "roles")
    if roles is not None and (
        not isinstance(roles, list)
        or len(roles) > MAX_ROLES
        or not all(isinstance(r, str) and len(r) <= MAX_ROLE for r in roles)
    ):
        raise _refuse("The id_token's roles claim must be a list of role URIs (strings).")

    for name, label in (("context", "context"), ("resource_link", "resource_link")):
        claim = body.get(CLAIM + name)
        if claim is None:
            continue
        if not isinstance(claim, dict):
            raise _refuse(f"The id_token's {label} claim must be a JSON object.")
        _identifier(claim, "id", f"{label} id")
        for field in ("title", "label"):
            _optional_text(claim, field, f"{label} {field}")

    for name, label in ((DL_SETTINGS, "deep_linking_settings"), (CLAIM + "for_user", "for_user")):
        claim = body.get(name)
        if claim is not None and not isinstance(claim, dict):
            raise _refuse(f"The id_token's {label} claim must be a JSON object.")

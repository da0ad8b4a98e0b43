"""LTI Dynamic Registration 1.0 (1EdTech), the tool's side.

An LMS admin pastes the tool's registration URL into the platform; the platform opens it with
`openid_configuration` (where to read the platform's OpenID configuration) and `registration_token`.
The tool reads and checks that configuration, posts its client registration to the platform's
registration endpoint with the token as Bearer, and records the returned client_id and deployment_id
as a Registration + Deployment. Registrations made this way stay inactive until a tool admin activates
them, unless the URL carried a one-time invite from a tool admin.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext

from lti_tool.audit.actor import Actor
from lti_tool.launch.claim_checks import contains_nul
from lti_tool.launch.invites import RegistrationInvite, consume_invite
from lti_tool.launch.models import Registration
from lti_tool.launch.registrations import (
    RegistrationError,
    RegistrationUpdate,
    announce_waiting,
    create_registration,
    find_registration,
    update_registration,
)
from lti_tool.launch.tool_urls import TOOL_CLAIMS, TOOL_DESCRIPTION, TOOL_NAME, TOOL_SCOPES, ToolUrls
from lti_tool.web import outbound
from lti_tool.web.errors import N_, UserError

log = logging.getLogger(__name__)

PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
MAX_BODY_BYTES = 512 * 1024
MAX_URL_CHARS = 1000  # the registration's URL columns
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
RESTART_HINT = (
    "Start the registration again from the LMS (a registration token is valid once, for a "
    "limited time). If it keeps failing, register the tool manually: see the tool's configuration "
    "page."
)


class DynamicRegistrationError(UserError):
    title = "The tool could not be registered"

    def __init__(self, message: str, *, status: int = 400, hint: str | None = RESTART_HINT) -> None:
        super().__init__(message, status=status, hint=hint)


@dataclass(frozen=True)
class PlatformConfiguration:
    url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None = None
    product_family_code: str = ""
    version: str = ""
    scopes_supported: tuple[str, ...] | None = None
    messages_supported: frozenset[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def host(self) -> str:
        return urlsplit(self.issuer).netloc

    def display_name(self) -> str:
        family = (self.product_family_code or "LMS").capitalize()
        return f"{family} ({self.host})"


# --- URLs -----------------------------------------------------------------------------------------


def _allow_local() -> bool:
    return bool(current_app.config.get("REGISTRATION_ALLOW_LOCAL"))


def check_platform_url(value: Any, what: str) -> str:
    """`what`: the configuration's name for the address (issuer, jwks_uri, ...), the same in every language."""
    if not isinstance(value, str) or not value.strip():
        raise DynamicRegistrationError(gettext("The platform gave no %(what)s.", what=what))
    if len(value.strip()) > MAX_URL_CHARS or "\x00" in value:
        raise DynamicRegistrationError(
            gettext(
                "The platform's %(what)s is longer than %(max)s characters or contains a NUL character.",
                what=what,
                max=MAX_URL_CHARS,
            )
        )
    schemes = ("https", "http") if _allow_local() else ("https",)
    shown = value[:200]
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise DynamicRegistrationError(
            gettext("The platform's %(what)s '%(value)s' is not a valid URL.", what=what, value=shown)
        ) from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise DynamicRegistrationError(
            gettext("The platform's %(what)s '%(value)s' is not an https URL.", what=what, value=shown)
            if len(schemes) == 1
            else gettext("The platform's %(what)s '%(value)s' is not an https or http URL.", what=what, value=shown)
        )
    if parts.username or parts.password:
        raise DynamicRegistrationError(gettext("The platform's %(what)s must not contain credentials.", what=what))
    return value.strip()


def issuer_matches(issuer: str, config_url: str) -> bool:
    """The configuration must come from the issuer's own site: same scheme and host (and port), and its
    URL must start with the issuer, path segment by path segment (https://x/moodle is not https://x/moodle2)."""
    iss, url = urlsplit(issuer), urlsplit(config_url)
    if iss.scheme.lower() != url.scheme.lower() or iss.netloc.lower() != url.netloc.lower():
        return False
    if iss.query or iss.fragment:
        return False
    prefix = iss.path.rstrip("/")
    return url.path == prefix or url.path.startswith(prefix + "/")


# --- HTTP ----------------------------------------------------------------------------------------


def _fetch(method: str, url: str, what: str, headers: dict[str, str], data: str | None = None) -> outbound.Fetched:
    """One call to the platform through web/outbound.py: a total deadline, one of the few slots anonymous
    requests may use at once, and only to addresses the registration policy allows. Every failure reads the
    same, whatever the cause: which host refused or how a port answered would let anyone opening this page
    map the tool's network (the log has the detail). `what`: a name marked N_, said in the page's language."""
    try:
        return outbound.fetch(
            method,
            url,
            max_bytes=MAX_BODY_BYTES,
            headers=headers,
            data=data,
            policy=outbound.policy_for(current_app.config, registration=True),
            anonymous=True,
        )
    except outbound.OutboundError as exc:
        raise DynamicRegistrationError(
            gettext(
                "The tool got no usable answer from the platform's %(what)s at %(url)s. The address may be "
                "unreachable from the tool or too slow to answer, or it is one the tool does not call (local, "
                "private and cloud-metadata addresses are refused).",
                what=gettext(what),
                url=url,
            )
        ) from exc


def _read_json(fetched: outbound.Fetched, what: str, url: str) -> Any:
    """`what` as for _fetch."""
    name = gettext(what)
    if fetched.truncated:
        raise DynamicRegistrationError(
            gettext("The %(what)s at %(url)s is larger than the tool accepts.", what=name, url=url)
        )
    try:
        data = json.loads(fetched.body)
    except (ValueError, RecursionError) as exc:
        raise DynamicRegistrationError(
            gettext(
                "The %(what)s at %(url)s is not JSON (content type '%(type)s').",
                what=name,
                url=url,
                type=fetched.headers.get("Content-Type", "unknown"),
            )
        ) from exc
    if contains_nul(data):
        raise DynamicRegistrationError(
            gettext("The %(what)s at %(url)s contains NUL characters or is nested too deeply.", what=name, url=url)
        )
    return data


def _platform_message(fetched: outbound.Fetched) -> str:
    """What the platform said when it refused: an OAuth error, a message field, or the start of its text."""
    text = fetched.body[:4096].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "error_description", "message", "errors") if data.get(k)]
        if parts:
            return ": ".join(parts)[:500]
    return " ".join(text.split())[:500] or gettext("(no message)")


def fetch_platform_configuration(url: str, registration_token: str | None) -> PlatformConfiguration:
    url = check_platform_url(url, "openid_configuration URL")
    headers = {"Accept": "application/json"}
    if registration_token:
        # Canvas wants the token on this request too; other platforms ignore it.
        headers["Authorization"] = f"Bearer {registration_token}"
    fetched = _fetch("GET", url, N_("OpenID configuration"), headers)
    if fetched.status != 200:
        raise DynamicRegistrationError(
            gettext(
                "The platform's OpenID configuration at %(url)s answered HTTP %(status)s: %(message)s",
                url=url,
                status=fetched.status,
                message=_platform_message(fetched),
            )
        )
    data = _read_json(fetched, N_("OpenID configuration"), url)
    return parse_platform_configuration(url, data)


def parse_platform_configuration(url: str, data: Any) -> PlatformConfiguration:
    if not isinstance(data, dict):
        raise DynamicRegistrationError(gettext("The OpenID configuration at %(url)s is not a JSON object.", url=url))
    issuer = check_platform_url(data.get("issuer"), "issuer")
    if not issuer_matches(issuer, url):
        raise DynamicRegistrationError(
            gettext(
                "The OpenID configuration at %(url)s names the issuer '%(issuer)s', which is not the site it came "
                "from. The tool accepts a platform's configuration only from under its own issuer URL.",
                url=url,
                issuer=issuer,
            ),
            hint="Check the platform's public address (for Moodle, $CFG->wwwroot) matches the address you use.",
        )
    missing = [name for name in REQUIRED_ENDPOINTS if not data.get(name)]
    if missing:
        raise DynamicRegistrationError(
            gettext("The platform's OpenID configuration lacks %(missing)s.", missing=", ".join(missing)),
            hint="This platform does not seem to support LTI Dynamic Registration; "
            "register the tool manually (see the tool's configuration page).",
        )
    endpoints = {name: check_platform_url(data[name], name) for name in REQUIRED_ENDPOINTS}
    lti = data.get(PLATFORM_CONFIG)
    if not isinstance(lti, dict):
        raise DynamicRegistrationError(
            gettext(
                "The platform's OpenID configuration has no LTI platform configuration (%(claim)s).",
                claim=PLATFORM_CONFIG,
            ),
            hint="This is not an LTI 1.3 platform configuration; register the tool manually instead.",
        )
    scopes = data.get("scopes_supported")
    return PlatformConfiguration(
        url=url,
        issuer=issuer,
        **endpoints,
        authorization_server=data.get("authorization_server")
        if isinstance(data.get("authorization_server"), str)
        else None,
        product_family_code=str(lti.get("product_family_code") or "")[:60],
        version=str(lti.get("version") or "")[:60],
        scopes_supported=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else None,
        messages_supported=_messages_supported(lti.get("messages_supported")),
        raw=data,
    )


def _messages_supported(value: Any) -> frozenset[str] | None:
    """Message types, given as objects ({"type": ...}, the spec) or as plain strings (Moodle)."""
    if not isinstance(value, list):
        return None
    types = [m.get("type") if isinstance(m, dict) else m for m in value]
    return frozenset(t for t in types if isinstance(t, str))


# --- the client registration the tool sends ------------------------------------------------------


def client_registration(platform: PlatformConfiguration, urls: ToolUrls) -> dict[str, Any]:
    scopes = [s for s in TOOL_SCOPES if platform.scopes_supported is None or s in platform.scopes_supported]
    canvas = platform.product_family_code == "canvas"
    messages: list[dict[str, Any]] = [{"type": RESOURCE_LINK, "target_link_uri": urls.launch, "label": TOOL_NAME}]
    if platform.messages_supported is None or DEEP_LINKING in platform.messages_supported:
        messages.append(
            {"type": DEEP_LINKING, "target_link_uri": urls.deep_link, "label": "Add an accreditation portfolio"}
        )
    if canvas:
        messages[0]["placements"] = ["course_navigation"]
        if len(messages) > 1:
            messages[1]["placements"] = ["assignment_selection", "link_selection"]
    tool_config: dict[str, Any] = {
        "domain": urls.domain,
        "description": TOOL_DESCRIPTION,
        "target_link_uri": urls.launch,
        "claims": list(TOOL_CLAIMS),
        "messages": messages,
    }
    if canvas:
        tool_config["https://canvas.instructure.com/lti/privacy_level"] = "public"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls.login,
        "redirect_uris": urls.redirect_uris,
        "client_name": TOOL_NAME,
        "jwks_uri": urls.jwks,
        "logo_uri": urls.logo,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIG: tool_config,
    }


@dataclass(frozen=True)
class PlatformAnswer:
    client_id: str
    deployment_id: str | None
    raw: dict[str, Any]


def post_registration(
    platform: PlatformConfiguration, payload: dict[str, Any], registration_token: str | None
) -> PlatformAnswer:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    url = platform.registration_endpoint
    fetched = _fetch("POST", url, N_("registration endpoint"), headers, json.dumps(payload))
    if fetched.status not in (200, 201):
        raise DynamicRegistrationError(
            gettext(
                "The platform refused the registration (HTTP %(status)s): %(message)s",
                status=fetched.status,
                message=_platform_message(fetched),
            )
        )
    data = _read_json(fetched, N_("registration response"), url)
    return parse_registration_answer(data)


def parse_registration_answer(data: Any) -> PlatformAnswer:
    if not isinstance(data, dict):
        raise DynamicRegistrationError("The platform's registration response is not a JSON object.")
    client_id = data.get("client_id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):  # JSON true is no client_id
        client_id = str(client_id)
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 255:
        raise DynamicRegistrationError("The platform's registration response has no usable client_id.")
    tool_config = data.get(TOOL_CONFIG)
    deployment_id = tool_config.get("deployment_id") if isinstance(tool_config, dict) else None
    if isinstance(deployment_id, int) and not isinstance(deployment_id, bool):
        deployment_id = str(deployment_id)
    if not isinstance(deployment_id, str) or not deployment_id.strip() or len(deployment_id) > 255:
        deployment_id = None
    return PlatformAnswer(client_id=client_id.strip(), deployment_id=deployment_id, raw=data)


# --- the whole exchange --------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """The outcome of a dynamic registration: the registration, and what changed when the platform
    registered the tool again under a client ID the tool already had (`updated`)."""

    registration: Registration
    updated: RegistrationUpdate | None = None


def register_platform(
    platform: PlatformConfiguration, registration_token: str | None, urls: ToolUrls, invite: RegistrationInvite | None
) -> Registration:
    """Post the registration and record it, in the caller's transaction (the caller commits)."""
    return register_or_update(platform, registration_token, urls, invite).registration


def register_or_update(
    platform: PlatformConfiguration, registration_token: str | None, urls: ToolUrls, invite: RegistrationInvite | None
) -> Registered:
    """Post the registration and record it, or update the registration in place when the platform answers
    with a client ID the tool already has for it (Moodle's "Update" of an existing tool re-registers under
    the same client ID); in the caller's transaction (the caller commits)."""
    answer = post_registration(platform, client_registration(platform, urls), registration_token)
    who = Actor(label=f"dynamic registration from {platform.issuer}"[:300])
    partner = invite.partner if invite is not None else None
    deployment_ids = [answer.deployment_id] if answer.deployment_id else []
    updated: RegistrationUpdate | None = None
    existing = find_registration(platform.issuer, answer.client_id)
    if existing is not None:
        # The platform proved it is the issuer (its configuration came from the issuer's site and its
        # registration endpoint accepted the token) and owns this client ID: what it says now is the truth.
        reg = existing
        updated = update_registration(
            who,
            reg,
            login_url=platform.authorization_endpoint,
            token_url=platform.token_endpoint,
            jwks_url=platform.jwks_uri,
            audience=platform.authorization_server,
            deployment_ids=deployment_ids,
            partner=partner,
            activate=invite is not None,
            action="registration.dynamic_update",
            details={"scopes_granted": str(answer.raw.get("scope") or "")[:2000]},
        )
    else:
        reg = _create(who, platform, answer, deployment_ids, invite, partner)
    if invite is not None:
        consume_invite(invite, reg.id)
        who.record("invite.use", subject=invite, after={"registration": reg.id})
    if not reg.active:
        announce_waiting(reg)
    log.info(
        "dynamic registration%s: issuer=%s client_id=%s deployment=%s active=%s",
        " (update in place)" if updated is not None else "",
        reg.issuer,
        reg.client_id,
        answer.deployment_id,
        reg.active,
    )
    return Registered(reg, updated)


def _create(
    who: Actor,
    platform: PlatformConfiguration,
    answer: PlatformAnswer,
    deployment_ids: list[str],
    invite: RegistrationInvite | None,
    partner: Any,
) -> Registration:
    try:
        return create_registration(
            who,
            issuer=platform.issuer,
            client_id=answer.client_id,
            name=platform.display_name(),
            login_url=platform.authorization_endpoint,
            token_url=platform.token_endpoint,
            jwks_url=platform.jwks_uri,
            audience=platform.authorization_server,
            deployment_ids=deployment_ids,
            active=invite is not None,
            partner=partner,
            action="registration.dynamic",
        )
    except RegistrationError as exc:
        if exc.status != 409:
            raise DynamicRegistrationError(exc.message, status=exc.status) from exc
        # A real conflict: the same platform and client ID were recorded a moment ago, by a registration that
        # ran at the same time as this one. The tool is registered; nothing in the LMS needs removing.
        raise DynamicRegistrationError(
            gettext(
                "%(refusal)s It was recorded a moment ago by a registration that ran at the same time as this one, "
                "so this one was not recorded twice.",
                refusal=exc.message,
            ),
            status=409,
            hint="Nothing needs removing: the tool is registered. Close this window and look at the tool in "
            "the LMS; to bring its settings up to date, register it again from the LMS (a registration "
            "under the same client ID updates the existing one).",
        ) from exc

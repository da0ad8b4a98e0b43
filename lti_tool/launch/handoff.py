"""The new-window handoff of a verified launch, for LMS frames where the browser keeps no cookie of ours.

Some platforms (Moodle 4.5) accept a login hint once: a new window cannot repeat the platform's login. So
the frame's launch is verified in full (signature, single-use state and nonce), and what it proved is
handed to a new, top-level window through a one-time token:

1. The frame shows "Continue in a new window": a same-origin form POST carries the token (never in a URL).
2. The new window (it cannot be framed) shows who is signing in, from which course, and asks to continue.
   That page binds the handoff to this browser: a SameSite=Strict cookie plus the same value in the form.
3. Continue consumes the handoff (single use) and starts the session, first-party, where cookies work.

Where the browser offers the Storage Access API (Safari, Firefox, Chromium), the frame first offers to stay
in the page: the person's tap asks the browser for the tool's cookies there; once granted, the frame posts
the token with its ticket and the session starts in the frame itself (`take_in_frame`), no window needed.

Login CSRF is stopped at each step: the launch is refused when a top-level window arrives without the state
cookie; the handoff pages answer only same-origin POSTs (an attacker's page is cross-site, and the tool's
frame page renders only inside registered platforms); the token expires in minutes, is stored hashed and
works once; and the person sees whose sign-in it is before going on.

The frame keeps a second secret, the ticket, to learn how the window got on: deep linking needs the
platform's response posted inside the frame (Moodle's "Select content" dialog calls
`parent.processContentItemReturnData`), so the new window leaves the signed response with the ticket.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request

from lti_tool.launch import roles as lti_roles
from lti_tool.launch.cache import cache_consume, cache_get, cache_set
from lti_tool.launch.models import Deployment, Registration
from lti_tool.launch.records import CLAIM
from lti_tool.web.compare import same_secret

HANDOFF_PREFIX = "handoff:"
TICKET_PREFIX = "handoff-ticket:"
RETURN_PREFIX = "handoff-return:"
BIND_COOKIE = "lti_handoff"
BIND_COOKIE_PATH = "/lti/handoff"
# How long the frame may wait for the new window: an instructor choosing what to add takes a while.
TICKET_TTL = 3600
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ttl() -> int:
    # Never longer than a login's state lives: the handoff stands in for that state.
    return max(30, min(int(current_app.config["HANDOFF_TTL"]), int(current_app.config["LTI_LOGIN_TTL"])))


def _text(value: Any, limit: int = 200) -> str:
    return str(value).strip()[:limit] if isinstance(value, str | int | float) else ""


def who(claims: Mapping[str, Any], registration: Registration | None) -> dict[str, Any]:
    """What the new window shows, so the person can tell it is their own sign-in."""
    name = _text(claims.get("name")) or " ".join(
        p for p in (_text(claims.get("given_name")), _text(claims.get("family_name"))) if p
    )
    context = claims.get(CLAIM + "context")
    context = context if isinstance(context, dict) else {}
    link = claims.get(CLAIM + "resource_link")
    link = link if isinstance(link, dict) else {}
    platform = claims.get(CLAIM + "tool_platform")
    platform = platform if isinstance(platform, dict) else {}
    roles = claims.get(CLAIM + "roles")
    roles = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
    platform_name = _text(platform.get("name")) or (registration.name if registration and registration.name else "")
    return {
        "name": name,  # the page says when there is none, in the person's language
        "email": _text(claims.get("email")),
        "roles": [r[:200] for r in roles[:8]],  # in words when shown, in the language of the page
        "course": _text(context.get("title")) or _text(context.get("label")),
        "activity": _text(link.get("title")),
        "platform": platform_name or urlsplit(str(claims.get("iss", ""))).netloc,
        "deep_linking": claims.get(CLAIM + "message_type") == DEEP_LINKING_REQUEST,
    }


def role_names(who_: Mapping[str, Any]) -> str:
    """The roles of `who` in words, for the new window (an offer made before this release kept them as text)."""
    roles = who_.get("roles")
    if isinstance(roles, str):
        return roles
    return ", ".join(lti_roles.describe(r for r in roles or [] if isinstance(r, str))[:4])


@dataclass(frozen=True)
class Offer:
    token: str  # goes to the new window (POST body), once
    ticket: str  # stays in the frame, to learn how the new window got on


def offer(
    claims: Mapping[str, Any], deployment: Deployment, registration: Registration | None, launch_id: str
) -> Offer:
    """Keep a verified launch for the new window (in the caller's transaction)."""
    token, ticket = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ttl = _ttl()
    record = {
        "claims": dict(claims),
        "deployment_id": deployment.id,
        "launch_id": launch_id,
        "who": who(claims, registration),
        "ticket": _digest(ticket),
        "bind": None,
        "expires": time.time() + ttl,
    }
    cache_set(HANDOFF_PREFIX + _digest(token), record, ttl, commit=False)
    cache_set(TICKET_PREFIX + _digest(ticket), {"state": "waiting"}, TICKET_TTL, commit=False)
    return Offer(token, ticket)


def _valid_secret(value: str | None) -> bool:
    return bool(value) and len(value or "") <= 100


def peek(token: str | None) -> dict[str, Any] | None:
    """The handoff waiting for this token, or None (unknown, used or expired). Does not use it up."""
    if not _valid_secret(token):
        return None
    return cache_get(HANDOFF_PREFIX + _digest(token or ""))


def bind(token: str, record: dict[str, Any]) -> str:
    """Tie the handoff to the browser showing the confirmation: the returned value goes in a Strict cookie
    and in the form; the last window to open the page wins (a reload re-posts the token)."""
    value = secrets.token_urlsafe(24)
    remaining = int(record["expires"] - time.time())
    cache_set(HANDOFF_PREFIX + _digest(token), {**record, "bind": _digest(value)}, max(1, remaining))
    return value


def take(token: str | None, bound: str | None, cookie: str | None) -> dict[str, Any] | None:
    """Use the handoff up, if this browser is the one it was bound to (cookie and form agree); else None."""
    if not (_valid_secret(token) and _valid_secret(bound) and _valid_secret(cookie)):
        return None
    if not same_secret(bound, cookie):
        return None
    record = peek(token)
    if record is None or not record.get("bind") or not same_secret(record["bind"], _digest(str(bound))):
        return None
    # Atomic: of two concurrent confirmations only one gets the record.
    return cache_consume(HANDOFF_PREFIX + _digest(str(token)), commit=False)


def take_in_frame(token: str | None, ticket: str | None) -> dict[str, Any] | None:
    """Use the handoff up in the frame that was offered it, once the browser let that frame keep cookies
    (Storage Access API): the page holds both secrets, the token and the ticket, and no other page has the
    ticket. None when unknown, used, expired or the secrets do not belong together."""
    if not (_valid_secret(token) and _valid_secret(ticket)):
        return None
    record = peek(token)
    if record is None or not same_secret(record["ticket"], _digest(str(ticket))):
        return None
    # Atomic: a second tap, or the new window confirming at the same moment, finds nothing.
    return cache_consume(HANDOFF_PREFIX + _digest(str(token)), commit=False)


def window_opened(record: Mapping[str, Any], session_id: str) -> None:
    """The new window's session started: tell the frame, and let a deep-linking response find the frame."""
    cache_set(TICKET_PREFIX + record["ticket"], {"state": "open"}, TICKET_TTL, commit=False)
    if record["who"].get("deep_linking"):
        cache_set(RETURN_PREFIX + session_id, record["ticket"], TICKET_TTL, commit=False)


def return_through_frame(session_id: str, action: str, jwt: str) -> bool:
    """Leave a deep-linking response for the frame that started this session, which posts it inside the
    platform's dialog. False when the session did not come from a handoff (post it from this page)."""
    ticket = cache_consume(RETURN_PREFIX + session_id, commit=False)
    if not isinstance(ticket, str):
        return False
    cache_set(TICKET_PREFIX + ticket, {"state": "deep_link", "action": action, "jwt": jwt}, TICKET_TTL, commit=False)
    return True


def poll(ticket: str | None) -> dict[str, Any] | None:
    """How the new window got on, for the frame holding `ticket`: None when unknown or expired. A
    deep-linking response is handed out once."""
    if not _valid_secret(ticket):
        return None
    key = TICKET_PREFIX + _digest(ticket or "")
    state = cache_get(key)
    if isinstance(state, dict) and state.get("state") == "deep_link":
        return cache_consume(key, commit=False)
    return state if isinstance(state, dict) else None


def _tool_origins() -> set[str]:
    origins = {request.host_url.rstrip("/").lower()}
    public = current_app.config.get("PUBLIC_URL") or ""
    if public:
        parts = urlsplit(public)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def same_origin_request() -> bool:
    """True when the tool's own page sent this request: Sec-Fetch-Site says so (every current browser), or,
    from an older browser, the Origin header is the tool's."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = (request.headers.get("Origin") or "").lower()
    return bool(origin) and origin in _tool_origins()


def framed_or_unknown() -> bool:
    """True when the request was made by a frame, or the browser does not say (Sec-Fetch-Dest)."""
    return request.headers.get("Sec-Fetch-Dest", "iframe") == "iframe"


def bind_cookie_kwargs() -> dict[str, Any]:
    """First-party and Strict: sent only on the tool's own requests from this window's browser."""
    return {
        "max_age": _ttl(),
        "httponly": True,
        "samesite": "Strict",
        "secure": request.is_secure,
        "path": BIND_COOKIE_PATH,
    }

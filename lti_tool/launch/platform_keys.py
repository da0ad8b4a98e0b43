"""Platform public keys: fetched from the platform's JWKS URL (through web/outbound.py: total deadline and
address policy), cached in the shared cache. Each process keeps the cached key set in memory for at most
LTI_TOOL_LAUNCH_CACHE_SECONDS (store/memo.py), and never past the shared copy's own expiry: a platform's keys
are fetched again after LTI_TOOL_JWKS_CACHE_SECONDS, as without the memory copy.

pylti1p3 keeps a cached key set forever once it has one; here an unknown `kid` forces one
re-fetch (rate-limited per URL) so that a platform's key rotation does not break launches.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from flask import current_app
from flask_babel import gettext
from jwcrypto.jwk import JWK

from lti_tool.launch.cache import cache_get, cache_get_entry, cache_set
from lti_tool.launch.errors import LaunchError
from lti_tool.launch.models import Registration
from lti_tool.store.db import utcnow
from lti_tool.store.memo import Memo
from lti_tool.web import outbound

REFETCH_MIN_SECONDS = 10
# Far above a real key set (a few keys, a few kB): a platform's JWKS URL that streams without end is cut off.
MAX_JWKS_BYTES = 1024 * 1024
log = logging.getLogger(__name__)
# The shared cache's key set per JWKS URL, with the shared copy's expiry (cleared with the registrations).
_key_sets: Memo[tuple[dict[str, Any], dt.datetime] | None] = Memo(
    "platform_key_sets", (Registration,), "LAUNCH_CACHE_SECONDS"
)


def _cached_key_set(url: str) -> dict[str, Any] | None:
    """The shared cache's key set for `url`: from this process's memory while both copies are fresh."""
    found = _key_sets.get(url, lambda: cache_get_entry(_cache_key(url)), keep=lambda entry: entry is not None)
    if found is not None and found[1] <= utcnow():
        _key_sets.forget(url)  # the shared copy has expired: fetch the platform's keys again
        return None
    return found[0] if found is not None else None


def _cache_key(url: str) -> str:
    return "jwks:" + hashlib.sha256(url.encode()).hexdigest()


def _stale_key(url: str) -> str:
    return "jwks-stale:" + hashlib.sha256(url.encode()).hexdigest()


def fetch_key_set(url: str) -> dict[str, Any]:
    """The platform's JWKS, fetched now; while the platform's endpoint is down, the last copy fetched within
    LTI_JWKS_STALE_SECONDS stands in (launches go on through a platform's brief outage)."""
    try:
        # A JWKS URL an administrator registered may redirect (to https, or to a key service); each hop is
        # checked by the address policy.
        fetched = outbound.fetch(
            "GET", url, max_bytes=MAX_JWKS_BYTES, headers={"Accept": "application/json"}, redirects=3
        )
        if fetched.status != 200:
            raise ValueError(f"HTTP {fetched.status}")
        if fetched.truncated:
            raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
        data = json.loads(fetched.body)
    except (outbound.OutboundError, ValueError, RecursionError) as exc:
        stale = cache_get(_stale_key(url))
        if stale is not None:
            log.warning("platform JWKS at %s unreachable (%s); using the copy fetched earlier", url, exc)
            return stale
        raise LaunchError(
            gettext("The platform's public keys could not be fetched from %(url)s: %(error)s", url=url, error=exc),
            status=502,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise LaunchError(
            gettext("The platform's keyset at %(url)s is not a JWKS document (no 'keys' list).", url=url), status=502
        )
    cache_set(_cache_key(url), data, current_app.config["LTI_JWKS_CACHE_SECONDS"])
    cache_set(_stale_key(url), data, current_app.config["LTI_JWKS_STALE_SECONDS"])
    _key_sets.put(url, (data, utcnow() + dt.timedelta(seconds=current_app.config["LTI_JWKS_CACHE_SECONDS"])))
    return data


def _find(key_set: Mapping[str, Any], kid: str) -> dict[str, Any] | None:
    for key in key_set.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


def find_platform_key(url: str | None, inline: Mapping[str, Any] | None, kid: str) -> dict[str, Any]:
    """The JWK for `kid`, from the inline key set or the (cached, re-fetched once) JWKS URL."""
    if inline:
        key = _find(inline, kid)
        if key:
            return key
    if not url:
        raise LaunchError(
            gettext(
                "The id_token was signed with key '%(kid)s', which is not in the keyset registered for this platform.",
                kid=kid,
            ),
            status=401,
        )
    cached = _cached_key_set(url)
    if cached is not None and _find(cached, kid) is None:
        # This process's copy may be older than the shared cache (another process fetched a rotated set).
        _key_sets.forget(url)
        cached = cache_get(_cache_key(url))
    key_set = cached if cached is not None else fetch_key_set(url)
    key = _find(key_set, kid)
    if key is None and cached is not None:
        throttle = "jwks-refetch:" + _cache_key(url)
        if cache_get(throttle) is None:
            cache_set(throttle, True, REFETCH_MIN_SECONDS)
            key = _find(fetch_key_set(url), kid)
    if key is None:
        raise LaunchError(gettext("The platform's keyset has no key with kid '%(kid)s'.", kid=kid), status=401)
    return key


def public_key(jwk: dict[str, Any]) -> RSAPublicKey:
    """The platform's key, ready to verify with. Parsing costs more than the RS256 check itself, so each
    distinct key is parsed once per process: the JWK's whole content is the cache key, so a rotated or
    changed key is parsed afresh and nothing cached here can go stale."""
    return _public_key(json.dumps(jwk, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _public_key(canonical_jwk: str) -> RSAPublicKey:
    key = serialization.load_pem_public_key(jwk_to_pem(json.loads(canonical_jwk)).encode())
    assert isinstance(key, RSAPublicKey)  # jwk_to_pem accepts RSA keys only
    return key


def jwk_to_pem(jwk: dict[str, Any]) -> str:
    if jwk.get("kty") != "RSA":
        raise LaunchError(
            gettext("The platform key is of type '%(kty)s'; LTI requires RSA keys.", kty=jwk.get("kty")), status=401
        )
    if jwk.get("alg") not in (None, "RS256"):
        raise LaunchError(
            gettext("The platform key is for algorithm '%(alg)s'; LTI requires RS256.", alg=jwk.get("alg")), status=401
        )
    try:
        return JWK.from_json(json.dumps(jwk)).export_to_pem().decode()
    except Exception as exc:  # jwcrypto raises several types for malformed keys
        raise LaunchError("The platform's key could not be read (malformed JWK).", status=401) from exc

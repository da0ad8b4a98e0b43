"""Calling a platform's LTI Advantage services with pylti1p3, wrapped where it falls short.

pylti1p3's ServiceConnector keeps access tokens in memory per object, never refreshes them, sets no HTTP
timeout and lower-cases the `next` page URL it reads from the Link header. This wrapper:
- caches tokens in the database per registration and scope set (every process and worker shares them, and
  only one of them asks the platform), refreshing a minute before expiry, and once more when the platform
  answers 401 or 403 (Open edX answers 403 `{"detail": "Invalid token signature."}` to a token it no longer
  accepts, never 401); a connector also remembers its token, so that requests after the first make no query;
- puts a per-read timeout, a total deadline and the outbound address policy on every request (web/outbound.py);
- reads `Link: <...>; rel="next"` as sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiServiceException
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import REQUESTS_USER_AGENT, ServiceConnector
from sqlalchemy import Connection, delete, func, insert, select, update

from lti_tool.grading.models import ServiceToken
from lti_tool.launch.models import Registration, ResourceLink
from lti_tool.launch.tool_config import to_pylti_registration
from lti_tool.store.db import db, utcnow
from lti_tool.web import outbound

SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
# A platform that no longer accepts a token answers 401 (Moodle, the spec) or 403 (Open edX's Django REST
# framework views: its authentication failure has no WWW-Authenticate header, so DRF turns it into 403).
TOKEN_REFUSED = frozenset({401, 403})
TOKEN_REFRESH_MARGIN = dt.timedelta(seconds=60)
DEFAULT_TOKEN_LIFETIME = 3600
MAX_PAGES = 200  # a platform whose `next` links never end must not keep the tool busy forever


class TokenRequestError(LtiServiceException):
    """The platform's token endpoint refused or failed (carries its response)."""


class TimeoutSession(outbound.OutboundSession):
    """An outbound session (per-read timeout, total deadline, address policy) that remembers the last
    response it received.

    requests looks up the proxy variables (walking the whole environment), .netrc and the CA bundle
    variables at every request: about a third of a worker's CPU per score. The environment does not change
    while a process runs, so the proxies are resolved once per host and the CA bundle once; .netrc is not
    read (service calls carry the platform's bearer token, never basic auth).
    """

    def __init__(
        self, timeout: float, deadline: float | None = None, policy: outbound.AddressPolicy | None = None
    ) -> None:
        super().__init__(timeout=timeout, deadline=deadline if deadline is not None else 3 * timeout, policy=policy)
        self.headers["User-Agent"] = REQUESTS_USER_AGENT
        self.last_response: requests.Response | None = None
        self.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.verify = bundle
        self._proxies: dict[str, dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment (HTTPS_PROXY, NO_PROXY, ...) gives this URL's host."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._proxies:
            self._proxies[host] = requests.utils.get_environ_proxies(url)
        return self._proxies[host]

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("proxies", self.proxies_for(url))
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response


def scope_key(scopes: Sequence[str]) -> str:
    return hashlib.sha256(" ".join(sorted(set(scopes))).encode()).hexdigest()


def next_page_url(headers: Any) -> str | None:
    link = headers.get("Link") or headers.get("link") if headers else None
    if not link:
        return None
    for entry in requests.utils.parse_header_links(link):
        if entry.get("rel", "").lower() == "next" and entry.get("url"):
            return entry["url"]
    return None


def refresh_margin(lifetime: dt.timedelta) -> dt.timedelta:
    """How long before expiry a token is replaced: a minute, or a tenth of a short-lived token's life (a
    platform that issues 60-second tokens would otherwise be asked for a new one at every call)."""
    return min(TOKEN_REFRESH_MARGIN, lifetime / 10)


@dataclass(frozen=True)
class CachedToken:
    value: str
    use_until: dt.datetime


_local_token_locks: dict[tuple[int, str], threading.Lock] = {}
_local_token_guard = threading.Lock()


class CachingServiceConnector(ServiceConnector):
    """pylti1p3's connector with shared cached tokens, timeouts and exact `next` links.

    Tokens: this object remembers the token it used until shortly before expiry (no query per request);
    the database row is what other processes and later objects share. When no valid token is cached, the
    request for a new one is serialised per platform and scope set (an advisory lock on PostgreSQL, a
    process lock on SQLite), and whoever waited reads the token the first one stored: one token request
    per platform per token lifetime, however many workers start at once.
    """

    _requests_session: TimeoutSession

    def __init__(self, registration: Registration, timeout: float | None = None) -> None:
        self.registration_row_id = registration.id
        config = current_app.config
        session = TimeoutSession(
            timeout if timeout is not None else config["HTTP_TIMEOUT"],
            config["HTTP_DEADLINE"],
            outbound.policy_for(config),
        )
        super().__init__(to_pylti_registration(registration), requests_session=session)
        self.token_requests = 0
        self._tokens: dict[str, CachedToken] = {}

    def _where(self, key: str) -> tuple[Any, ...]:
        return (ServiceToken.registration_id == self.registration_row_id, ServiceToken.scope_key == key)

    # Token rows are read and written on their own connection so that caching a token never commits,
    # or waits on, the caller's transaction.
    def _read_token(self, conn: Connection, key: str) -> CachedToken | None:
        row = conn.execute(
            select(ServiceToken.access_token, ServiceToken.expires_at, ServiceToken.created_at).where(*self._where(key))
        ).first()
        if row is None:
            return None
        use_until = row.expires_at - refresh_margin(row.expires_at - row.created_at)
        return CachedToken(row.access_token, use_until) if use_until > utcnow() else None

    def _store_token(self, conn: Connection, key: str, scopes: Sequence[str], token: str, lifetime: int) -> CachedToken:
        now = utcnow()
        expires_at = now + dt.timedelta(seconds=lifetime)
        values = {
            "access_token": token,
            "expires_at": expires_at,
            "scopes": sorted(set(scopes)),
            "created_at": now,
        }
        if conn.execute(update(ServiceToken).where(*self._where(key)).values(**values)).rowcount == 0:
            conn.execute(insert(ServiceToken).values(registration_id=self.registration_row_id, scope_key=key, **values))
        return CachedToken(token, expires_at - refresh_margin(dt.timedelta(seconds=lifetime)))

    def forget_token(self, scopes: Sequence[str], token: str | None = None) -> None:
        """Drop the cached token (only `token`, when given: another process may have stored a newer one)."""
        key = scope_key(scopes)
        self._tokens.pop(key, None)
        self._access_tokens.clear()
        where = self._where(key) + ((ServiceToken.access_token == token,) if token else ())
        with db.engine.begin() as conn:
            conn.execute(delete(ServiceToken).where(*where))

    def get_access_token(self, scopes: Sequence[str]) -> str:
        key = scope_key(scopes)
        cached = self._tokens.get(key)
        if cached is None or cached.use_until <= utcnow():
            cached = self._shared_token(key, scopes)
            self._tokens[key] = cached
        return cached.value

    def _shared_token(self, key: str, scopes: Sequence[str]) -> CachedToken:
        with db.engine.connect() as conn:
            cached = self._read_token(conn, key)
        if cached:
            return cached
        with self._token_lock(key) as conn:
            cached = self._read_token(conn, key)  # another worker may have fetched it while we waited
            if cached:
                return cached
            token, lifetime = self._request_token(scopes)
            return self._store_token(conn, key, scopes, token, lifetime)

    @contextlib.contextmanager
    def _token_lock(self, key: str) -> Iterator[Connection]:
        """A transaction on its own connection, holding the lock for this platform and scope set until it ends."""
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                lock = zlib.crc32(f"grade-token:{self.registration_row_id}:{key}".encode())
                conn.execute(select(func.pg_advisory_xact_lock(lock)))
                yield conn
            return
        with _local_token_guard:
            local = _local_token_locks.setdefault((self.registration_row_id, key), threading.Lock())
        with local, db.engine.begin() as conn:
            yield conn

    def _request_token(self, scopes: Sequence[str]) -> tuple[str, int]:
        """A new token from the platform (pylti1p3 signs the client assertion) and its lifetime in seconds."""
        self._access_tokens.clear()  # pylti1p3's own in-memory cache must not answer for us
        self.token_requests += 1
        try:
            token = super().get_access_token(scopes)
        except LtiServiceException as exc:
            raise TokenRequestError(exc.response) from exc
        lifetime = DEFAULT_TOKEN_LIFETIME
        response = self._requests_session.last_response
        try:
            lifetime = int((response.json() if response is not None else {}).get("expires_in") or lifetime)
        except (ValueError, TypeError, AttributeError):
            pass
        return token, max(lifetime, 1)

    def make_service_request(self, scopes: Sequence[str], url: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().make_service_request(scopes, url, *args, **kwargs)
        except TokenRequestError:
            raise
        except LtiServiceException as exc:
            if exc.response.status_code not in TOKEN_REFUSED:
                raise
            # The platform no longer accepts the token (revoked, its keys rotated, or its clock differs): fetch
            # a new one once and try again; a second refusal is the platform's answer.
            used = self._tokens.get(scope_key(scopes))
            self.forget_token(scopes, used.value if used else None)
            result = super().make_service_request(scopes, url, *args, **kwargs)
        result["next_page_url"] = next_page_url(result["headers"])
        return result


def connector_for(registration: Registration) -> CachingServiceConnector:
    return CachingServiceConnector(registration)


def ags_data(link: ResourceLink) -> dict[str, Any]:
    data: dict[str, Any] = {"scope": list(link.ags_scopes or [])}
    if link.ags_lineitems_url:
        data["lineitems"] = link.ags_lineitems_url
    if link.ags_lineitem_url:
        data["lineitem"] = link.ags_lineitem_url
    return data


def ags_for(link: ResourceLink, connector: CachingServiceConnector | None = None) -> AssignmentsGradesService:
    connector = connector or connector_for(link.deployment.registration)
    return AssignmentsGradesService(connector, ags_data(link))  # type: ignore[arg-type]


def _json_objects(items: Iterable[object]) -> Iterator[dict[str, Any]]:
    """The JSON objects among `items`: pylti1p3 declares NRPS members as TMember but does not check them."""
    return (item for item in items if isinstance(item, dict))


def fetch_members(registration: Registration, memberships_url: str) -> list[dict[str, Any]]:
    """Every member of a context through NRPS, following the platform's `next` links."""
    service = NamesRolesProvisioningService(connector_for(registration), {"context_memberships_url": memberships_url})
    members: list[dict[str, Any]] = []
    url: str | None = memberships_url
    seen: set[str] = set()
    while url and url not in seen and len(seen) < MAX_PAGES:
        seen.add(url)
        page, url = service.get_members_page(url)
        members.extend(_json_objects(page))
    return members

"""Every HTTP call the tool makes to another server goes through here: dynamic registration, platform keys
(JWKS), and the token, AGS and NRPS calls pylti1p3 makes through `OutboundSession`.

Three rules, in one place so that a call added later gets them too:

- A total deadline per call (LTI_TOOL_HTTP_DEADLINE), not only a per-read timeout: a server that sends one
  byte every second never trips a read timeout, and would otherwise hold a server thread as long as it likes.
  A watchdog thread shuts the call's sockets down when the deadline passes, whatever the call is doing
  (connecting, in the TLS handshake, reading headers or the body); the call then fails as a timeout.
- An address policy, applied to the addresses a host name resolves to *before* connecting (a refused
  address never sees a packet) and on the address actually connected to (no DNS rebinding between a check
  and the connection): never loopback, link-local, cloud metadata services, CGNAT, multicast or reserved
  addresses; private networks only when configured (LTI_TOOL_OUTBOUND_ALLOW_PRIVATE).
- Fetches started by anonymous requests (dynamic registration: anyone may open the page with any URL) take
  one of a few slots per process (LTI_TOOL_REGISTRATION_FETCH_CONCURRENCY); when none is free the caller
  gets a 503 at once instead of queuing behind slow servers, so pages and /healthz keep their threads.

Errors carry a fixed message safe to show anyone: which host refused, how a port answered or what the
exception class was would let a caller map internal hosts and ports. The detail goes to the log.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import ipaddress
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: refused even where private networks are allowed (they hand out credentials).
# AWS (IPv4 and IPv6), ECS task metadata, Alibaba, Oracle; GCP and Azure use 169.254.169.254 too.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# What an on-premises LMS may sit on, allowed only with LTI_TOOL_OUTBOUND_ALLOW_PRIVATE.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# Carrier-grade NAT (RFC 6598): not an LMS's address, but where Alibaba Cloud keeps its metadata service.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


# --- errors --------------------------------------------------------------------------------------


class OutboundError(requests.exceptions.ConnectionError):
    """An outbound call failed. `str()` is a fixed sentence safe to show; `detail` is for the log only.

    A requests ConnectionError, so callers that already retry network errors (the grade worker) or explain
    them (the roster) treat these the same way."""

    message = "The server could not be reached."

    def __init__(self, detail: str = "") -> None:
        super().__init__(self.message)
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class OutboundRefused(OutboundError):
    message = "The address is not one the tool calls: it is a local, private, link-local or cloud-metadata address."


class OutboundTimeout(OutboundError, requests.exceptions.Timeout):
    message = "The server did not answer completely in time."


class OutboundUnreachable(OutboundError):
    message = "The server could not be reached (no answer, a refused connection, or a TLS failure)."


class OutboundBusy(UserError):
    status = 503
    title = "Please try again in a moment"
    retry_after = 5

    def __init__(self) -> None:
        super().__init__(
            "The tool is busy contacting other platforms just now, so it did not start this request.",
            hint="Wait a few seconds and try again; nothing was registered or changed.",
        )


class _AddressRefused(Exception):
    """Raised inside a connection attempt. Deliberately not an OSError: urllib3 would retry or wrap it."""


# --- the address policy ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressPolicy:
    allow_local: bool = False  # every address: development and tests only (loopback platforms)
    allow_private: bool = False  # private networks (RFC 1918, IPv6 unique-local), never metadata services

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address):
            if address.teredo is not None:
                return self.allow_local  # a tunnel to an address that cannot be checked
            embedded = address.ipv4_mapped or address.sixtofour or _nat64_embedded(address)
            if embedded is not None:
                return self.allows(embedded)
        if self.allow_local:
            return True
        if address in METADATA_ADDRESSES:
            return False
        if (
            address.is_loopback
            or address.is_link_local
            or address.is_unspecified
            or address.is_multicast
            or address.is_reserved
            or address in SHARED_ADDRESS_SPACE
            or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        ):
            return False
        if any(address in network for network in PRIVATE_NETWORKS):
            return self.allow_private
        return address.is_global


def _nat64_embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%")[0])  # an IPv6 zone (fe80::1%eth0) is no part of the address


def policy_for(config: Mapping[str, Any], *, registration: bool = False) -> AddressPolicy:
    """The policy for calls to registered platforms, or (registration=True) for dynamic registration, whose
    URLs come from whoever opens the page: there only REGISTRATION_ALLOW_LOCAL opens local addresses."""
    allow_private = bool(config.get("OUTBOUND_ALLOW_PRIVATE"))
    if registration:
        allow_local = bool(config.get("REGISTRATION_ALLOW_LOCAL"))
    else:
        allow_local = bool(config.get("OUTBOUND_ALLOW_LOCAL"))
    return AddressPolicy(allow_local=allow_local, allow_private=allow_private or allow_local)


def check_host(host: str, port: int, policy: AddressPolicy) -> list[Any]:
    """The host's addresses (getaddrinfo entries); _AddressRefused when any of them is refused (a name with
    one public and one internal address must not be a way in)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        if not policy.allows(parse_address(str(info[4][0]))):
            raise _AddressRefused(f"{host} resolves to {info[4][0]}")
    return infos


# --- the deadline ---------------------------------------------------------------------------------


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Call:
    """One outbound call: its deadline, policy and the sockets it uses (as duplicates we own, so shutting
    them down at the deadline can never touch a file descriptor reused by something else)."""

    def __init__(self, seconds: float, policy: AddressPolicy | None, url: str) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.policy = policy
        self.host = urlsplit(url).hostname or ""
        self.expired = False
        self.refused = ""
        self.done = False
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[socket.socket, socket.socket]] = {}

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.done or id(sock) in self._watched or sock.fileno() < 0:
                return
            twin = socket.fromfd(sock.fileno(), sock.family, sock.type)
            # Holding `sock` keeps its id from being reused by another socket while this call runs.
            self._watched[id(sock)] = (sock, twin)
            if self.expired:
                _shutdown(twin)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            for _, twin in self._watched.values():
                _shutdown(twin)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            twins = [twin for _, twin in self._watched.values()]
            self._watched.clear()
        for twin in twins:
            twin.close()


class _Watchdog:
    """One thread for the whole process, sleeping until the earliest deadline of the calls in flight."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Call]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, call: _Call) -> None:
        with self._cond:
            heapq.heappush(self._heap, (call.deadline, next(self._seq), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbound-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is call:  # sooner than what the thread sleeps for
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        call = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            call.expire()

    def after_fork(self) -> None:
        # The parent's thread does not exist in a forked child, and its lock may have been held at the fork.
        self._heap = []
        self._cond = threading.Condition()
        self._thread = None


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.after_fork)
_current: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("lti_tool_outbound_call", default=None)


@contextlib.contextmanager
def _call(seconds: float, policy: AddressPolicy | None, url: str) -> Iterator[_Call]:
    outer = _current.get()
    if outer is not None:  # a session request inside fetch(): one call, one deadline
        yield outer
        return
    call = _Call(seconds, policy, url)
    token = _current.set(call)
    _watchdog.add(call)
    try:
        yield call
    finally:
        _current.reset(token)
        call.finish()


def _failure(call: _Call, exc: BaseException | None) -> OutboundError:
    if call.refused:
        return OutboundRefused(call.refused)
    if call.expired:
        return OutboundTimeout(f"{call.host}: total deadline of {call.seconds:g} s passed ({exc!r})")
    if isinstance(exc, requests.exceptions.Timeout):
        return OutboundTimeout(f"{call.host}: {exc!r}")
    return OutboundUnreachable(f"{call.host}: {exc!r}")


# --- connections that obey the call ----------------------------------------------------------------


class _WatchedConnection:
    """Mixed into urllib3's connections: connects only to allowed addresses, and hands every socket it uses
    to the current call's watchdog (a kept-alive connection is handed over again by each call using it)."""

    def _new_conn(self: Any) -> socket.socket:
        call = _current.get()
        if call is None:
            return super()._new_conn()  # type: ignore[misc]
        if call.policy is None:
            sock = super()._new_conn()  # type: ignore[misc]
        elif self.proxy is not None:
            # Through a configured proxy, which resolves the name itself: check what it will most likely
            # reach; the proxy's own egress rules are the last word there.
            _checked(call, lambda: check_host(call.host, self.port, call.policy))
            sock = super()._new_conn()  # type: ignore[misc]
        else:
            infos = _checked(call, lambda: _resolve(self, call.policy))
            sock = _connect(self, infos)
        call.watch(sock)
        return sock

    def request(self: Any, *args: Any, **kwargs: Any) -> None:
        call = _current.get()
        if call is not None and self.sock is not None:
            call.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _checked(call: _Call, check: Any) -> Any:
    try:
        return check()
    except _AddressRefused as exc:
        call.refused = str(exc)
        raise


def _resolve(conn: Any, policy: AddressPolicy) -> list[Any]:
    try:
        return check_host(conn._dns_host, conn.port, policy)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except UnicodeError as exc:  # a name IDNA cannot encode (a..b, a label of 64+ characters)
        raise NameResolutionError(conn.host, conn, socket.gaierror(str(exc))) from exc


def _connect(conn: Any, infos: list[Any]) -> socket.socket:
    """Connect to the checked addresses themselves (as urllib3 would to the name), so the address connected
    to is the address checked."""
    error: OSError | None = None
    for info in infos:
        address, port = info[4][0], info[4][1]
        try:
            return urllib3_connection.create_connection(
                (address, port), conn.timeout, source_address=conn.source_address, socket_options=conn.socket_options
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


class _HTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


# --- what callers use -----------------------------------------------------------------------------


class OutboundSession(requests.Session):
    """A requests session whose every request has the total deadline, the per-read timeout and the address
    policy. pylti1p3's service connector takes one (grading/services.py)."""

    def __init__(self, *, timeout: float, deadline: float, policy: AddressPolicy | None) -> None:
        super().__init__()
        self.timeout = timeout
        self.deadline = deadline
        self.policy = policy
        adapter = _WatchedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url_text = url.decode() if isinstance(url, bytes) else url
        with _call(self.deadline, self.policy, url_text) as call:
            timeout = kwargs.get("timeout")
            per_read = self.timeout if timeout is None or isinstance(timeout, tuple) else min(timeout, self.timeout)
            kwargs["timeout"] = min(per_read, call.remaining())
            try:
                response = super().request(method, url, *args, **kwargs)
            except (
                requests.RequestException,
                _AddressRefused,
                ValueError,
            ) as exc:  # ValueError: URLs urllib3 cannot parse
                if isinstance(exc, OutboundError):
                    raise
                failure = _failure(call, exc)
                log.warning("outbound %s %s failed: %s", method, url_text, failure.detail)
                raise failure from None
            if call.expired and not kwargs.get("stream"):
                # The body was read when the deadline struck: it may be cut short, so none of it is used.
                response.close()
                failure = _failure(call, None)
                log.warning("outbound %s %s failed: %s", method, url_text, failure.detail)
                raise failure
            return response


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool  # the body was longer than max_bytes (body holds its first max_bytes)


def settings(config: Mapping[str, Any]) -> tuple[float, float]:
    """(per-read timeout, total deadline) in seconds."""
    return float(config["HTTP_TIMEOUT"]), float(config["HTTP_DEADLINE"])


def session_for(config: Mapping[str, Any], *, policy: AddressPolicy | None = None) -> OutboundSession:
    timeout, deadline = settings(config)
    return OutboundSession(timeout=timeout, deadline=deadline, policy=policy or policy_for(config))


_slots_guard = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


@contextlib.contextmanager
def anonymous_slot(config: Mapping[str, Any]) -> Iterator[None]:
    """One of the process's few slots for fetches an anonymous request started; OutboundBusy at once if none."""
    size = max(int(config["REGISTRATION_FETCH_CONCURRENCY"]), 1)
    with _slots_guard:
        slots = _slots.setdefault(size, threading.BoundedSemaphore(size))
    if not slots.acquire(blocking=False):
        log.warning("outbound: all %d anonymous fetch slots busy; refused with 503", size)
        raise OutboundBusy()
    try:
        yield
    finally:
        slots.release()


def fetch(
    method: str,
    url: str,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    data: str | bytes | None = None,
    policy: AddressPolicy | None = None,
    anonymous: bool = False,
    redirects: int = 0,
) -> Fetched:
    """One request and at most `max_bytes` of its body, all within the deadline. Up to `redirects` redirects
    are followed, each hop under the same policy and deadline. Raises OutboundError (fixed message, detail
    logged), or OutboundBusy."""
    config = current_app.config
    timeout, deadline = settings(config)
    policy = policy or policy_for(config)
    slot = anonymous_slot(config) if anonymous else contextlib.nullcontext()
    with slot, _call(deadline, policy, url) as call:
        try:
            session = OutboundSession(timeout=timeout, deadline=deadline, policy=policy)
            with (
                session,
                session.request(
                    method, url, headers=dict(headers or {}), data=data, allow_redirects=False, stream=True
                ) as resp,
            ):
                body, truncated = _read_body(resp, max_bytes)
                status, resp_headers = resp.status_code, dict(resp.headers)
        except OutboundError:
            raise
        except (requests.RequestException, _AddressRefused, ValueError) as exc:  # ValueError: URLs urllib3 cannot parse
            failure = _failure(call, exc)
            log.warning("outbound %s %s failed: %s", method, url, failure.detail)
            raise failure from None
        if call.expired:
            failure = _failure(call, None)
            log.warning("outbound %s %s failed: %s", method, url, failure.detail)
            raise failure
    return Fetched(url, status, requests.structures.CaseInsensitiveDict(resp_headers), body, truncated)


def _read_body(resp: requests.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False

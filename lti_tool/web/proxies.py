"""X-Forwarded-* from trusted proxies only (LTI_TOOL_TRUST_PROXY with LTI_TOOL_TRUSTED_PROXIES).

Behind a TLS-terminating proxy the tool must read the client's address, scheme and host from the proxy's
X-Forwarded-* headers: rate limits count per client, URLs and Secure cookies follow https. But anyone who
reaches the tool directly can send those headers too, and a new X-Forwarded-For per request would give them
a fresh rate-limit budget each time. So the headers are believed only when the connection itself comes from
a configured proxy address; from anyone else they are removed before the application sees them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
)


def parse_trusted_proxies(value: str | Iterable[str]) -> tuple[Network, ...]:
    """'127.0.0.1,10.0.0.0/8' (commas or spaces) -> networks; SystemExit naming the bad entry."""
    entries = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise SystemExit(
                f"Configuration error: LTI_TOOL_TRUSTED_PROXIES must list IP addresses or networks such as "
                f"'127.0.0.1,10.0.0.0/8', got {entry!r}"
            ) from exc
    return tuple(networks)


class TrustedProxyFix:
    """ProxyFix for requests whose connection comes from a trusted proxy; forwarded headers dropped otherwise."""

    def __init__(self, app: WSGIApplication, trusted: tuple[Network, ...], hops: int) -> None:
        self.app = app
        self.trusted = trusted
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=0)

    def from_trusted_proxy(self, environ: WSGIEnvironment) -> bool:
        try:
            peer = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).split("%")[0])
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in self.trusted)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if self.from_trusted_proxy(environ):
            return self.fixed(environ, start_response)
        for key in FORWARDED_HEADERS:
            environ.pop(key, None)
        return self.app(environ, start_response)

"""How the tool's cookies are set so that they survive inside an LMS iframe.

Browsers that block third-party cookies (Chrome, Edge, Safari 18.4+, Firefox) still keep a *partitioned*
cookie (CHIPS: `Partitioned; Secure; SameSite=None`) in the frame: it is stored under the LMS's site and
sent back only inside that LMS's pages, so it cannot track anyone across sites, and the launch's state
check and the session work in the frame as if cookies were allowed.

`Secure` needs https; browsers also accept it on http://localhost (Chrome, Firefox; not Safari), which is
how the demo and a laptop evaluation get the cross-site behaviour. Over plain http elsewhere the cookies
stay SameSite=Lax: first-party windows only.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def cross_site_capable() -> bool:
    """True when the browser will accept a Secure cookie from this request (https, or a local host)."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return request.is_secure or host.lower() in LOCAL_HOSTS


def partitioned_cookies() -> bool:
    return bool(current_app.config.get("PARTITIONED_COOKIES", True))


def cookie_kwargs() -> dict[str, Any]:
    """Attributes for a cookie the tool needs back inside the LMS iframe (login state, session)."""
    if not cross_site_capable():
        return {"secure": False, "samesite": "Lax"}
    # Werkzeug's `partitioned=True` also sets Secure; SameSite=None is what lets the frame send it.
    return {"secure": True, "samesite": "None", "partitioned": partitioned_cookies()}

"""The tool's external URLs: with LTI_TOOL_PUBLIC_URL set, always built on it, never on the request's Host.

A URL the tool hands to a platform or a browser (the login's redirect_uri, deep-linking content items,
JWKS and registration URLs) must not follow a Host header: anyone can send a request with a forged one, and
behind a proxy the request may not know the public name at all. `ToolFlask.url_for` makes every
`url_for(..., _external=True)` in the code and the templates follow this rule, so there is no second way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_request_context, request


def public_base(app: Flask | None = None) -> str:
    """LTI_TOOL_PUBLIC_URL; without it, the current request's own address (development), else HOST:PORT."""
    app = app or current_app
    configured = str(app.config.get("PUBLIC_URL") or "")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return f"http://{app.config['HOST']}:{app.config['PORT']}"


class ToolFlask(Flask):
    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        external = _external if _external is not None else not has_request_context()
        if not external or not (self.config.get("PUBLIC_URL") or not has_request_context()):
            # A path, or (no public URL configured) Flask's own external URL for this request.
            return super().url_for(
                endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external, **values
            )
        if has_request_context():
            path = super().url_for(endpoint, _anchor=_anchor, _method=_method, _external=False, **values)
        else:
            with self.test_request_context("/"):
                path = super().url_for(endpoint, _anchor=_anchor, _method=_method, _external=False, **values)
        return public_base(self) + path


def external_url(endpoint: str, **values: Any) -> str:
    return current_app.url_for(endpoint, _external=True, **values)


# The value a series' one URL is built with, then replaced: no row has such an id.
_SLOT = 7_919_191_919_191_919


def url_series(endpoint: str, key: str, **values: Any) -> Callable[[int], str]:
    """URLs of one endpoint that differ only in one whole number (a page's link to each of its criteria):
    `url_for` builds one of them, and each is that URL with its own number in the slot. A page with a hundred
    such links pays for one build (url_for, with the session token's URL defaults, is a tenth of the portfolio
    page's time otherwise). Should the slot's digits appear twice in the URL, each URL is built in full."""

    def build(number: int) -> str:
        return str(current_app.url_for(endpoint, **{**values, key: number}))

    slot = str(_SLOT)
    head, found, tail = build(_SLOT).partition(slot)
    if not found or slot in tail:
        return build
    return lambda number: f"{head}{int(number)}{tail}"

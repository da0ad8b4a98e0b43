"""The issuer as the outside world sees it: its stable URLs, its Profile and its own signing keys.

Every URL placed inside a credential is derived from LTI_TOOL_PUBLIC_URL and is permanent (awards are for
life): set it before the first award and never change it.

The issuer signs with a dedicated RSA key (keys/issuer-*.pem, 0600), separate from the LTI tool key, and
publishes it in its own JWKS at <issuer id>/jwks.json; each key is also served alone at its `kid` URL, as
Open Badges 3.0 asks (a `kid` that dereferences to a JWK). Issuer keys are never retired: a credential
signed years ago must still verify, so rotation only adds keys.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Flask, current_app

from lti_tool.launch.keys import KeyStore, ToolKey

KEY_PREFIX = "issuer"
_stores: dict[str, KeyStore] = {}


def base_url() -> str:
    config = current_app.config
    # Without a configured public URL (development, tests) the demo base URL is the local address.
    return (config["PUBLIC_URL"] or config["DEMO_BASE_URL"]).rstrip("/")


def issuer_id() -> str:
    return f"{base_url()}/credentials/issuer"


def issuer_jwks_url() -> str:
    return f"{issuer_id()}/jwks.json"


def key_url(thumbprint: str) -> str:
    return f"{issuer_id()}/keys/{thumbprint}"


def status_list_url(list_no: int) -> str:
    return f"{base_url()}/credentials/status/{list_no}"


def achievement_url(code: str, version: int) -> str:
    return f"{base_url()}/credentials/achievements/{quote(code, safe='')}/v{version}"


def verify_url(certificate_number: str) -> str:
    return f"{base_url()}/verify/{quote(certificate_number, safe='')}"


def issuer_profile() -> dict[str, Any]:
    """The Profile embedded in every credential: only what the OB 3.0 context defines."""
    return {"id": issuer_id(), "type": ["Profile"], "name": current_app.config["ISSUER_NAME"], "url": base_url() + "/"}


def issuer_key_store(app: Flask | None = None) -> KeyStore:
    app = app or current_app
    directory = app.config["KEYS_DIR"]
    if directory not in _stores:
        _stores[directory] = KeyStore(directory, prefix=KEY_PREFIX)
    return _stores[directory]


def public_jwk(key: ToolKey) -> dict[str, Any]:
    jwk = key.public_jwk()
    jwk["kid"] = key_url(key.kid)
    return jwk


def issuer_jwks() -> dict[str, Any]:
    return {"keys": [public_jwk(k) for k in issuer_key_store().active_keys()]}


def signing_key() -> ToolKey:
    """The newest issuer key, generated on first use."""
    return issuer_key_store().ensure()

"""The issuer as the outside world sees it: its stable URLs, its Profile and its own signing keys.

Every URL placed inside a credential is derived from LTI_TOOL_PUBLIC_URL and is permanent (awards are for
life): set it before the first award and never change it.

The issuer signs with a dedicated RSA key (keys/issuer-*.pem, 0600), separate from the LTI tool key, and
publishes it in its own JWKS at <issuer id>/jwks.json; each key is also served alone at its `kid` URL, as
Open Badges 3.0 asks (a `kid` that dereferences to a JWK). Issuer keys are never retired: a credential
signed years ago must still verify, so rotation only adds keys.

The embedded Data Integrity proofs are signed with an Ed25519 key (keys/ed25519-issuer-*.pem, 0600, also never
retired). Each is a Multikey verification method of the issuer, served at <issuer id>/keys/<publicKeyMultibase>
and listed under `assertionMethod` in the issuer profile: a plain HTTPS URL, no DID.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, current_app

from lti_tool.credentials import data_integrity, jsonld_docs
from lti_tool.launch.keys import KeyStore, ToolKey
from lti_tool.store.files import create_exclusive

KEY_PREFIX = "issuer"
ED25519_PREFIX = "ed25519-issuer"  # not matched by the RSA store's "issuer-*.pem"
_stores: dict[str, KeyStore] = {}
# The served profile defines, inline, the two terms that no published context it lists defines.
PROFILE_TERMS = {
    "assertionMethod": {"@id": "https://w3id.org/security#assertionMethod", "@type": "@id", "@container": "@set"},
    "jwks_uri": {"@id": "https://www.iana.org/assignments/oauth-parameters#jwks_uri", "@type": "@id"},
}


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


def unit_achievement_url(code: str, version: int, unit_code: str) -> str:
    return f"{achievement_url(code, version)}/units/{quote(unit_code, safe='')}"


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


@dataclass(frozen=True)
class Ed25519Key:
    created: str
    private_key: Ed25519PrivateKey
    public_key: bytes  # raw 32 bytes

    @property
    def multibase(self) -> str:
        return data_integrity.public_key_multibase(self.public_key)


def _ed25519_dir(app: Flask | None = None) -> Path:
    return Path((app or current_app).config["KEYS_DIR"])


def _load_ed25519(path: Path) -> Ed25519Key:
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Ed25519Key(created=path.stem.rsplit("-", 1)[1], private_key=private, public_key=public)


def ed25519_keys() -> list[Ed25519Key]:
    """Every Ed25519 issuer key, oldest first (the newest signs)."""
    directory = _ed25519_dir()
    if not directory.is_dir():
        return []
    return [_load_ed25519(p) for p in sorted(directory.glob(f"{ED25519_PREFIX}-*.pem")) if p.is_file()]


def _new_ed25519_key(directory: Path) -> Ed25519Key:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = directory / f"{ED25519_PREFIX}-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%f')}.pem"
    if not create_exclusive(path, pem):
        raise FileExistsError(f"{path} already exists.")
    return _load_ed25519(path)


def ed25519_signing_key() -> Ed25519Key:
    """The newest Ed25519 issuer key, generated on first use (under a file lock, so processes agree on one)."""
    keys = ed25519_keys()
    if keys:
        return keys[-1]
    directory = _ed25519_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f".{ED25519_PREFIX}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keys = ed25519_keys()
        return keys[-1] if keys else _new_ed25519_key(directory)


def rotate_ed25519_key() -> Ed25519Key:
    directory = _ed25519_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return _new_ed25519_key(directory)


def verification_method_url(key: Ed25519Key) -> str:
    return key_url(key.multibase)


def multikey(key: Ed25519Key) -> dict[str, Any]:
    """The key as a Multikey verification method controlled by the issuer (no @context: embeddable)."""
    return {
        "id": verification_method_url(key),
        "type": "Multikey",
        "controller": issuer_id(),
        "publicKeyMultibase": key.multibase,
    }


def multikey_document(key: Ed25519Key) -> dict[str, Any]:
    return {"@context": jsonld_docs.MULTIKEY_V1, **multikey(key)}


def ed25519_public_key(method_url: str) -> bytes:
    """The raw public key of one of this issuer's verification methods (KeyError if it is not one)."""
    for key in ed25519_keys():
        if verification_method_url(key) == method_url:
            return key.public_key
    raise KeyError(f"{method_url} is not a verification method of this issuer")


def issuer_profile_document() -> dict[str, Any]:
    """The Profile served at the issuer id: a controller document for its Ed25519 verification methods, and
    where its JWKS (the VC-JWT keys) is. Every term is defined by a listed context."""
    return {
        "@context": [jsonld_docs.VC_V2, jsonld_docs.OB_V3, jsonld_docs.MULTIKEY_V1, PROFILE_TERMS],
        **issuer_profile(),
        "description": "Issuer of the signed Open Badges 3.0 credentials of awards made through this tool.",
        "assertionMethod": [multikey(k) for k in ed25519_keys()],
        "jwks_uri": issuer_jwks_url(),
    }

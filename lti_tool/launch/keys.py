"""The tool's RSA signing keys: generated with `cryptography`, kept as 0600 PEM files in keys/.

Every active key is published in the JWKS; the newest signs. Rotation adds a key, retirement
moves an old one out of the JWKS once platforms no longer need it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, current_app
from jwcrypto.jwk import JWK

from lti_tool.store.files import create_exclusive

KEY_BITS = 2048
# Longest time a process may keep using a key list that another process has changed.
CACHE_SECONDS = 60


@functools.lru_cache(maxsize=32)
def loaded_private_key(private_pem: str) -> Any:
    """The key object for a PEM. Parsing validates the RSA key (about 30 ms); PyJWT given the PEM text parses it
    again for every signature, so signers pass this object instead. Keyed by the PEM: a rotated key is new text."""
    return serialization.load_pem_private_key(private_pem.encode(), password=None)


@dataclass(frozen=True)
class ToolKey:
    kid: str
    created: str  # UTC timestamp prefix of the file name, sortable
    private_pem: str
    public_pem: str

    @property
    def private_key(self) -> Any:
        return loaded_private_key(self.private_pem)

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(JWK.from_pem(self.public_pem.encode()).export_public())
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk


class KeyStoreError(Exception):
    pass


class KeyStore:
    def __init__(self, directory: str | Path, prefix: str = "tool") -> None:
        self.directory = Path(directory)
        # Files are <prefix>-<stamp>.pem: other key sets (e.g. the credential issuer's) share the folder.
        self.prefix = prefix
        self._cache: tuple[float, float, list[ToolKey]] | None = None  # (directory mtime, read at, keys)

    @property
    def retired_dir(self) -> Path:
        return self.directory / "retired"

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob(f"{self.prefix}-*.pem") if p.is_file())

    def active_keys(self) -> list[ToolKey]:
        """Oldest first; re-read when the directory changes (another process may rotate), and at least every
        CACHE_SECONDS in case its modification time does not show it (coarse clocks, network file systems)."""
        try:
            stamp = self.directory.stat().st_mtime
        except FileNotFoundError:
            return []
        now = time.monotonic()
        if self._cache and self._cache[0] == stamp and now - self._cache[1] < CACHE_SECONDS:
            return self._cache[2]
        keys = [self._load(p) for p in self._files()]
        self._cache = (stamp, now, keys)
        return keys

    @staticmethod
    def _load(path: Path) -> ToolKey:
        text = path.read_text()
        private = loaded_private_key(text)
        public_pem = (
            private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        kid = JWK.from_pem(public_pem.encode()).thumbprint()
        created = path.stem.split("-")[1]
        return ToolKey(kid=kid, created=created, private_pem=text, public_pem=public_pem)

    def ensure(self) -> ToolKey:
        """The signing key, generated when there is none. Processes starting together (gunicorn workers, or
        hosts sharing the directory) agree on one first key: generation happens under a file lock."""
        keys = self.active_keys()
        if keys:
            return keys[-1]
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{self.prefix}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._cache = None
            keys = self.active_keys()
            return keys[-1] if keys else self.rotate()

    def signing_key(self) -> ToolKey:
        return self.ensure()

    def rotate(self) -> ToolKey:
        """Generate a new key that signs from now on; older keys stay published until retired."""
        self.directory.mkdir(parents=True, exist_ok=True)
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{self.prefix}-{stamp}.pem"
        # Written whole before it appears: other processes list this directory at any time.
        if not create_exclusive(path, pem):
            raise KeyStoreError(f"{path} already exists.")
        self._cache = None
        return self._load(path)

    def retire(self, kid: str) -> ToolKey:
        keys = self.active_keys()
        match = [k for k in keys if k.kid == kid]
        if not match:
            raise KeyStoreError(f"No active key with kid {kid!r}. Run 'lti-tool keys list' to see them.")
        if match[0] is keys[-1]:
            raise KeyStoreError("That key is the one signing now. Rotate first, then retire the old key.")
        self.retired_dir.mkdir(parents=True, exist_ok=True)
        for path in self._files():
            if self._load(path).kid == kid:
                path.rename(self.retired_dir / path.name)
        self._cache = None
        return match[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.active_keys()]}


_stores: dict[str, KeyStore] = {}


def key_store(app: Flask | None = None) -> KeyStore:
    app = app or current_app
    directory = app.config["KEYS_DIR"]
    if directory not in _stores:
        _stores[directory] = KeyStore(directory)
    return _stores[directory]


_single_keys: dict[str, tuple[float, tuple[str, dict[str, Any]]]] = {}


def load_or_create_private_key(path: Path) -> tuple[str, dict[str, Any]]:
    """A single RSA key in a 0600 PEM file (the demo platform's own key): (private PEM, public JWK)."""
    if path.exists():
        cached = _single_keys.get(str(path))
        if cached and cached[0] == path.stat().st_mtime:
            return cached[1]
    if not path.exists():
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_exclusive(path, pem)  # when another process made it first, use theirs
    private_pem = path.read_text()
    key = JWK.from_pem(private_pem.encode())
    jwk = json.loads(key.export_public())
    jwk.update({"kid": key.thumbprint(), "alg": "RS256", "use": "sig"})
    _single_keys[str(path)] = (path.stat().st_mtime, (private_pem, jwk))
    return private_pem, jwk

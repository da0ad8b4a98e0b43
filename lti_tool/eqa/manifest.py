"""The pack's manifest and its signature, and the offline check of a pack.

A pack is a ZIP holding, besides its content:
- `manifest.json`: the pack's format, what it holds and, for every other file, its path, sha256 and size;
- `manifest.sig`: a JWS (RFC 7515) in compact form with a detached payload (Appendix F): the payload is the
  exact bytes of manifest.json, signed RS256 with the tool's credential issuer key;
- `issuer-key.jwk.json`: that key's public half (a JWK), listed in the manifest like any file.

Anyone can check a pack with nothing but the file: `lti-tool pack verify FILE`, or
`python -m lti_tool.eqa.manifest FILE` (this module needs only `cryptography` and `jwcrypto`). The check reads
every file's bytes (a changed, missing or added file fails it) and the signature. That the key is the issuer's
is shown by its thumbprint (RFC 7638), printed by the check: it must be one of the keys the issuer publishes
at <issuer>/jwks.json (`--trusted-jwks FILE` compares it with a saved copy of that key set).

This module imports nothing of the app: a regulator's copy of it checks packs without a database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwcrypto.jwk import JWK

FORMAT = "lti-tool-eqa-pack/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
KEY_FILE = "issuer-key.jwk.json"
UNLISTED = frozenset({MANIFEST, SIGNATURE})  # the only files the manifest does not list
SIG_TYPE = "lti-tool-eqa-manifest+jws"
CHUNK = 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()


def sign(payload: bytes, private_pem: str, kid: str) -> str:
    """The detached JWS of `payload`: `header..signature` (RFC 7515 Appendix F)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the issuer key is not an RSA key")
    header = _b64(json.dumps({"alg": "RS256", "kid": kid, "typ": SIG_TYPE}, separators=(",", ":")).encode())
    signature = key.sign(f"{header}.{_b64(payload)}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}..{_b64(signature)}"


def check_signature(payload: bytes, jws: str, jwk: dict[str, Any]) -> str:
    """'' when `jws` is a valid detached RS256 signature of `payload` by `jwk`, else what is wrong."""
    parts = jws.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        return "manifest.sig is not a detached JWS (header..signature)"
    try:
        header = json.loads(_unb64(parts[0]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        return "manifest.sig cannot be read"
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return "manifest.sig is not an RS256 signature"
    try:
        public = serialization.load_pem_public_key(JWK(**jwk).export_to_pem())
    except Exception:  # any malformed key (jwcrypto raises several kinds)
        return f"{KEY_FILE} is not a usable public key"
    if not isinstance(public, rsa.RSAPublicKey):
        return f"{KEY_FILE} is not an RSA key"
    try:
        public.verify(signature, f"{parts[0]}.{_b64(payload)}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "the signature does not match manifest.json (the manifest was changed, or signed by another key)"
    return ""


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: how the issuer names its keys."""
    return str(JWK(**jwk).thumbprint())


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    bytes_checked: int = 0
    thumbprint: str = ""
    issuer: str = ""
    portfolios: list[int] = field(default_factory=list)
    trusted: bool | None = None  # None: no trusted key set given

    @property
    def ok(self) -> bool:
        return not self.problems


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(info) as fh:
        while piece := fh.read(CHUNK):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def verify(path: str | Path | BinaryIO, trusted_jwks: dict[str, Any] | None = None) -> Report:
    """Check a pack: every file against the manifest (hash, size, none missing, none added) and the manifest's
    signature against the key in the pack (and, given `trusted_jwks`, that key against a trusted key set)."""
    report = Report()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"not a readable ZIP file: {exc}")
        return report
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = [i.filename for i in infos]
        for name in sorted({n for n in names if names.count(n) > 1}):
            report.problems.append(f"{name}: appears more than once in the ZIP")
        by_name = {i.filename: i for i in infos}
        for required in (MANIFEST, SIGNATURE, KEY_FILE):
            if required not in by_name:
                report.problems.append(f"{required} is missing")
        if report.problems:
            return report
        try:
            raw_manifest = zf.read(MANIFEST)
            manifest = json.loads(raw_manifest)
            listed = {f["path"]: f for f in manifest["files"]}
            jwk = json.loads(zf.read(KEY_FILE))
            jws = zf.read(SIGNATURE).decode()
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            report.problems.append(f"manifest.json, manifest.sig or {KEY_FILE} cannot be read: {exc}")
            return report
        if manifest.get("format") != FORMAT:
            report.problems.append(f"unknown pack format {manifest.get('format')!r} (this check reads {FORMAT})")
        report.issuer = str((manifest.get("issuer") or {}).get("id", ""))
        report.portfolios = list(manifest.get("portfolios") or [])
        problem = check_signature(raw_manifest, jws, jwk)
        if problem:
            report.problems.append(problem)
        try:
            report.thumbprint = thumbprint(jwk)
        except Exception:  # a malformed key: already reported by check_signature
            report.thumbprint = ""
        if report.thumbprint and report.thumbprint != (manifest.get("signing_key") or {}).get("thumbprint"):
            report.problems.append(f"{KEY_FILE} is not the key the manifest names")
        if trusted_jwks is not None:
            trusted = {thumbprint(k) for k in trusted_jwks.get("keys", [])}
            report.trusted = report.thumbprint in trusted
            if not report.trusted:
                report.problems.append("the signing key is not in the trusted key set")
        for name in sorted(set(by_name) - set(listed) - UNLISTED):
            report.problems.append(f"{name}: in the ZIP but not in the manifest (a file was added)")
        for name, entry in sorted(listed.items()):
            info = by_name.get(name)
            if info is None:
                report.problems.append(f"{name}: in the manifest but not in the ZIP (a file was removed)")
                continue
            try:
                sha256, size = _hash_member(zf, info)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:  # e.g. a CRC error
                report.problems.append(f"{name}: cannot be read ({exc})")
                continue
            report.files_checked += 1
            report.bytes_checked += size
            if sha256 != entry.get("sha256") or size != entry.get("size"):
                report.problems.append(f"{name}: its content does not match the manifest (the file was changed)")
    return report


def describe(report: Report) -> Iterable[str]:
    """The report as lines for people."""
    if report.ok:
        yield (
            f"OK: {report.files_checked} files ({report.bytes_checked} bytes) match the signed manifest; "
            f"{len(report.portfolios)} portfolio(s)."
        )
    else:
        yield f"FAILED: {len(report.problems)} problem(s):"
        yield from (f"  - {p}" for p in report.problems)
    if report.thumbprint:
        yield f"Signed by key {report.thumbprint} (issuer {report.issuer or 'unknown'})."
        if report.trusted is None:
            yield "Check that this key is listed in the issuer's published keys (<issuer>/jwks.json)."
        elif report.trusted:
            yield "The key is in the trusted key set given."


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m lti_tool.eqa.manifest PACK.zip [TRUSTED_JWKS.json]")
        return 2
    trusted = json.loads(Path(args[1]).read_text()) if len(args) > 1 else None
    report = verify(args[0], trusted)
    for line in describe(report):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Where evidence files live: one interface, content-addressed by the sha256 of the plaintext.

Two backends, chosen by LTI_TOOL_EVIDENCE_STORAGE: `local` keeps blobs as files outside the web root;
`s3` keeps them as objects in an S3-compatible bucket. Both encrypt before anything is written, with
AES-256-GCM in chunks, into the same blob format (so a blob can move between them unchanged), and both
stream: a large file is never held whole in memory.

Blob format (version 1):
    header  = MAGIC (8) | key id (8) | nonce prefix (8)
    records = final flag (1) | ciphertext length (4, big endian) | ciphertext with GCM tag
The key id names which of the configured evidence keys sealed the blob: LTI_TOOL_EVIDENCE_KEY may list
several (comma-separated); the first seals new blobs, every one opens old ones, and `lti-tool evidence
rekey` re-seals the old ones under the first, after which the others can be removed (see README).
Each record's nonce is the prefix plus a 4-byte counter. The associated data binds every record to
the header, its position and whether it is the last one (so records cannot be reordered, dropped or
the blob truncated); the last record is also bound to the plaintext's sha256, so a blob cannot be
swapped for another under a different address.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import os
import re
import secrets
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

MAGIC = b"LTIEVID1"
CHUNK = 64 * 1024
HEADER_SIZE = len(MAGIC) + 8 + 8
_RECORD_HEAD = struct.Struct(">BI")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class StorageError(Exception):
    """A blob is missing, damaged, or was encrypted with another key, or the storage failed (an operator
    problem)."""


class StorageFull(StorageError):
    """The storage has no room left (a full bucket or quota; a full local disk shows as OSError ENOSPC)."""


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class PutResult:
    sha256: str
    size: int
    created: bool  # False when an identical blob was already stored


class EvidenceStorage(Protocol):
    keys: KeyRing

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> PutResult:
        """Store the stream's content; raises FileTooLarge (storing nothing) past max_bytes."""

    def get(self, sha256: str) -> BinaryIO:
        """A readable stream of the plaintext; raises StorageError if missing or damaged."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...

    def key_id(self, sha256: str) -> bytes:
        """Which evidence key sealed the blob (StorageError when it is missing or not a blob)."""
        ...

    def rekey(self, sha256: str) -> bool:
        """Re-seal the blob under the current key, in place and atomically; False when it already was."""
        ...

    def blobs(self) -> Iterator[tuple[str, dt.datetime]]:
        """Every stored blob: (address, when it was last written, UTC naive)."""
        ...

    def remove_stale_partials(self, older_than: dt.datetime) -> int:
        """Remove pieces of uploads that never finished (a process killed mid-write) from before
        `older_than`; how many."""
        ...


def is_address(value: str) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


def check_address(sha256: str) -> str:
    """Only well-formed addresses reach the file system (no path tricks through the hash)."""
    if not is_address(sha256):
        raise StorageError("not a sha256 address")
    return sha256


def derive_key(config_key: str | bytes) -> tuple[bytes, bytes]:
    """(AES-256 key, key id) from the configured Fernet-format key.

    The configured key is expanded with HKDF rather than used directly, so the same secret never
    serves two algorithms; the key id lets a blob say which key it needs.
    """
    raw_text = config_key.encode() if isinstance(config_key, str) else config_key
    try:
        raw = base64.urlsafe_b64decode(raw_text)
    except (binascii.Error, ValueError) as exc:
        raise StorageError("a key is not url-safe base64") from exc
    if len(raw) != 32:
        raise StorageError("a key must encode 32 bytes (generate one with Fernet.generate_key())")
    okm = HKDF(algorithm=hashes.SHA256(), length=40, salt=None, info=b"lti-tool evidence aes-256-gcm v1").derive(raw)
    return okm[:32], okm[32:]


@dataclass(frozen=True)
class KeyRing:
    """The configured evidence keys: the first seals, every one opens (a blob names its key by id)."""

    current_id: bytes
    keys: Mapping[bytes, bytes]  # key id -> AES-256 key

    @classmethod
    def parse(cls, configured: str | bytes) -> KeyRing:
        text = configured.decode() if isinstance(configured, bytes) else configured
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise StorageError("no key is given")
        derived = [derive_key(part) for part in parts]
        return cls(current_id=derived[0][1], keys={key_id: aes for aes, key_id in derived})

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]

    def sealer(self, max_bytes: int | None = None) -> Sealer:
        return Sealer(self.current_key, self.current_id, max_bytes)


def header_key_id(header: bytes) -> bytes:
    """The key id a blob's header names."""
    if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
        raise StorageError("not an evidence blob (bad header)")
    return header[len(MAGIC) : len(MAGIC) + 8]


def _aad(header: bytes, counter: int, final: bool, sha256: bytes = b"") -> bytes:
    return header + struct.pack(">IB", counter, 1 if final else 0) + sha256


class LocalEncryptedStorage:
    """Blobs as files under `root` (outside the web root), named by content hash."""

    def __init__(self, root: str | Path, key: str | bytes) -> None:
        self.root = Path(root)
        self.keys = KeyRing.parse(key)

    # --- layout ---
    def path_for(self, sha256: str) -> Path:
        check_address(sha256)
        return self.root / "blobs" / sha256[:2] / sha256[2:4] / sha256

    def _tmp_dir(self) -> Path:
        # Same file system as the blobs, so the final rename is atomic.
        path = self.root / "tmp"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    # --- interface ---
    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> PutResult:
        sealer = self.keys.sealer(max_bytes)
        tmp = self._seal_to_tmp(sealer, stream)
        try:
            sha = sealer.sha256
            target = self.path_for(sha)
            if target.exists():
                tmp.unlink()
                return PutResult(sha, sealer.size, created=False)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.replace(tmp, target)
            return PutResult(sha, sealer.size, created=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _seal_to_tmp(self, sealer: Sealer, stream: BinaryIO) -> Path:
        """The sealed stream in a temporary file (mode 0600, synced), ready to be renamed into place."""
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir(), prefix="upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in sealer.pieces(stream):
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            return tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_for(sha256), "rb")  # noqa: SIM115  (the caller closes it)
        except FileNotFoundError as exc:
            raise StorageError(f"blob {sha256} is missing") from exc

    def get(self, sha256: str) -> BinaryIO:
        raw = DecryptingReader(self._open(sha256), self.keys.keys, bytes.fromhex(sha256))
        return io.BufferedReader(raw, buffer_size=CHUNK)

    def key_id(self, sha256: str) -> bytes:
        with self._open(sha256) as fh:
            return header_key_id(_read_exact(fh, HEADER_SIZE))

    def rekey(self, sha256: str) -> bool:
        if self.key_id(sha256) == self.keys.current_id:
            return False
        sealer = self.keys.sealer()
        with self.get(sha256) as plain:  # opened (and checked) under its old key
            tmp = self._seal_to_tmp(sealer, plain)
        try:
            if sealer.sha256 != sha256:
                raise StorageError(f"blob {sha256} does not hold the content its address names")
            # Atomic: a reader holds either the old file or the new one, both whole.
            os.replace(tmp, self.path_for(sha256))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return True

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def blobs(self) -> Iterator[tuple[str, dt.datetime]]:
        # One directory at a time: a store of a million files is never listed into memory whole.
        for folder, subfolders, names in os.walk(self.root / "blobs"):
            subfolders.sort()
            for name in sorted(names):
                if not is_address(name):
                    continue
                try:
                    yield name, _utc(os.stat(os.path.join(folder, name)).st_mtime)
                except FileNotFoundError:  # removed since the directory was read
                    continue

    def remove_stale_partials(self, older_than: dt.datetime) -> int:
        removed = 0
        for path in (self.root / "tmp").glob("upload-*"):
            try:
                if _utc(path.stat().st_mtime) < older_than:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # finished (renamed) or removed meanwhile
                continue
        return removed


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes unless the stream ends (sockets and some streams return short reads)."""
    parts: list[bytes] = []
    need = size
    while need:
        part = stream.read(need)
        if not part:
            break
        parts.append(part)
        need -= len(part)
    return b"".join(parts)


def read_chunk(stream: BinaryIO) -> bytes:
    return _read_exact(stream, CHUNK)


class Sealer:
    """Encrypts a stream into the blob format piece by piece (header, then one piece per record).

    After the pieces are consumed, `sha256` and `size` describe the plaintext.
    """

    def __init__(self, aes_key: bytes, key_id: bytes, max_bytes: int | None = None) -> None:
        self._aes = AESGCM(aes_key)
        self._key_id = key_id
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def pieces(self, stream: BinaryIO) -> Iterator[bytes]:
        header = MAGIC + self._key_id + secrets.token_bytes(8)
        yield header
        counter = 0
        chunk = read_chunk(stream)
        while True:
            self.size += len(chunk)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise FileTooLarge(self._max_bytes)
            self._digest.update(chunk)
            # Read one ahead: the last record must know it is the last.
            following = read_chunk(stream) if chunk else b""
            final = not following
            nonce = header[16:24] + struct.pack(">I", counter)
            aad = _aad(header, counter, final, self._digest.digest() if final else b"")
            sealed = self._aes.encrypt(nonce, chunk, aad)
            yield _RECORD_HEAD.pack(1 if final else 0, len(sealed)) + sealed
            if final:
                return
            chunk = following
            counter += 1


class DecryptingReader(io.RawIOBase):
    """Decrypts record by record; fails loudly on any damage, including a missing last record."""

    def __init__(self, fh: BinaryIO, keys: Mapping[bytes, bytes], sha256: bytes) -> None:
        self._fh = fh
        self._sha256 = sha256
        self._counter = 0
        self._buffer = b""
        self._offset = 0
        self._done = False
        try:
            self._header = _read_exact(fh, HEADER_SIZE)
            aes_key = keys.get(header_key_id(self._header))
            if aes_key is None:
                raise StorageError(
                    "the blob was encrypted with an evidence key that is not configured "
                    "(LTI_TOOL_EVIDENCE_KEY lists the keys that open blobs)"
                )
            self._aes = AESGCM(aes_key)
            # Decrypt the first record now so a wrong key or damage shows before any byte is sent.
            self._next_record()
        except BaseException:
            fh.close()
            raise

    def _next_record(self) -> None:
        head = _read_exact(self._fh, _RECORD_HEAD.size)
        if len(head) != _RECORD_HEAD.size:
            raise StorageError("the blob is truncated")
        flag, length = _RECORD_HEAD.unpack(head)
        if length > CHUNK + 16:
            raise StorageError("the blob is damaged (record too long)")
        sealed = _read_exact(self._fh, length)
        if len(sealed) != length:
            raise StorageError("the blob is truncated")
        final = flag == 1
        nonce = self._header[16:24] + struct.pack(">I", self._counter)
        try:
            self._offset = 0
            self._buffer = self._aes.decrypt(
                nonce, sealed, _aad(self._header, self._counter, final, self._sha256 if final else b"")
            )
        except InvalidTag as exc:
            raise StorageError("the blob is damaged or was altered") from exc
        self._counter += 1
        if final:
            if self._fh.read(1):
                raise StorageError("the blob has data after its last record")
            self._done = True

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer) and not self._done:
            self._next_record()
        n = min(len(target), len(self._buffer) - self._offset)
        target[:n] = self._buffer[self._offset : self._offset + n]
        self._offset += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def storage(app: Flask | None = None) -> EvidenceStorage:
    """The app's evidence storage (one per app; cheap to share across requests and threads)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get("evidence_storage")
    if store is None:
        store = make_storage(app.config)
        app.extensions["evidence_storage"] = store
    return store


def make_storage(config: Mapping[str, Any]) -> EvidenceStorage:
    """The backend the configuration names (LTI_TOOL_EVIDENCE_STORAGE)."""
    backend = config.get("EVIDENCE_STORAGE", "local")
    if backend == "local":
        return LocalEncryptedStorage(config["EVIDENCE_DIR"], config["EVIDENCE_KEY"])
    if backend == "s3":
        # Imported here, the one unavoidable cycle: storage_s3 builds on this module's sealing classes (and
        # a process that stores files locally never loads boto3).
        from lti_tool.portfolio.evidence.storage_s3 import S3EncryptedStorage

        return S3EncryptedStorage(
            config.get("S3_BUCKET", ""),
            config["EVIDENCE_KEY"],
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or None,
            prefix=config.get("S3_PREFIX", ""),
        )
    raise StorageError(f"unknown evidence storage {backend!r} (LTI_TOOL_EVIDENCE_STORAGE is local or s3)")

"""Evidence blobs as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, Garage...), behind the
same interface and in the same encrypted blob format as the local-disk backend.

- Object key: `<prefix>blobs/ab/cd/<sha256>`, the local backend's layout under its directory, so a local
  store moves to a bucket by copying its `blobs/` folder as it is.
- Upload: the plaintext is read twice. The first pass hashes it (and enforces the size limit), so an
  identical blob already stored is not uploaded again and the object can be written straight to its
  final key; the second pass encrypts it into a multipart upload, part by part, so memory holds one part
  (about 5 MiB, S3's smallest part) whatever the file's size. If anything fails, or the content
  changed between the passes, the multipart upload is aborted: no object, partial or whole, is left.
  A stream that cannot seek is first spooled to a temporary file.
- Download: the object's body is decrypted as it is read, record by record.
- Credentials come from the standard AWS sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
  an instance or task role), which boto3 reads itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lti_tool.portfolio.evidence.storage import (
    CHUNK,
    HEADER_SIZE,
    DecryptingReader,
    FileTooLarge,
    KeyRing,
    PutResult,
    StorageError,
    StorageFull,
    check_address,
    header_key_id,
    is_address,
    read_chunk,
)

log = logging.getLogger(__name__)

# S3 refuses parts under 5 MiB (except the last); a bigger part only costs memory per upload in flight.
PART_SIZE = 5 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}
# What S3-compatible servers answer when they have no room: MinIO's full drives, a Ceph RGW quota.
_FULL = {"XMinioStorageFull", "QuotaExceeded"}


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def make_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client (thread-safe, shared by every request of the process)."""
    global _session
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        # Integrity is checked by AES-GCM on every read; extra request checksums are left to when S3
        # requires them, since several S3-compatible servers refuse the newer default ones.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Path-style URLs work with every S3-compatible server and with bucket names that contain dots.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    # One boto3 session per process: it loads the service model once. Creating clients from it is not
    # thread-safe, hence the lock; the clients themselves are.
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class S3EncryptedStorage:
    """Blobs as objects named by content hash, encrypted before they leave the process."""

    def __init__(
        self,
        bucket: str,
        key: str | bytes,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        part_size: int = PART_SIZE,
    ) -> None:
        if not bucket:
            raise StorageError("the S3 evidence storage needs a bucket (LTI_TOOL_S3_BUCKET)")
        if part_size < PART_SIZE:
            raise StorageError(f"S3 parts must be at least {PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.keys = KeyRing.parse(key)
        self.client = client or make_client(endpoint_url, region)

    def key_for(self, sha256: str) -> str:
        check_address(sha256)
        return f"{self.prefix}blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    # --- interface ---
    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> PutResult:
        with _seekable(stream, max_bytes) as source:
            start = source.tell()
            sha, size = _hash(source, max_bytes)
            if self.exists(sha):
                return PutResult(sha, size, created=False)
            source.seek(start)
            try:
                self._upload(source, sha)
            except (BotoCoreError, ClientError) as exc:
                # The interface's errors, so callers need not know boto: a full bucket is told apart.
                kind = StorageFull if _error_code(exc) in _FULL else StorageError
                raise kind(f"cannot store blob {sha} in the bucket: {exc}") from exc
            return PutResult(sha, size, created=True)

    def _body(self, sha256: str, **get_args: Any) -> Any:
        """The object's streaming body, with the interface's errors (missing, or the bucket unreachable)."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256), **get_args)["Body"]
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise StorageError(f"blob {sha256} is missing") from exc
            raise StorageError(f"blob {sha256} cannot be read from the bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"blob {sha256} cannot be read from the bucket: {exc}") from exc

    def get(self, sha256: str) -> BinaryIO:
        body = self._body(sha256)
        try:
            raw = DecryptingReader(body, self.keys.keys, bytes.fromhex(sha256))
        except (BotoCoreError, OSError) as exc:  # the connection broke while the first record was read
            raise StorageError(f"blob {sha256} cannot be read from the bucket: {exc}") from exc
        return io.BufferedReader(raw, buffer_size=CHUNK)

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise StorageError(f"cannot check blob {sha256} in the bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot check blob {sha256} in the bucket: {exc}") from exc
        return True

    def delete(self, sha256: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete blob {sha256} from the bucket: {exc}") from exc

    def key_id(self, sha256: str) -> bytes:
        body = self._body(sha256, Range=f"bytes=0-{HEADER_SIZE - 1}")
        try:
            with body:
                return header_key_id(body.read())
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"blob {sha256} cannot be read from the bucket: {exc}") from exc

    def rekey(self, sha256: str) -> bool:
        if self.key_id(sha256) == self.keys.current_id:
            return False
        # The new object replaces the old only when its multipart upload completes, so a reader gets one
        # or the other whole; _upload checks that the re-sealed content still has this address.
        with self.get(sha256) as plain:
            try:
                self._upload(plain, sha256)
            except (BotoCoreError, ClientError) as exc:
                raise StorageError(f"cannot store blob {sha256} in the bucket: {exc}") from exc
        return True

    def blobs(self) -> Iterator[tuple[str, dt.datetime]]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    if is_address(name) and obj["Key"] == self.key_for(name):
                        yield name, obj["LastModified"].astimezone(dt.UTC).replace(tzinfo=None)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list the bucket's blobs: {exc}") from exc

    def remove_stale_partials(self, older_than: dt.datetime) -> int:
        """Multipart uploads never completed nor aborted (the process died): they hold storage, unseen."""
        removed = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].astimezone(dt.UTC).replace(tzinfo=None) < older_than:
                        self._abort(upload["Key"], upload["UploadId"])
                        removed += 1
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list the bucket's unfinished uploads: {exc}") from exc
        return removed

    # --- upload ---
    def _upload(self, source: BinaryIO, sha256: str) -> None:
        key = self.key_for(sha256)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/octet-stream", Metadata={"format": "LTIEVID1"}
        )["UploadId"]
        try:
            sealer = self.keys.sealer()
            parts: list[dict[str, Any]] = []
            buffer = bytearray()
            for piece in sealer.pieces(source):
                buffer += piece
                if len(buffer) >= self.part_size:
                    parts.append(self._put_part(key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
            if buffer or not parts:
                parts.append(self._put_part(key, upload_id, len(parts) + 1, buffer))
            del buffer
            if sealer.sha256 != sha256:
                raise StorageError("the file changed while it was being stored")
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _put_part(self, key: str, upload_id: str, number: int, body: bytearray) -> dict[str, Any]:
        answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the original failure matters more; a bucket lifecycle rule cleans up the rest
            log.exception("could not abort the multipart upload of %s", key)


def _hash(source: BinaryIO, max_bytes: int | None) -> tuple[str, int]:
    """sha256 and size of the rest of the stream, refusing it (FileTooLarge) past max_bytes."""
    digest, size = hashlib.sha256(), 0
    while chunk := read_chunk(source):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise FileTooLarge(max_bytes)
        digest.update(chunk)
    return digest.hexdigest(), size


@contextmanager
def _seekable(stream: BinaryIO, max_bytes: int | None) -> Iterator[BinaryIO]:
    """The stream itself when it can seek; else a temporary copy (on disk past 1 MiB), up to the limit."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        yield stream
        return
    with tempfile.SpooledTemporaryFile(max_size=16 * CHUNK) as spool:
        size = 0
        while chunk := read_chunk(stream):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise FileTooLarge(max_bytes)
            spool.write(chunk)
        spool.seek(0)
        yield spool  # type: ignore[misc]

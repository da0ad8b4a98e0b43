"""Evidence storage: encrypted at rest, content-addressed, streamed, and refusing damage."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from cryptography.fernet import Fernet

from lti_tool.portfolio.evidence.storage import CHUNK, FileTooLarge, LocalEncryptedStorage, StorageError, derive_key

KEY = Fernet.generate_key()


@pytest.fixture
def store(tmp_path):
    return LocalEncryptedStorage(tmp_path / "evidence", KEY)


def _all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_round_trip_and_address(store, size):
    data = os.urandom(size)
    result = store.put(io.BytesIO(data))
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == size and result.created
    with store.get(result.sha256) as fh:
        assert fh.read() == data
    assert store.path_for(result.sha256).name == result.sha256


def test_stored_bytes_are_not_the_plaintext(store):
    data = b"Patient 0042 adverse event escalated to the sponsor on 3 May. " * 5000
    result = store.put(io.BytesIO(data))
    raw = store.path_for(result.sha256).read_bytes()
    assert b"adverse event" not in raw and b"Patient 0042" not in raw
    assert len(raw) > len(data)  # tags and headers, no compression that could leak
    # Nothing else on disk holds it either (no leftover temporary file).
    assert _all_files(store.root) == [store.path_for(result.sha256)]


def test_identical_content_is_stored_once(store):
    first = store.put(io.BytesIO(b"same"))
    second = store.put(io.BytesIO(b"same"))
    assert first.sha256 == second.sha256 and first.created and not second.created
    assert len(_all_files(store.root)) == 1


def test_too_large_stores_nothing(store):
    with pytest.raises(FileTooLarge):
        store.put(io.BytesIO(b"x" * (CHUNK * 2 + 10)), max_bytes=CHUNK * 2)
    assert _all_files(store.root) == []
    store.put(io.BytesIO(b"x" * 100), max_bytes=100)  # exactly the limit is fine


class _NoReadAll(io.RawIOBase):
    """A stream that refuses to be read whole, and records the largest read."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.largest = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "storage must not read a whole file into memory"
        self.largest = max(self.largest, size)
        return self._inner.read(size)


def test_put_streams_in_chunks(store):
    data = os.urandom(5 * CHUNK + 3)
    stream = _NoReadAll(data)
    result = store.put(stream)  # type: ignore[arg-type]
    assert stream.largest <= CHUNK
    with store.get(result.sha256) as fh:
        assert fh.read(10) == data[:10]  # partial reads work, too
        assert fh.read() == data[10:]


def test_altered_blob_is_refused(store):
    data = os.urandom(2 * CHUNK + 7)
    result = store.put(io.BytesIO(data))
    path = store.path_for(result.sha256)
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(StorageError), store.get(result.sha256) as fh:
        fh.read()


def test_truncated_blob_is_refused(store):
    data = os.urandom(2 * CHUNK + 7)
    result = store.put(io.BytesIO(data))
    path = store.path_for(result.sha256)
    raw = path.read_bytes()
    # Drop the last record entirely: what is left is well-formed records, but not a whole file.
    last_record = 1 + 4 + 7 + 16
    path.write_bytes(raw[:-last_record])
    with pytest.raises(StorageError, match="truncated"), store.get(result.sha256) as fh:
        fh.read()


def test_blob_moved_to_another_address_is_refused(store):
    a = store.put(io.BytesIO(b"first document"))
    b = store.put(io.BytesIO(b"second document"))
    store.path_for(b.sha256).write_bytes(store.path_for(a.sha256).read_bytes())
    with pytest.raises(StorageError):
        store.get(b.sha256).read()


def test_other_key_cannot_read(store, tmp_path):
    result = store.put(io.BytesIO(b"secret evidence"))
    other = LocalEncryptedStorage(store.root, Fernet.generate_key())
    with pytest.raises(StorageError, match="key that is not configured"):
        other.get(result.sha256)


def test_missing_blob_and_bad_addresses(store):
    with pytest.raises(StorageError, match="missing"):
        store.get("a" * 64)
    for bad in ("../../etc/passwd", "A" * 64, "a" * 63, ""):
        with pytest.raises(StorageError):
            store.path_for(bad)


def test_delete(store):
    result = store.put(io.BytesIO(b"to go"))
    assert store.exists(result.sha256)
    store.delete(result.sha256)
    assert not store.exists(result.sha256)
    store.delete(result.sha256)  # idempotent


def test_key_must_be_a_fernet_style_key():
    with pytest.raises(StorageError):
        derive_key("not base64 at all!")
    with pytest.raises(StorageError):
        derive_key("c2hvcnQ=")  # valid base64, too short
    aes_key, key_id = derive_key(KEY)
    assert len(aes_key) == 32 and len(key_id) == 8
    assert aes_key != base64.urlsafe_b64decode(KEY)  # derived, not the configured secret itself

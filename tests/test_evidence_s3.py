"""The S3 evidence backend against a real S3-compatible server (moto's, on a loopback port): encrypted before
upload, streamed both ways, content-addressed, and leaving no object behind when an upload fails."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from cryptography.fernet import Fernet
from sqlalchemy import select

from lti_tool.config import load_config
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.evidence.storage import (
    CHUNK,
    MAGIC,
    FileTooLarge,
    LocalEncryptedStorage,
    StorageError,
    make_storage,
    storage,
)
from lti_tool.portfolio.evidence.storage_s3 import PART_SIZE, S3EncryptedStorage, make_client
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from lti_tool.store.db import db
from tests import factories as f
from tests.conftest import make_test_app, table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser
from tests.s3_helpers import REGION, aws_env, empty_bucket, moto_server, new_bucket, object_keys, open_uploads

KEY = Fernet.generate_key().decode()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch):
    aws_env(monkeypatch)


@pytest.fixture(scope="module")
def s3(endpoint):
    with pytest.MonkeyPatch.context() as mp:
        aws_env(mp)
        return make_client(endpoint, REGION)


@pytest.fixture
def bucket(s3):
    name = new_bucket(s3)
    yield name
    empty_bucket(s3, name)


@pytest.fixture
def store(s3, bucket):
    return S3EncryptedStorage(bucket, KEY, client=s3)


def _raw(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK + 5, PART_SIZE + CHUNK + 7])
def test_round_trip_content_addressed(store, s3, bucket, size):
    data = os.urandom(size)
    result = store.put(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (result.sha256, result.size, result.created) == (sha, size, True)
    with store.get(sha) as fh:
        assert fh.read() == data
    assert store.exists(sha)
    # Same layout as the local backend's blobs/ folder, and nothing else in the bucket.
    assert object_keys(s3, bucket) == [f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert open_uploads(s3, bucket) == []


def test_objects_are_encrypted_and_in_the_local_format(store, s3, bucket, tmp_path):
    data = b"Patient 0042 adverse event escalated to the sponsor on 3 May. " * 5000
    result = store.put(io.BytesIO(data))
    raw = _raw(s3, bucket, store.key_for(result.sha256))
    assert raw.startswith(MAGIC) and len(raw) > len(data)
    assert b"adverse event" not in raw and b"Patient 0042" not in raw
    # The same blob format: a copy of the object is readable by the local backend (so stores can move).
    local = LocalEncryptedStorage(tmp_path / "evidence", KEY)
    path = local.path_for(result.sha256)
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    assert local.get(result.sha256).read() == data


def test_identical_content_is_stored_once_without_a_second_upload(store, s3, bucket, monkeypatch):
    first = store.put(io.BytesIO(b"same evidence"))
    uploads: list[str] = []
    original = store.client.create_multipart_upload
    monkeypatch.setattr(
        store.client, "create_multipart_upload", lambda **kw: uploads.append(kw["Key"]) or original(**kw)
    )
    second = store.put(io.BytesIO(b"same evidence"))
    assert first.sha256 == second.sha256 and first.created and not second.created
    assert uploads == [] and len(object_keys(s3, bucket)) == 1


def test_too_large_uploads_nothing(store, s3, bucket):
    with pytest.raises(FileTooLarge):
        store.put(io.BytesIO(b"x" * (2 * CHUNK + 1)), max_bytes=2 * CHUNK)
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []
    assert store.put(io.BytesIO(b"x" * 100), max_bytes=100).created  # exactly the limit is fine


def test_missing_object_bad_address_and_delete(store):
    with pytest.raises(StorageError, match="missing"):
        store.get("a" * 64)
    assert not store.exists("a" * 64)
    for bad in ("../../etc/passwd", "A" * 64, "a" * 63, ""):
        with pytest.raises(StorageError):
            store.key_for(bad)
    result = store.put(io.BytesIO(b"to go"))
    store.delete(result.sha256)
    assert not store.exists(result.sha256)
    store.delete(result.sha256)  # idempotent


class _FailingStream(io.BytesIO):
    """Fails on the second pass (the upload), once `after` bytes of it have been read."""

    def __init__(self, data: bytes, after: int) -> None:
        super().__init__(data)
        self.after = after
        self.passes = 0
        self.read_in_pass = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        if pos == 0 and whence == 0:
            self.passes += 1
            self.read_in_pass = 0
        return super().seek(pos, whence)

    def read(self, size: int | None = -1) -> bytes:
        if self.passes >= 1 and self.read_in_pass >= self.after:
            raise OSError("the upload's temporary file went away")
        chunk = super().read(size)
        self.read_in_pass += len(chunk)
        return chunk


def test_a_failure_mid_upload_aborts_it_and_leaves_no_object(store, s3, bucket, monkeypatch):
    parts: list[int] = []
    original = store.client.upload_part
    monkeypatch.setattr(store.client, "upload_part", lambda **kw: parts.append(kw["PartNumber"]) or original(**kw))
    stream = _FailingStream(os.urandom(PART_SIZE + 4 * CHUNK), after=PART_SIZE + 2 * CHUNK)
    with pytest.raises(OSError, match="went away"):
        store.put(stream)
    assert parts == [1]  # a part had reached the server before the failure
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_content_changing_between_the_passes_is_refused(store, s3, bucket):
    class Changing(io.BytesIO):
        def seek(self, pos: int, whence: int = 0) -> int:
            done = super().seek(pos, whence)
            self.getbuffer()[0:4] = b"XXXX"  # someone rewrote the temporary file
            return done

    with pytest.raises(StorageError, match="changed"):
        store.put(Changing(b"original content " * 100))
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_a_failure_to_complete_aborts(store, s3, bucket, monkeypatch):
    def refuse(**kwargs):
        raise ConnectionError("network dropped before the upload completed")

    monkeypatch.setattr(store.client, "complete_multipart_upload", refuse)
    with pytest.raises(ConnectionError):
        store.put(io.BytesIO(b"evidence"))
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_a_stream_that_cannot_seek_is_spooled(store):
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self._inner.readinto(buffer)

    data = os.urandom(3 * CHUNK + 1)
    result = store.put(OneWay(data))  # type: ignore[arg-type]
    assert store.get(result.sha256).read() == data
    with pytest.raises(FileTooLarge):
        store.put(OneWay(data), max_bytes=CHUNK)  # type: ignore[arg-type]


def test_damage_and_another_key_are_refused(store, s3, bucket, endpoint):
    result = store.put(io.BytesIO(os.urandom(2 * CHUNK + 7)))
    key = store.key_for(result.sha256)
    other = S3EncryptedStorage(bucket, Fernet.generate_key(), endpoint_url=endpoint, region=REGION)
    with pytest.raises(StorageError, match="key that is not configured"):
        other.get(result.sha256)
    raw = bytearray(_raw(s3, bucket, key))
    raw[-20] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(raw))
    with pytest.raises(StorageError), store.get(result.sha256) as fh:
        fh.read()


def test_a_prefix_keeps_evidence_apart_in_a_shared_bucket(endpoint, s3, bucket):
    store = S3EncryptedStorage(bucket, KEY, endpoint_url=endpoint, region=REGION, prefix="/tenant-a/")
    result = store.put(io.BytesIO(b"prefixed"))
    assert object_keys(s3, bucket) == [f"tenant-a/blobs/{result.sha256[:2]}/{result.sha256[2:4]}/{result.sha256}"]


@pytest.mark.slow
def test_memory_stays_bounded_both_ways_for_a_64_mb_file(endpoint, bucket, tmp_path):
    """The upload holds about one part (5 MiB) and the download one record, whatever the file's size.

    Measured with tracemalloc in a child process: moto keeps the object in this process's memory."""
    size = 64 * 1024 * 1024
    path = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(size // (1024 * 1024)):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            fh.write(block)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.s3_memory_probe", endpoint, bucket, str(path), KEY],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["sha256"] == report["read_sha256"] == digest.hexdigest() and report["size"] == size
    mib = 1024 * 1024
    assert report["put_peak"] < PART_SIZE + 3 * mib, report  # one part in memory, not 64 MiB
    assert report["get_peak"] < 2 * mib, report


def test_configuration_chooses_the_backend(monkeypatch, tmp_path, endpoint):
    base = {"INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x", "EVIDENCE_KEY": KEY}
    assert isinstance(make_storage(load_config(base)), LocalEncryptedStorage)
    monkeypatch.setenv("LTI_TOOL_EVIDENCE_STORAGE", "s3")
    with pytest.raises(SystemExit, match="LTI_TOOL_S3_BUCKET"):
        load_config(base)
    monkeypatch.setenv("LTI_TOOL_S3_BUCKET", "evidence")
    monkeypatch.setenv("LTI_TOOL_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("LTI_TOOL_S3_REGION", "eu-west-2")
    monkeypatch.setenv("LTI_TOOL_S3_PREFIX", "lti/")
    store = make_storage(load_config(base))
    assert isinstance(store, S3EncryptedStorage) and store.bucket == "evidence" and store.prefix == "lti/"
    assert store.client.meta.endpoint_url == endpoint and store.client.meta.region_name == "eu-west-2"
    monkeypatch.setenv("LTI_TOOL_EVIDENCE_STORAGE", "ftp")
    with pytest.raises(SystemExit, match="local or s3"):
        load_config(base)


# --- the learner's pages with the S3 backend configured ----------------------------------------------------

CUSTOM = {"certification": "TSTCERT", "route": "training"}


@pytest.fixture
def app(backend, tmp_path, keys_dir, endpoint, bucket):
    application = make_test_app(
        backend, tmp_path, keys_dir, EVIDENCE_STORAGE="s3", S3_BUCKET=bucket, S3_ENDPOINT_URL=endpoint, S3_REGION=REGION
    )
    with application.app_context():
        yield application
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


@pytest.fixture
def ada(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    cert = f.make_certification("TSTCERT")
    browser = Browser(app, platform, "ada", custom=CUSTOM)
    browser.start()
    browser.criteria = [c.id for c in criteria_for(cert, None)]  # type: ignore[attr-defined]
    return browser


def test_learner_upload_and_download_go_through_the_bucket(app, ada, s3, bucket):
    assert isinstance(storage(), S3EncryptedStorage)
    portfolio = ada.portfolio()
    content = b"Site DE-07 query backlog escalated to the study manager. " * 3000
    resp = ada.add_item(
        portfolio.id, files=[(content, "escalation.txt"), (f.PDF, "report.pdf")], criteria=ada.criteria[:1]
    )
    assert resp.status_code == 303, resp.data
    sha = hashlib.sha256(content).hexdigest()
    assert f"blobs/{sha[:2]}/{sha[2:4]}/{sha}" in object_keys(s3, bucket) and len(object_keys(s3, bucket)) == 2
    raw = _raw(s3, bucket, storage().key_for(sha))
    assert b"query backlog" not in raw and b"escalated" not in raw
    assert not any(p.is_file() for p in Path(app.config["EVIDENCE_DIR"]).rglob("*"))  # nothing on local disk

    ef = db.session.scalar(select(EvidenceFile).where(EvidenceFile.sha256 == sha))
    download = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert download.status_code == 200 and download.data == content
    assert download.headers["Content-Length"] == str(len(content))

    # Removing the item removes the objects nothing else refers to.
    item = db.session.scalar(select(EvidenceItem))
    assert ada.post(f"/portfolio/{portfolio.id}/evidence/{item.id}/remove").status_code == 303
    assert object_keys(s3, bucket) == [] and table_count(StoredFile) == 0


def test_a_failure_after_upload_leaves_nothing_in_the_bucket(app, ada, s3, bucket, monkeypatch):
    portfolio = ada.portfolio()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("lti_tool.portfolio.evidence.items.audit.record", broken)
    resp = ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf"), (f.PNG, "p.png")], criteria=[])
    assert resp.status_code == 500 and b"Nothing you saved was lost" in resp.data
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []
    assert table_count(EvidenceItem) == 0 and table_count(StoredFile) == 0


def test_an_object_missing_from_the_bucket_gives_a_clear_page(app, ada, s3, bucket):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=[])
    ef = db.session.scalar(select(EvidenceFile))
    s3.delete_object(Bucket=bucket, Key=storage().key_for(ef.sha256))
    resp = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert resp.status_code == 500 and b"cannot be read from storage right now" in resp.data


@pytest.mark.parametrize(
    "method, error, status, words",
    [
        (
            "upload_part",
            ClientError(
                {
                    "Error": {
                        "Code": "XMinioStorageFull",
                        "Message": "Storage backend has reached its minimum free drive threshold.",
                    }
                },
                "UploadPart",
            ),
            507,
            b"storage is full",
        ),
        (
            "upload_part",
            ClientError({"Error": {"Code": "QuotaExceeded", "Message": "quota"}}, "UploadPart"),
            507,
            b"storage is full",
        ),
        ("create_multipart_upload", EndpointConnectionError(endpoint_url="http://s3.invalid"), 503, b"did not respond"),
        (
            "complete_multipart_upload",
            ClientError(
                {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}},
                "CompleteMultipartUpload",
            ),
            503,
            b"did not respond",
        ),
        ("head_object", EndpointConnectionError(endpoint_url="http://s3.invalid"), 503, b"did not respond"),
    ],
)
def test_a_bucket_that_is_full_or_failing_is_a_clear_refusal_leaving_nothing(
    app, ada, s3, bucket, monkeypatch, method, error, status, words
):
    portfolio = ada.portfolio()
    client = storage().client
    real = getattr(client, method)
    calls = {"n": 0}

    def second_file_fails(**kwargs):
        # The first file goes through; the fault strikes on the second, after the first object was stored.
        calls["n"] += 1
        if calls["n"] > 1:
            raise error
        return real(**kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(client, method, second_file_fails)
        resp = ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf"), (f.TEXT, "notes.txt")], criteria=[])
    assert resp.status_code == status, resp.data
    assert words in resp.data and b"Nothing was saved" in resp.data and b"Traceback" not in resp.data
    assert object_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []
    assert table_count(EvidenceItem) == 0 and table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0


def test_key_rotation_in_the_bucket(s3, bucket):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    data = os.urandom(PART_SIZE + CHUNK + 9)  # a multipart object both before and after
    before = S3EncryptedStorage(bucket, old, client=s3)
    sha = before.put(io.BytesIO(data)).sha256
    rotating = S3EncryptedStorage(bucket, f"{new},{old}", client=s3)
    assert rotating.key_id(sha) == before.keys.current_id
    assert rotating.rekey(sha) is True
    assert rotating.key_id(sha) == rotating.keys.current_id != before.keys.current_id
    assert rotating.rekey(sha) is False
    assert open_uploads(s3, bucket) == [] and object_keys(s3, bucket) == [rotating.key_for(sha)]
    with S3EncryptedStorage(bucket, new, client=s3).get(sha) as fh:
        assert fh.read() == data
    with pytest.raises(StorageError, match="key that is not configured"):
        before.get(sha)
    with pytest.raises(StorageError, match="missing"):
        rotating.rekey("a" * 64)


def test_listing_blobs_and_aborting_unfinished_uploads(store, s3, bucket):
    sha = store.put(io.BytesIO(b"listed")).sha256
    s3.put_object(Bucket=bucket, Key=f"{store.prefix}blobs/not-a-blob.txt", Body=b"x")  # not ours: ignored
    [(listed, written)] = list(store.blobs())
    assert listed == sha and abs(written - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=5)
    s3.create_multipart_upload(Bucket=bucket, Key=store.key_for("b" * 64))  # a process died mid-upload
    # moto dates every multipart upload 2010-11-10: cutoffs either side of that.
    assert store.remove_stale_partials(dt.datetime(2010, 1, 1)) == 0
    assert len(open_uploads(s3, bucket)) == 1  # younger than the cutoff: may still be in flight
    assert store.remove_stale_partials(dt.datetime.now(dt.UTC).replace(tzinfo=None)) == 1
    assert open_uploads(s3, bucket) == []

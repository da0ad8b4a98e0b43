"""Rotating the evidence key: several configured keys open blobs, the first seals new ones, and
`lti-tool evidence rekey` moves every stored file to the first key so the older ones can go."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from cryptography.fernet import Fernet

from lti_tool.config import load_config
from lti_tool.portfolio.evidence.keys import evidence_cli, rekey_all
from lti_tool.portfolio.evidence.storage import (
    CHUNK,
    KeyRing,
    LocalEncryptedStorage,
    StorageError,
    derive_key,
    storage,
)
from lti_tool.portfolio.models import StoredFile
from lti_tool.store.db import db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def _key_id(key: str) -> bytes:
    return derive_key(key)[1]


def test_key_ring_first_key_seals_every_key_opens():
    ring = KeyRing.parse(f" {NEW} , {OLD},")
    assert ring.current_id == _key_id(NEW)
    assert set(ring.keys) == {_key_id(NEW), _key_id(OLD)}
    assert KeyRing.parse(OLD.encode()).current_id == _key_id(OLD)


@pytest.mark.parametrize(
    "configured, problem",
    [
        ("", "no key is given"),
        (" , ", "no key is given"),
        ("not base64!", "not url-safe base64"),
        (f"{NEW},c2hvcnQ=", "must encode 32 bytes"),
    ],
    ids=["empty", "only-commas", "not-base64", "one-too-short"],
)
def test_key_ring_refuses_bad_keys(configured, problem):
    with pytest.raises(StorageError, match=problem):
        KeyRing.parse(configured)


def test_a_bad_configured_key_stops_start_up_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("LTI_TOOL_EVIDENCE_KEY", f"{NEW},{OLD[:-4]}")
    with pytest.raises(SystemExit, match="LTI_TOOL_EVIDENCE_KEY: a key must encode 32 bytes.*separated by commas"):
        load_config({"INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})


def test_local_rotation(tmp_path):
    data = os.urandom(2 * CHUNK + 11)
    old_store = LocalEncryptedStorage(tmp_path, OLD)
    sha = old_store.put(io.BytesIO(data)).sha256
    assert old_store.key_id(sha) == _key_id(OLD)

    # New key alone: the old blob cannot be opened, and says why.
    with pytest.raises(StorageError, match="key that is not configured"):
        LocalEncryptedStorage(tmp_path, NEW).get(sha)

    rotating = LocalEncryptedStorage(tmp_path, f"{NEW},{OLD}")
    with rotating.get(sha) as fh:
        assert fh.read() == data  # still readable during the rotation
    fresh = rotating.put(io.BytesIO(b"new evidence")).sha256
    assert rotating.key_id(fresh) == _key_id(NEW)  # new files under the new key
    assert rotating.rekey(fresh) is False

    before = rotating.path_for(sha).read_bytes()
    assert rotating.rekey(sha) is True
    after = rotating.path_for(sha).read_bytes()
    assert after != before and rotating.key_id(sha) == _key_id(NEW)
    assert rotating.rekey(sha) is False  # idempotent
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary file left

    new_only = LocalEncryptedStorage(tmp_path, NEW)
    with new_only.get(sha) as fh:
        assert fh.read() == data
    with pytest.raises(StorageError, match="key that is not configured"):
        LocalEncryptedStorage(tmp_path, OLD).get(sha)


def test_a_damaged_blob_is_not_rekeyed_and_stays_as_it_was(tmp_path):
    store = LocalEncryptedStorage(tmp_path, OLD)
    sha = store.put(io.BytesIO(os.urandom(CHUNK + 3))).sha256
    path = store.path_for(sha)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    rotating = LocalEncryptedStorage(tmp_path, f"{NEW},{OLD}")
    with pytest.raises(StorageError, match="damaged or was altered"):
        rotating.rekey(sha)
    assert path.read_bytes() == bytes(raw)
    with pytest.raises(StorageError, match="missing"):
        rotating.rekey("0" * 64)


def _swap_key(app, key: str) -> None:
    app.config["EVIDENCE_KEY"] = key
    app.extensions.pop("evidence_storage", None)


def _store_files(app, contents: list[bytes]) -> list[str]:
    shas = []
    for content in contents:
        sha = storage(app).put(io.BytesIO(content)).sha256
        db.session.merge(StoredFile(sha256=sha, size=len(content), media_type="text/plain"))
        shas.append(sha)
    db.session.commit()
    return shas


def test_rekey_command_moves_every_file_and_reports(app, monkeypatch):
    monkeypatch.setattr("lti_tool.portfolio.evidence.keys.PAGE", 2)  # several pages of addresses
    _swap_key(app, OLD)
    contents = [f"evidence {n}".encode() * (n + 1) for n in range(5)]
    shas = _store_files(app, contents)
    _swap_key(app, f"{NEW},{OLD}")
    shas += _store_files(app, [b"uploaded during the rotation"])
    runner = app.test_cli_runner()

    dry = runner.invoke(evidence_cli, ["rekey", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "6 evidence files: 5 would be re-encrypted, 1 already under the current key, 0 with problems." in dry.output
    assert sum(storage(app).key_id(sha) == _key_id(OLD) for sha in shas) == 5  # a dry run changes nothing

    done = runner.invoke(evidence_cli, ["rekey"])
    assert done.exit_code == 0, done.output
    assert "6 evidence files: 5 re-encrypted, 1 already under the current key, 0 with problems." in done.output
    assert "the older keys can now be removed" in done.output

    _swap_key(app, NEW)
    for sha, content in zip(shas, [*contents, b"uploaded during the rotation"], strict=True):
        with storage(app).get(sha) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == sha == hashlib.sha256(content).hexdigest()
    again = runner.invoke(evidence_cli, ["rekey"])
    assert "6 evidence files: 0 re-encrypted, 6 already under the current key" in again.output


def test_rekey_command_reports_missing_files_and_fails(app):
    _swap_key(app, OLD)
    shas = _store_files(app, [b"kept", b"lost"])
    storage(app).delete(shas[1])
    _swap_key(app, f"{NEW},{OLD}")
    result = app.test_cli_runner().invoke(evidence_cli, ["rekey"])
    assert result.exit_code == 1
    assert "2 evidence files: 1 re-encrypted, 0 already under the current key, 1 with problems." in result.output
    assert f"{shas[1]}: blob {shas[1]} is missing" in result.output
    assert "Keep every older key" in result.output
    assert storage(app).key_id(shas[0]) == _key_id(NEW)


def test_rekey_report_counts_without_the_command(app):
    _swap_key(app, OLD)
    _store_files(app, [b"one"])
    _swap_key(app, NEW)  # the old key already dropped: the file is reported, not lost
    report = rekey_all(storage(app))
    assert report.rekeyed == 0 and report.current == 0
    assert [problem for _, problem in report.problems] == [
        "the blob was encrypted with an evidence key that is not configured "
        "(LTI_TOOL_EVIDENCE_KEY lists the keys that open blobs)"
    ]


def test_a_file_removed_while_the_rekey_runs_is_skipped(app, monkeypatch):
    _swap_key(app, OLD)
    [kept] = _store_files(app, [b"kept"])
    gone = "f" * 64  # listed, then removed (row and blob) before its turn came
    monkeypatch.setattr("lti_tool.portfolio.evidence.keys.stored_addresses", lambda: iter([gone, kept]))
    _swap_key(app, f"{NEW},{OLD}")
    report = rekey_all(storage(app))
    assert (report.rekeyed, report.current, report.problems) == (1, 0, [])
    assert storage(app).key_id(kept) == _key_id(NEW)

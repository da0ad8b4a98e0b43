"""`lti-tool housekeeping sweep-evidence`: what a killed process leaves behind goes; nothing in use, and
nothing younger than the grace period, is touched."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import time

from sqlalchemy import select, update

from lti_tool.housekeeping import housekeeping_cli
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.evidence.sweep import sweep_evidence
from lti_tool.portfolio.models import EvidenceFile, StoredFile, Submission
from lti_tool.store.db import db, utcnow
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

DAY = dt.timedelta(hours=24)
LONG_AGO = time.time() - 3 * 86400


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _put(app, content: bytes, *, old: bool, record: bool = False) -> str:
    store = storage(app)
    sha = store.put(io.BytesIO(content)).sha256
    if old:
        os.utime(store.path_for(sha), (LONG_AGO, LONG_AGO))
    if record:
        db.session.add(
            StoredFile(
                sha256=sha,
                size=len(content),
                media_type="text/plain",
                created_at=utcnow() - 3 * DAY if old else utcnow(),
            )
        )
        db.session.commit()
    return sha


def _scene(app, jwks_server) -> dict[str, str]:
    """One blob of each kind, all written three days ago unless said otherwise."""
    ada = acme_learner(app, TestPlatform(jwks_server))
    portfolio = ada.portfolio()
    criterion = criteria_for(portfolio.certification, portfolio.partner_id)[0].id
    resp = ada.add_item(portfolio.id, files=[(b"live evidence", "live.txt")], criteria=[criterion])
    assert resp.status_code == 303, resp.data
    live = db.session.scalar(select(EvidenceFile.sha256))
    db.session.execute(update(StoredFile).values(created_at=utcnow() - 3 * DAY))
    os.utime(storage(app).path_for(live), (LONG_AGO, LONG_AGO))
    frozen = _put(app, b"only in a submitted snapshot", old=True, record=True)
    db.session.add(
        Submission(
            portfolio_id=portfolio.id,
            attempt=1,
            learner_note="",
            snapshot={"evidence": [{"files": [{"sha256": frozen}]}]},
        )
    )
    db.session.commit()
    tmp = storage(app).root / "tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / "upload-stale").write_bytes(b"x")
    os.utime(tmp / "upload-stale", (LONG_AGO, LONG_AGO))
    (tmp / "upload-in-flight").write_bytes(b"y")
    return {
        "live": live,
        "frozen": frozen,
        "unrecorded": _put(app, b"written, never recorded", old=True),
        "unrecorded_fresh": _put(app, b"an upload in flight", old=False),
        "unreferenced": _put(app, b"recorded, nothing refers to it", old=True, record=True),
        "record_only": _put(app, b"record whose blob is gone", old=True, record=True),
    }


def test_sweep_removes_only_old_unused_blobs(app, jwks_server):
    blobs = _scene(app, jwks_server)
    storage(app).delete(blobs["record_only"])
    runner = app.test_cli_runner()

    dry = runner.invoke(housekeeping_cli, ["sweep-evidence", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would remove 1 stored files with no record and 2 recorded files that nothing refers to." in dry.output
    listed = {line.strip() for line in dry.output.splitlines()[1:]}
    assert listed == {blobs["unrecorded"], blobs["unreferenced"], blobs["record_only"]}
    assert db.session.get(StoredFile, blobs["unreferenced"]) is not None  # a dry run removes nothing
    assert storage(app).exists(blobs["unrecorded"])

    done = runner.invoke(housekeeping_cli, ["sweep-evidence"])
    assert done.exit_code == 0, done.output
    assert (
        "Removed 1 stored files with no record and 2 recorded files that nothing refers to, and 1 pieces "
        "of unfinished uploads."
    ) in done.output
    db.session.expire_all()
    store = storage(app)
    for gone in ("unrecorded", "unreferenced", "record_only"):
        assert not store.exists(blobs[gone]), gone
        assert db.session.get(StoredFile, blobs[gone]) is None, gone
    for kept in ("live", "frozen"):
        assert store.exists(blobs[kept]) and db.session.get(StoredFile, blobs[kept]) is not None, kept
    assert store.exists(blobs["unrecorded_fresh"])  # younger than the grace period
    assert sorted(p.name for p in (store.root / "tmp").iterdir()) == ["upload-in-flight"]
    with store.get(blobs["live"]) as fh:
        assert fh.read() == b"live evidence"

    again = runner.invoke(housekeeping_cli, ["sweep-evidence"])
    assert "Removed 0 stored files with no record and 0 recorded files" in again.output


def test_sweep_with_no_grace_takes_fresh_orphans_too(app):
    fresh = _put(app, b"fresh orphan", old=False)
    report = sweep_evidence(storage(app), older_than=dt.timedelta(0))
    assert report.unrecorded == [fresh] and report.problems == []
    assert not storage(app).exists(fresh)
    assert db.session.get(StoredFile, fresh) is None  # the lock row made on the way is gone too


def test_a_negative_grace_period_is_refused(app):
    result = app.test_cli_runner().invoke(housekeeping_cli, ["sweep-evidence", "--older-than", "-1"])
    assert result.exit_code == 2 and "-1" in result.output and "Traceback" not in result.output

"""The evidence disk fills up (ENOSPC) or fails while a learner uploads: a clear 507 or 503 on the form, no
evidence row, no file row, no blob or temporary file left; once there is room again the same upload works."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.evidence import storage as evidence_storage
from lti_tool.portfolio.evidence.storage_faults import EvidenceStorageUnavailable
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from lti_tool.store.db import db
from tests import factories as f
from tests.conftest import table_count
from tests.fault_helpers import FullDisk
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

BIG = b"Monitoring visit notes, site DE-07.\n" * 9000  # about 320 KB: several encrypted records


@pytest.fixture
def ada(app, jwks_server):
    browser = acme_learner(app, TestPlatform(jwks_server))
    cert = browser.portfolio().certification
    browser.criteria = [c.id for c in criteria_for(cert, None)]  # type: ignore[attr-defined]
    return browser


def _disk(app) -> list[Path]:
    return sorted(p for p in Path(app.config["EVIDENCE_DIR"]).rglob("*") if p.is_file())


def _nothing_kept(app) -> None:
    assert table_count(EvidenceItem) == 0 and table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0
    assert _disk(app) == []  # neither blobs nor temporary files


def _full_after(monkeypatch, room: int) -> None:
    """Every blob file written from now on can take `room` bytes before the disk is full."""
    real = os.fdopen
    monkeypatch.setattr(evidence_storage.os, "fdopen", lambda fd, mode="r", *a, **k: FullDisk(real(fd, mode), room))


@pytest.mark.parametrize("room", [0, 100_000], ids=["full-from-the-start", "full-midway-through-the-second-file"])
def test_disk_full_while_writing_is_a_507_and_leaves_nothing(app, ada, monkeypatch, room):
    portfolio = ada.portfolio()
    _full_after(monkeypatch, room)
    # A small file first: with room for it, it is written, then must be removed with the rest.
    resp = ada.add_item(
        portfolio.id, files=[(f.TEXT, "reflection.txt"), (BIG, "visit-notes.txt")], criteria=ada.criteria[:1]
    )
    assert resp.status_code == 507, resp.data
    page = resp.data.decode()
    assert "file storage is full. Nothing was saved." in page and "Please choose your files again" in page
    assert "Traceback" not in page
    _nothing_kept(app)

    monkeypatch.undo()  # the operator made room
    again = ada.add_item(
        portfolio.id, files=[(f.TEXT, "reflection.txt"), (BIG, "visit-notes.txt")], criteria=ada.criteria[:1]
    )
    assert again.status_code == 303 and table_count(EvidenceFile) == 2


def test_disk_full_at_fsync_is_a_507_and_leaves_nothing(app, ada, monkeypatch):
    """Some file systems accept the writes and report the full disk only when the data is flushed."""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(evidence_storage.os, "fsync", full)
    resp = ada.add_item(ada.portfolio().id, files=[(f.PDF, "report.pdf")], criteria=[])
    assert resp.status_code == 507 and b"file storage is full" in resp.data
    _nothing_kept(app)


def test_a_failing_disk_is_a_503_with_retry_after(app, ada, monkeypatch):
    def broken(src: object, dst: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(evidence_storage.os, "replace", broken)
    resp = ada.add_item(ada.portfolio().id, files=[(f.PDF, "report.pdf")], criteria=[])
    assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0
    assert b"did not respond. Nothing was saved." in resp.data and b"upload it again" in resp.data
    _nothing_kept(app)


def test_disk_full_while_adding_to_an_item_keeps_the_item_as_it_was(app, ada, monkeypatch):
    portfolio = ada.portfolio()
    assert (
        ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=ada.criteria[:1], title="Before").status_code
        == 303
    )
    item = db.session.scalar(select(EvidenceItem))
    blobs = _disk(app)
    _full_after(monkeypatch, 10_000)
    resp = ada.edit_item(
        portfolio.id, item.id, criteria=ada.criteria[:2], title="After", files=[(BIG, "visit-notes.txt")]
    )
    assert resp.status_code == 507 and b"file storage is full" in resp.data
    db.session.expire_all()
    item = db.session.scalar(select(EvidenceItem))
    assert item.title == "Before" and [ef.filename for ef in item.files] == ["report.pdf"]
    assert len(item.criteria) == 1 and table_count(StoredFile) == 1
    assert _disk(app) == blobs


def test_a_storage_outage_says_when_to_retry_wherever_it_is_raised(app):
    """Retry-After travels with the refusal itself, not only through the evidence form's own handling."""
    with app.test_request_context("/"):
        resp = app.make_response(app.handle_user_exception(EvidenceStorageUnavailable("No answer.")))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "60"
    assert b"No answer." in resp.data

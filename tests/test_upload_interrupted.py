"""An upload that fails part-way: the browser disconnects, a proxy cuts the body short, the disk or the
database fails after some of the files were written. The person gets a clear 4xx (or 503/507), and nothing
of the attempt is kept: no evidence row, no file row, no blob or temporary file."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from flask.testing import EnvironBuilder

from lti_tool.portfolio.evidence import storage as evidence_storage
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from tests import factories as f
from tests.conftest import table_count
from tests.fault_helpers import DatabaseBlip, FullDisk
from tests.fuzz_support import message_of
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

BIG = os.urandom(200_000)  # several encrypted records, and far past the first multipart parts


@pytest.fixture
def ada(app, jwks_server):
    return acme_learner(app, TestPlatform(jwks_server))


def _nothing_kept(app) -> None:
    assert table_count(EvidenceItem) == 0 and table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0
    assert not any(p.is_file() for p in Path(app.config["EVIDENCE_DIR"]).rglob("*"))


def _cut_upload(app, ada, keep: float, *, declared_length: bool):
    """Posts an evidence form whose body stops after `keep` of its bytes. With the full length declared, the
    server waits for bytes that never come (a disconnect); without, the body just ends (a cut stream)."""
    portfolio_id = ada.portfolio().id
    builder = EnvironBuilder(
        app,
        f"/portfolio/{portfolio_id}/evidence/new",
        method="POST",
        data={
            "csrf_token": ada.csrf,
            "kind": "work_product",
            "title": "Visit report",
            "description": "",
            "files": [(io.BytesIO(f.PDF), "first.pdf"), (io.BytesIO(b"%PDF-1.4\n" + BIG), "visit.pdf")],
        },
    )
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    cut = body[: int(len(body) * keep)]
    environ["wsgi.input"] = io.BytesIO(cut)
    if not declared_length:
        environ["CONTENT_LENGTH"] = str(len(cut))
    return ada.client.open(environ)


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.999])
def test_a_browser_that_disconnects_mid_upload_leaves_nothing(app, ada, keep):
    resp = _cut_upload(app, ada, keep, declared_length=True)
    assert resp.status_code == 400
    assert "interrupted" in message_of(resp) and "Nothing was saved" in message_of(resp)
    _nothing_kept(app)


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.999])
def test_a_body_cut_short_leaves_nothing(app, ada, keep):
    """The multipart body ends before its closing boundary: the form cannot be trusted, none of it is used."""
    resp = _cut_upload(app, ada, keep, declared_length=False)
    assert resp.status_code == 400
    assert "interrupted" in message_of(resp) and "Nothing was saved" in message_of(resp)
    _nothing_kept(app)


@pytest.mark.parametrize("err, status", [(errno.ENOSPC, 507), (errno.EIO, 503)])
def test_storage_failing_midway_through_the_second_file_leaves_nothing(app, ada, monkeypatch, err, status):
    real = os.fdopen

    monkeypatch.setattr(
        evidence_storage.os, "fdopen", lambda fd, mode="r", *a, **k: FullDisk(real(fd, mode), 100_000, err)
    )
    resp = ada.add_item(
        ada.portfolio().id, files=[(f.PDF, "first.pdf"), (b"%PDF-1.4\n" + BIG, "visit.pdf")], criteria=[]
    )
    assert resp.status_code == status and b"Nothing was saved" in resp.data
    _nothing_kept(app)


def test_the_database_dropping_after_the_files_were_written_leaves_nothing(app, ada):
    with DatabaseBlip(EvidenceFile, "after_flush") as blip:
        resp = ada.add_item(
            ada.portfolio().id, files=[(f.PDF, "first.pdf"), (b"%PDF-1.4\n" + BIG, "visit.pdf")], criteria=[]
        )
    assert blip.fired and resp.status_code == 503 and "Nothing was half-saved" in message_of(resp)
    _nothing_kept(app)

"""Evidence items and files through the learner's pages: add, edit, remove; uploads checked and stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lti_tool.audit.trail import AuditEvent
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.evidence.items import clean_item_fields
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from lti_tool.store.db import db
from tests import factories as f
from tests.conftest import make_test_app, table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser

CUSTOM = {"certification": "TSTCERT", "route": "training"}


@pytest.fixture
def platform(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    return platform


@pytest.fixture
def cert(app):
    return f.make_certification("TSTCERT")


@pytest.fixture
def ada(app, platform, cert):
    browser = Browser(app, platform, "ada", custom=CUSTOM)
    browser.start()
    return browser


def _criterion_ids(cert, partner_id=None):
    return [c.id for c in criteria_for(cert, partner_id)]


def _blob_files(app) -> list[Path]:
    return sorted(p for p in Path(app.config["EVIDENCE_DIR"]).rglob("*") if p.is_file())


def _nothing_stored(app) -> None:
    assert table_count(EvidenceItem) == 0 and table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0
    assert _blob_files(app) == []


def test_add_item_with_files_and_criteria(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _criterion_ids(cert)
    resp = ada.add_item(
        portfolio.id,
        files=[(f.PDF, "report.pdf"), (f.TEXT, "reflection.txt")],
        criteria=ids[:3],
        kind="reflective_account",
        evidence_date="2024-05-02",
    )
    assert resp.status_code == 303, resp.data
    item = db.session.scalar(select(EvidenceItem))
    assert item.kind == "reflective_account" and item.title == "Monitoring report"
    assert item.evidence_date.isoformat() == "2024-05-02"
    assert sorted(c.id for c in item.criteria) == ids[:3]
    assert [ef.filename for ef in item.files] == ["report.pdf", "reflection.txt"]
    assert item.files[0].sha256 == hashlib.sha256(f.PDF).hexdigest()
    assert item.files[0].stored.media_type == "application/pdf" and item.files[0].stored.size == len(f.PDF)
    page = ada.get(resp.location).data.decode()
    assert "Evidence added." in page and "3 of 8" in page and "Evidence mapped" in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert event.after["files"] == [ef.sha256 for ef in item.files]


def test_files_are_encrypted_at_rest_and_download_round_trips(app, ada, cert):
    portfolio = ada.portfolio()
    content = b"Site DE-07 query backlog escalated to the study manager. " * 3000
    ada.add_item(portfolio.id, files=[(content, "escalation.txt")], criteria=_criterion_ids(cert)[:1])
    ef = db.session.scalar(select(EvidenceFile))
    [blob] = _blob_files(app)
    assert blob.name == hashlib.sha256(content).hexdigest()
    raw = blob.read_bytes()
    assert b"query backlog" not in raw and b"escalated" not in raw
    evidence_dir = Path(app.config["EVIDENCE_DIR"]).resolve()
    static_dir = Path(app.static_folder).resolve()
    assert not evidence_dir.is_relative_to(static_dir)  # outside the web root
    resp = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert resp.status_code == 200 and resp.data == content
    disposition = "attachment; filename=\"escalation.txt\"; filename*=UTF-8''escalation.txt"
    assert resp.headers["Content-Disposition"] == disposition
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Length"] == str(len(content))


def test_edit_changes_mapping_removes_and_adds_files(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _criterion_ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf"), (f.PNG, "photo.png")], criteria=ids[:2])
    item = db.session.scalar(select(EvidenceItem))
    pdf, png = item.files
    resp = ada.edit_item(
        portfolio.id,
        item.id,
        criteria=[ids[4]],
        title="Monitoring report, revised",
        remove=[pdf.id],
        files=[(f.ooxml("docx"), "account.docx")],
    )
    assert resp.status_code == 303, resp.data
    db.session.expire_all()
    item = db.session.get(EvidenceItem, item.id)
    assert item.title == "Monitoring report, revised" and [c.id for c in item.criteria] == [ids[4]]
    assert [ef.filename for ef in item.files] == ["photo.png", "account.docx"]
    # The PDF was used by nothing else: its blob and record are gone.
    assert db.session.get(StoredFile, hashlib.sha256(f.PDF).hexdigest()) is None
    assert not storage().exists(hashlib.sha256(f.PDF).hexdigest())
    assert len(_blob_files(app)) == 2


def test_edit_must_keep_at_least_one_file(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=[])
    item = db.session.scalar(select(EvidenceItem))
    resp = ada.edit_item(portfolio.id, item.id, criteria=[], remove=[item.files[0].id])
    assert resp.status_code == 400 and b"Keep at least one file" in resp.data
    assert table_count(EvidenceFile) == 1


def test_remove_item_asks_first_then_removes(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=_criterion_ids(cert)[:1])
    item = db.session.scalar(select(EvidenceItem))
    confirm = ada.get(f"/portfolio/{portfolio.id}/evidence/{item.id}/remove")
    assert confirm.status_code == 200 and b"Remove \xe2\x80\x9cMonitoring report\xe2\x80\x9d?" in confirm.data
    assert table_count(EvidenceItem) == 1
    resp = ada.post(f"/portfolio/{portfolio.id}/evidence/{item.id}/remove")
    assert resp.status_code == 303
    _nothing_stored(app)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.removed")) is not None


def test_shared_blob_survives_removal_from_one_item(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=[], title="First")
    ada.add_item(portfolio.id, files=[(f.PDF, "same-report.pdf")], criteria=[], title="Second")
    first, second = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id))
    assert table_count(StoredFile) == 1 and len(_blob_files(app)) == 1
    ada.post(f"/portfolio/{portfolio.id}/evidence/{first.id}/remove")
    assert len(_blob_files(app)) == 1
    resp = ada.get(f"/portfolio/{portfolio.id}/evidence/{second.id}/files/{second.files[0].id}")
    assert resp.status_code == 200 and resp.data == f.PDF


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"title": "  "}, "title", "Give the evidence a title."),
        ({"title": "x" * 301}, "title", "under 300 characters"),
        ({"kind": "gossip"}, "kind", "Choose the kind of evidence."),
        ({"evidence_date": "31/12/2024"}, "evidence_date", "Enter the date as year-month-day"),
        ({"evidence_date": "2024-06-03"}, "evidence_date", "must not be in the future"),
        ({"evidence_date": "1900-01-01"}, "evidence_date", "Enter a date after 1950"),
        ({"criteria": ["7", "999"]}, "criteria", "not part of this certification"),
        ({"criteria": ["seven"]}, "criteria", "not part of this certification"),
    ],
)
def test_item_field_checks(form, field, message):
    data = MultiDict({"kind": "work_product", "title": "Report", **{k: v for k, v in form.items() if k != "criteria"}})
    for value in form.get("criteria", []):
        data.add("criteria", value)
    fields, errors = clean_item_fields(data, {7, 8}, today=dt.date(2024, 6, 1))
    assert list(errors) == [field] and message in errors[field]


def test_item_field_checks_accept_good_input():
    data = MultiDict(
        [
            ("kind", "witness_testimony"),
            ("title", "  Witness   statement "),
            ("criteria", "7"),
            ("criteria", "8"),
            ("evidence_date", "2024-06-02"),
            ("description", " Signed. "),
        ]
    )
    fields, errors = clean_item_fields(data, {7, 8}, today=dt.date(2024, 6, 1))
    assert errors == {}
    assert fields.title == "Witness statement" and fields.description == "Signed."
    assert fields.criterion_ids == {7, 8} and fields.evidence_date == dt.date(2024, 6, 2)


def test_invalid_fields_are_shown_on_the_form_and_store_nothing(app, ada, cert):
    portfolio = ada.portfolio()
    data = {"kind": "work_product", "title": "", "criteria": [], "files": [(io.BytesIO(f.PDF), "r.pdf")]}
    resp = ada.post(f"/portfolio/{portfolio.id}/evidence/new", data, content_type="multipart/form-data")
    assert resp.status_code == 400 and b"Give the evidence a title." in resp.data
    assert b'id="field-title"' in resp.data and b'aria-invalid="true"' in resp.data
    _nothing_stored(app)


def test_a_new_item_needs_a_file(app, ada, cert):
    portfolio = ada.portfolio()
    resp = ada.post(
        f"/portfolio/{portfolio.id}/evidence/new",
        {"kind": "work_product", "title": "Report", "files": [(io.BytesIO(b""), "")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and b"Attach at least one file." in resp.data
    _nothing_stored(app)


def test_criteria_of_another_certification_or_partner_are_refused(app, ada, cert):
    portfolio = ada.portfolio()
    other_cert = f.make_certification("OTHER")
    other_partner = f.make_partner("other-academy")
    theirs = f.add_partner_criterion(cert, other_partner.id)
    ours = f.add_partner_criterion(cert, portfolio.partner_id)
    for foreign in (criteria_for(other_cert, None)[0].id, theirs.id):
        resp = ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=[foreign])
        assert resp.status_code == 400 and b"not part of this certification" in resp.data
        _nothing_stored(app)
    # The learner's own partner's company-specific criterion is offered and accepted.
    form = ada.get(f"/portfolio/{portfolio.id}/evidence/new").data.decode()
    assert f'value="{ours.id}"' in form and f'value="{theirs.id}"' not in form and "Company-specific" in form
    assert ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=[ours.id]).status_code == 303


@pytest.mark.parametrize(
    "content, name, message",
    [
        (f.plain_zip(), "bundle.zip", b"ZIP archives"),  # a type not accepted
        (f.EXE, "report.pdf", b"program or script"),  # an executable disguised as a PDF
        (f.HTML, "report.pdf", b"web page"),  # a web page disguised as a PDF
    ],
)
def test_upload_rejections_leave_nothing_behind(app, ada, cert, content, name, message):
    portfolio = ada.portfolio()
    # A good file goes first: it must not survive the refusal of the second.
    resp = ada.add_item(portfolio.id, files=[(f.TEXT, "fine.txt"), (content, name)], criteria=[])
    assert resp.status_code == 400 and message in resp.data, resp.data
    assert b"choose your files again" in resp.data
    _nothing_stored(app)
    assert list((Path(app.config["EVIDENCE_DIR"]) / "tmp").glob("*")) == []


def test_path_traversal_name_is_reduced_to_a_plain_name(app, ada, cert):
    portfolio = ada.portfolio()
    resp = ada.add_item(portfolio.id, files=[(f.PDF, "../../../../tmp/evil.pdf")], criteria=[])
    assert resp.status_code == 303
    ef = db.session.scalar(select(EvidenceFile))
    assert ef.filename == "evil.pdf"
    assert not Path("/tmp/evil.pdf").exists()
    evidence_dir = Path(app.config["EVIDENCE_DIR"]).resolve()
    assert all(p.resolve().is_relative_to(evidence_dir) for p in _blob_files(app))
    download = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert download.headers["Content-Disposition"] == "attachment; filename=\"evil.pdf\"; filename*=UTF-8''evil.pdf"


def test_unicode_filename_is_kept_readable_in_the_download(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "Überwachungsbericht März.pdf")], criteria=[])
    ef = db.session.scalar(select(EvidenceFile))
    resp = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert ef.filename == "Überwachungsbericht März.pdf"
    assert "filename*=UTF-8''%C3%9Cberwachungsbericht%20M%C3%A4rz.pdf" in resp.headers["Content-Disposition"]


@pytest.fixture
def small_limit_app(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir, MAX_UPLOAD_MB=1, MAX_MEDIA_UPLOAD_MB=2)
    with app.app_context():
        yield app
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


def test_file_over_the_size_limit_is_refused(small_limit_app, jwks_server):
    app = small_limit_app
    platform = TestPlatform(jwks_server)
    cert = f.make_certification("TSTCERT")
    ada = Browser(app, platform, "ada", custom=CUSTOM)
    portfolio = ada.start()
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 100)  # just over 1 MB, under the request limit
    resp = ada.add_item(portfolio.id, files=[(f.TEXT, "fine.txt"), (big, "big.pdf")], criteria=_criterion_ids(cert))
    assert resp.status_code == 413
    assert b"larger than the limit of 1 MB per file" in resp.data
    _nothing_stored(app)
    assert list((Path(app.config["EVIDENCE_DIR"]) / "tmp").glob("*")) == []


def test_request_over_the_limit_is_refused_with_a_clear_page(small_limit_app, jwks_server):
    app = small_limit_app
    platform = TestPlatform(jwks_server)
    f.make_certification("TSTCERT")
    ada = Browser(app, platform, "ada", custom=CUSTOM)
    portfolio = ada.start()
    huge = b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)  # over the request limit: the larger (media) limit + 1 MB
    resp = ada.add_item(portfolio.id, files=[(huge, "huge.pdf")], criteria=[])
    assert resp.status_code == 413 and b"The upload is too large: the limit is 2 MB a request" in resp.data
    _nothing_stored(app)


def test_evidence_cannot_change_once_submitted(app, ada, cert):
    portfolio = ada.portfolio()
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=_criterion_ids(cert))
    item = db.session.scalar(select(EvidenceItem))
    assert ada.submit(portfolio.id, 1).status_code == 303
    for url in (
        f"/portfolio/{portfolio.id}/evidence/new",
        f"/portfolio/{portfolio.id}/evidence/{item.id}/edit",
        f"/portfolio/{portfolio.id}/evidence/{item.id}/remove",
    ):
        assert ada.get(url).status_code == 409
    resp = ada.add_item(portfolio.id, files=[(f.PNG, "p.png")], criteria=[])
    assert resp.status_code == 409 and b"cannot be changed now" in resp.data
    resp = ada.post(f"/portfolio/{portfolio.id}/evidence/{item.id}/remove")
    assert resp.status_code == 409
    assert table_count(EvidenceItem) == 1 and table_count(EvidenceFile) == 1


def test_a_failure_after_the_files_were_written_leaves_nothing(app, ada, cert, monkeypatch):
    portfolio = ada.portfolio()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("lti_tool.portfolio.evidence.items.audit.record", broken)
    resp = ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf"), (f.PNG, "p.png")], criteria=[])
    assert resp.status_code == 500 and b"Nothing you saved was lost" in resp.data
    _nothing_stored(app)


def test_a_large_upload_is_streamed_not_held_in_memory(app, ada, cert, tmp_path):
    """The upload path (form parsing, the route, the type check, encryption, the local blob store) holds a few
    chunks, not the file: a 24 MB upload must not raise this process's traced memory past 4 MiB (~1 MiB here).

    tracemalloc sees the test client's side too; it streams the body through a temporary file. The S3 backend's
    part buffer is checked apart (tests/test_evidence_s3.py), and bench/memory_bench.py measures a gunicorn
    worker's RSS for both backends."""
    size = 24 * 1024 * 1024  # under the default 25 MB limit
    path = tmp_path / "scan.pdf"
    with path.open("wb") as fh:
        fh.write(b"%PDF-1.7\n")
        for _ in range(size // (1024 * 1024)):
            fh.write(os.urandom(1024 * 1024))
    portfolio = ada.portfolio()
    csrf = ada.csrf
    tracemalloc.start()
    try:
        with path.open("rb") as fh:
            resp = ada.client.post(
                f"/portfolio/{portfolio.id}/evidence/new",
                content_type="multipart/form-data",
                data={"csrf_token": csrf, "kind": "work_product", "title": "Scan", "files": (fh, "scan.pdf")},
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert resp.status_code == 303, resp.data
    assert db.session.scalar(select(StoredFile)).size == path.stat().st_size
    assert peak < 4 * 1024 * 1024, f"the upload path held {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"

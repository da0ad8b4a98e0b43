"""Office documents are ZIP archives: zip bombs (real ones, lying directories, overlapping parts, many parts,
archives nested deep) are refused with a clear message without being unpacked, and real documents (an
embedded chart's workbook, a big spreadsheet, photos) still pass."""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path

import pytest

from lti_tool.portfolio.evidence import file_checks as fc
from lti_tool.portfolio.evidence import zip_checks
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from tests import archive_samples as a
from tests import factories as f
from tests.conftest import table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

BOMB = "zip bomb"
LYING = a.office({"word/media/image1.bin": bytes(50_000)})


def _sheet(rows: int) -> bytes:
    return "".join(
        f'<row r="{i}"><c r="A{i}"><v>{i * 37 % 1000}</v></c><c r="B{i}" t="s"><v>{i % 50}</v></c></row>'
        for i in range(rows)
    ).encode()


REFUSED = {
    # name: (document, words of the message)
    "64 MB of zeros in one part": (
        lambda: a.deflated_zeros("word/media/image1.bin", 64 << 20),
        "over 200 times its own size",
    ),
    "a part over 200:1 in a larger document": (
        lambda: a.office({"word/media/photo.jpg": os.urandom(300_000), "word/media/pad.bin": bytes(2 << 20)}),
        "compressed over 200 to 1",
    ),
    "a directory claiming 600 MB": (
        lambda: a.patch_directory(
            a.patch_directory(
                a.office({"a.bin": b"1", "b.bin": b"2"}), "a.bin", file_size=300 << 20, compress_size=2 << 20
            ),
            "b.bin",
            file_size=300 << 20,
            compress_size=2 << 20,
        ),
        "more than 512 MB",
    ),
    "6,000 parts": (lambda: a.many_parts(6000), "more than 5,000 parts"),
    "an end record claiming 60,000 parts": (lambda: a.set_entry_count(a.office(), 60_000), "more than 5,000 parts"),
    "one part listed four times (overlapping)": (lambda: a.overlapping(3, os.urandom(100_000)), "overlap"),
    "archives nested three deep": (lambda: a.nested(3), "nested more than 2 levels deep"),
    "a bomb inside an embedded workbook": (
        lambda: a.nested(1, a.deflated_zeros("xl/media/a.bin", 8 << 20, kind="xlsx")),
        "200 times",
    ),
    "a part unpacking past its declared size (CRC forged)": (
        lambda: a.patch_directory(LYING, "word/media/image1.bin", file_size=1000, crc=zlib.crc32(bytes(1001))),
        "more than the size it declares",
    ),
    "a part unpacking past its declared size": (
        lambda: a.patch_directory(LYING, "word/media/image1.bin", file_size=1000),
        "damaged",
    ),
    "an encrypted part": (lambda: a.patch_directory(LYING, "word/media/image1.bin", flags=1), "encrypted"),
    "an embedded workbook with macros": (
        lambda: a.nested(1, a.office({"xl/vbaProject.bin": b"\0"}, kind="xlsx")),
        "macros",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_zip_bombs_are_refused_with_a_clear_message(case):
    build, words = REFUSED[case]
    with pytest.raises(fc.UploadRefused, match=words) as refused:
        fc.check_upload(io.BytesIO(build()), "evidence.docx")
    assert refused.value.status == 400 and refused.value.hint


def test_a_bomb_is_refused_from_its_directory_without_unpacking_it(monkeypatch):
    unpacked = {"bytes": 0}
    real_read = zipfile.ZipExtFile.read

    def counting_read(self, n=-1):
        data = real_read(self, n)
        unpacked["bytes"] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    bomb = a.deflated_zeros("word/media/image1.bin", 64 << 20)
    with pytest.raises(fc.UploadRefused, match=BOMB):
        fc.check_upload(io.BytesIO(bomb), "report.docx")
    assert unpacked["bytes"] == 0


def test_a_lying_part_is_read_one_byte_past_its_declared_size_at_most(monkeypatch):
    """The declared size bounds the work even when it is false: 5 MB of zeros declared as 1,000 bytes."""
    document = a.patch_directory(
        a.office({"word/media/x.bin": bytes(5 << 20)}), "word/media/x.bin", file_size=1000, crc=zlib.crc32(bytes(1001))
    )
    unpacked = {"bytes": 0}
    real_read = zipfile.ZipExtFile.read

    def counting_read(self, n=-1):
        data = real_read(self, n)
        unpacked["bytes"] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    with pytest.raises(fc.UploadRefused, match="more than the size it declares"):
        fc.check_upload(io.BytesIO(document), "report.docx")
    assert unpacked["bytes"] < 20_000


ACCEPTED = {
    "a Word document with an embedded chart workbook": (lambda: a.nested(1), "report.docx", fc.DOCX),
    "a slide embedding a document embedding a workbook": (lambda: a.nested(2), "talk.docx", fc.DOCX),
    "a 5 MB photo inside a document": (
        lambda: a.office({"word/media/image1.jpeg": os.urandom(5 << 20)}),
        "photos.docx",
        fc.DOCX,
    ),
    "a spreadsheet of 60,000 rows (5 MB of XML)": (
        lambda: a.office({"xl/worksheets/sheet1.xml": _sheet(60_000)}, kind="xlsx"),
        "log.xlsx",
        fc.XLSX,
    ),
    "4,000 parts": (lambda: a.many_parts(4000), "parts.docx", fc.DOCX),
    "900 KB of blank, the ratio of no concern at that size": (
        lambda: a.deflated_zeros("word/media/blank.bin", 900 << 10),
        "blank.docx",
        fc.DOCX,
    ),
    "stored without compression": (
        lambda: a.office({"word/media/a.png": f.PNG}, method=zipfile.ZIP_STORED),
        "stored.docx",
        fc.DOCX,
    ),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_real_documents_pass(case):
    build, name, expected = ACCEPTED[case]
    stream = io.BytesIO(build())
    assert fc.check_upload(stream, name).file_type == expected
    assert stream.tell() == 0


def test_the_limits_are_what_the_messages_say():
    assert zip_checks.MAX_MEMBERS == 5_000 and zip_checks.MAX_RATIO == 200
    assert zip_checks.MAX_UNPACKED == 512 * 1024 * 1024 and zip_checks.MAX_DEPTH == 2


# --- through the learner's page ----------------------------------------------------------------


@pytest.fixture
def ada(app, jwks_server):
    return acme_learner(app, TestPlatform(jwks_server))


@pytest.mark.parametrize(
    "case", ["64 MB of zeros in one part", "one part listed four times (overlapping)", "archives nested three deep"]
)
def test_a_bomb_uploaded_is_a_400_on_the_form_and_nothing_is_kept(app, ada, case):
    build, words = REFUSED[case]
    portfolio = ada.portfolio()
    resp = ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf"), (build(), "Monitoring plan.docx")], criteria=[])
    page = resp.data.decode()
    assert resp.status_code == 400 and words in page and BOMB in page and "Please choose your files again" in page
    assert table_count(EvidenceItem) == 0 and table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0
    assert not any(p.is_file() for p in Path(app.config["EVIDENCE_DIR"]).rglob("*"))

"""Files that are two things at once. Decided per case (lti_tool/portfolio/polyglots.py):
- an image or PDF that is also a ZIP archive (GIFAR, a JAR or docx appended to a JPEG or PDF): refused;
- a page that opens as HTML but hides a PDF signature further in: refused as a web page;
- a PDF, image or text whose bytes also read as HTML or script: accepted as the detected type, and always
  served as an attachment with that type, nosniff and a sandboxing CSP (checked here on the real response).
"""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from lti_tool.portfolio.evidence import file_checks as fc
from lti_tool.portfolio.models import EvidenceFile, StoredFile
from lti_tool.store.db import db
from tests import archive_samples as a
from tests import factories as f
from tests.conftest import table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
    b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
SCRIPT = b"<html><body><script>alert(document.cookie)</script></body></html>"


def _jar() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        z.writestr("Evil.class", b"\xca\xfe\xba\xbe" + b"\x00" * 40)
    return buf.getvalue()


HIDDEN_ARCHIVES = {
    "GIFAR (a GIF with a JAR appended)": (GIF + _jar(), "chart.gif"),
    "a JPEG with a ZIP appended": (f.JPEG + f.plain_zip(), "photo.jpg"),
    "a PNG with a Word document appended": (f.PNG + a.office(), "scan.png"),
    "a PDF with a ZIP after its end": (f.PDF + f.plain_zip(), "report.pdf"),
    "a PDF with a ZIP whose comment ends in %%EOF": (f.PDF + f.plain_zip()[:-2] + b"\x05\x00%%EOF", "report.pdf"),
}

ACCEPTED_AS_DETECTED = {
    # name: (content, file name, type, the Content-Type served)
    "a PDF with HTML and script in a comment": (
        b"%PDF-1.4\n%" + SCRIPT + b"\n1 0 obj<</S/JavaScript/JS(app.alert(1))>>endobj\ntrailer<<>>\n%%EOF\n",
        "report.pdf",
        fc.PDF,
        "application/pdf",
    ),
    "a JPEG carrying HTML in a comment segment": (
        b"\xff\xd8\xff\xfe\x00\x50" + SCRIPT + b"\xff\xd9",
        "photo.jpg",
        fc.JPEG,
        "image/jpeg",
    ),
    "a GIF that is also JavaScript": (
        b"GIF89a/*\x01\x00\x01\x00*/=1;alert(document.domain);//" + GIF[13:],
        "chart.gif",
        fc.GIF,
        "image/gif",
    ),
    "text with a script tag further down": (
        b"Reflection on the site visit.\n" + SCRIPT + b"\n",
        "notes.txt",
        fc.TEXT,
        "text/plain; charset=utf-8",
    ),
}


@pytest.mark.parametrize("case", HIDDEN_ARCHIVES)
def test_an_image_or_pdf_that_is_also_an_archive_is_refused(case):
    content, name = HIDDEN_ARCHIVES[case]
    with pytest.raises(fc.UploadRefused, match="also contains a hidden ZIP archive") as refused:
        fc.check_upload(io.BytesIO(content), name)
    assert refused.value.hint and "save" in refused.value.hint


def test_a_zip_signature_by_chance_inside_an_image_is_not_an_archive():
    """Compressed image data can hold the four bytes of a ZIP end record; only a readable archive counts."""
    chance = f.JPEG + b"\x13\x37PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00\xff\xff\x00\x00\xee\xee\x00\x00\x00\x00"
    assert fc.check_upload(io.BytesIO(chance), "photo.jpg").file_type == fc.JPEG


def test_html_with_a_pdf_signature_inside_is_refused_as_a_web_page():
    """Some PDF readers accept %PDF- anywhere in the first kilobyte; browsers see the HTML first."""
    with pytest.raises(fc.UploadRefused, match="web page"):
        fc.check_upload(io.BytesIO(SCRIPT + b"\n%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"), "report")


@pytest.mark.parametrize("case", ACCEPTED_AS_DETECTED)
def test_a_document_that_also_reads_as_html_is_its_detected_type(case):
    content, name, expected, _ = ACCEPTED_AS_DETECTED[case]
    assert fc.check_upload(io.BytesIO(content), name).file_type == expected


# --- what the learner's upload leads to, and what is served ---------------------------------------


@pytest.fixture
def ada(app, jwks_server):
    return acme_learner(app, TestPlatform(jwks_server))


def test_a_gifar_upload_is_a_400_and_nothing_is_kept(app, ada):
    content, name = HIDDEN_ARCHIVES["GIFAR (a GIF with a JAR appended)"]
    resp = ada.add_item(ada.portfolio().id, files=[(content, name)], criteria=[])
    assert resp.status_code == 400 and b"hidden ZIP archive" in resp.data
    assert table_count(EvidenceFile) == 0 and table_count(StoredFile) == 0


@pytest.mark.parametrize("case", ACCEPTED_AS_DETECTED)
def test_a_polyglot_is_served_as_an_attachment_of_its_detected_type_only(app, ada, case):
    content, name, _, served_type = ACCEPTED_AS_DETECTED[case]
    portfolio = ada.portfolio()
    assert ada.add_item(portfolio.id, files=[(content, name)], criteria=[]).status_code == 303
    ef = db.session.scalar(select(EvidenceFile))
    resp = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert resp.status_code == 200 and resp.data == content
    assert resp.headers["Content-Type"] == served_type
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert resp.headers["Cache-Control"] == "private, no-store"

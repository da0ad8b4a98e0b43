"""Upload checks: type by content, disguised types refused, names made safe."""

from __future__ import annotations

import io
import os

import pytest

from lti_tool.portfolio.evidence import file_checks as fc
from tests import factories as f


@pytest.mark.parametrize(
    "content, name, expected",
    [
        (f.PDF, "report.pdf", fc.PDF),
        (f.PNG, "photo.png", fc.PNG),
        (f.JPEG, "photo.JPG", fc.JPEG),
        (b"GIF89a" + b"\x00" * 20, "chart.gif", fc.GIF),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "shot.webp", fc.WEBP),
        (f.ooxml("docx"), "account.docx", fc.DOCX),
        (f.ooxml("xlsx"), "log.xlsx", fc.XLSX),
        (f.ooxml("pptx"), "talk.pptx", fc.PPTX),
        (f.odf(), "account.odt", fc.ODT),
        (f.odf("application/vnd.oasis.opendocument.spreadsheet"), "sheet.ods", fc.ODS),
        (f.TEXT, "notes.txt", fc.TEXT),
        ("Site,Queries open\nUK-01,4\nDE-07,12 – überfällig\n".encode(), "queries.csv", fc.CSV),
        ("\ufeffReflective account with a BOM".encode(), "account.md", fc.TEXT),
    ],
)
def test_accepted_types(content, name, expected):
    checked = fc.check_upload(io.BytesIO(content), name)
    assert checked.file_type == expected
    stem, ext = os.path.splitext(name)
    assert checked.filename == stem + ext.lower()


def test_name_without_extension_gets_the_right_one():
    assert fc.check_upload(io.BytesIO(f.PDF), "scan").filename == "scan.pdf"
    assert fc.check_upload(io.BytesIO(f.ooxml("docx")), "account").filename == "account.docx"


@pytest.mark.parametrize(
    "content, name, message",
    [
        (f.EXE, "setup.exe", "program"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "tool", "program"),
        (b"#!/bin/sh\nrm -rf ~\n", "notes.txt", "program or script"),
        (f.HTML, "page.html", "web page"),
        (b"  <svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.svg", "web page"),
        (f.plain_zip(), "bundle.zip", "ZIP archives"),
        (f.ooxml("docx", macros=True), "macro.docx", "macros"),
        (b"PK\x03\x04" + b"\x00" * 50, "broken.docx", "damaged"),
        (bytes(range(256)) * 4, "blob.bin", "not a document type"),
        (b"", "empty.pdf", "empty"),
    ],
)
def test_refused_types(content, name, message):
    with pytest.raises(fc.UploadRefused, match=message):
        fc.check_upload(io.BytesIO(content), name)


@pytest.mark.parametrize(
    "content, name",
    [
        (f.EXE, "report.pdf"),  # an executable named as a PDF
        (f.HTML, "report.pdf"),  # a web page named as a PDF
        (f.PNG, "report.pdf"),  # a real image, but named as something else
        (f.PDF, "report.exe"),
        (f.ooxml("docx"), "sheet.xlsx"),  # the zip structure says Word, the name says Excel
        (f.TEXT, "report.pdf"),
    ],
)
def test_disguised_types_are_refused(content, name):
    with pytest.raises(fc.UploadRefused):
        fc.check_upload(io.BytesIO(content), name)


def test_disguised_message_says_what_it_really_is():
    with pytest.raises(fc.UploadRefused, match="named as a .pdf file but its content is a PNG image"):
        fc.check_upload(io.BytesIO(f.PNG), "report.pdf")


@pytest.mark.parametrize(
    "raw, safe",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\Windows\\system32\\evil.pdf", "evil.pdf"),
        ("C:\\Users\\ada\\Documents\\Monitoring report.PDF", "Monitoring report.pdf"),
        ("/absolute/path/report.pdf", "report.pdf"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("bad\x00name\r\n.pdf", "badname.pdf"),
        ("right\u202eto-left\u200b.pdf", "rightto-left.pdf"),
        ('what?*<>|:".pdf', "what_______.pdf"),
        ("  .hidden.pdf  ", "hidden.pdf"),
        ("Übersicht Überwachung.pdf", "Übersicht Überwachung.pdf"),
    ],
)
def test_safe_filename(raw, safe):
    assert fc.safe_filename(raw) == safe


def test_long_names_are_shortened_keeping_the_extension():
    name = fc.safe_filename("a" * 400 + ".pdf")
    assert len(name) <= 150 and name.endswith(".pdf")


def test_stream_is_left_at_the_start():
    stream = io.BytesIO(f.ooxml("docx"))
    fc.check_upload(stream, "a.docx")
    assert stream.tell() == 0

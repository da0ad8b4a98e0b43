"""File names from anywhere: traversal (`../`, `..\\`, look-alike slashes, absolute and drive paths), control
characters (NUL, CR/LF), direction overrides (U+202E), names that are only dots, Windows device names,
very long names. The stored name is a plain, safe display name, and the download's Content-Disposition is
one well-formed header line (ASCII `filename`, RFC 5987 `filename*` carrying the stored name exactly)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.http import parse_options_header

from lti_tool.portfolio.evidence.file_names import content_disposition, safe_filename
from lti_tool.portfolio.models import EvidenceFile
from lti_tool.store.db import db
from tests import factories as f
from tests.fuzz_support import FUZZ, assert_clean_refusal, tally
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import acme_learner

PIECES = [
    "..",
    ".",
    "/",
    "\\",
    "..\\",
    "../",
    " ",
    "\x00",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\u202e",
    "\u202d",
    "\u200f",
    "\u2066",
    "\u2028",
    "\u2029",
    "\u0085",
    "\ufeff",
    "\u200b",
    "／",
    "＼",
    "．",
    "＂",
    "；",
    "C:",
    "C:\\",
    "//server/share/",
    "/etc/",
    "%00",
    "%2e%2e%2f",
    "%22",
    "CON",
    "nul",
    "LPT1",
    "é",
    "e\u0301",
    "ß",
    "İ",
    "ﬁ",
    "💥",
    "日本",
    "\u0645\u0631\u062d\u0628\u0627",
    '"',
    "'",
    ";",
    "=",
    "filename*=UTF-8''x",
    "*",
    "?",
    ":",
    "<script>",
    "pdf",
    ".pdf",
    ".PDF",
    ".exe",
    "a",
]
names = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.builds(lambda piece, n: piece * n, st.sampled_from(PIECES), st.integers(1, 3000)),
)
HEADER = re.compile(r"""attachment; filename="([^"\\]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)""")


def assert_safe_name(name: str) -> None:
    assert 1 <= len(name) <= 150, name
    for look in (name, unicodedata.normalize("NFKC", name), unicodedata.normalize("NFKD", name)):
        assert "/" not in look and "\\" not in look, name
    assert not any(unicodedata.category(ch)[0] == "C" for ch in name), name
    assert not any(ch in name for ch in '<>:"|?*;\u2028\u2029'), name
    assert name.strip(". ") == name and name not in (".", ".."), name
    assert name.split(".", 1)[0].lower() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}, name


def assert_safe_header(value: str, name: str) -> None:
    assert all(" " <= ch <= "~" for ch in value), value  # one line of printable ASCII: nothing to inject
    match = HEADER.fullmatch(value)
    assert match, value
    fallback, encoded = match.groups()
    assert unquote(encoded, errors="strict") == name
    assert fallback and "%" not in fallback and "/" not in fallback and not fallback.startswith("."), value
    kind, options = parse_options_header(value)
    assert kind == "attachment" and options["filename"] == name  # as a client reading filename* sees it


@FUZZ
@given(names)
@example("../../../../etc/passwd")
@example("..\\..\\Windows\\win.ini")
@example("..／..／etc／passwd.pdf")
@example("C:\\Users\\ada\\report.pdf")
@example("evil\u202efdp.exe")
@example("report.pdf\x00.html")
@example("x.pdf\r\nSet-Cookie: session=stolen")
@example("....")
@example("CON.pdf")
@example("a" * 5000 + ".pdf")
def test_any_name_becomes_a_safe_name_and_header(raw):
    tally()
    name = safe_filename(raw)
    assert_safe_name(name)
    assert safe_filename(name) == name  # stable: showing or re-checking a stored name changes nothing
    assert_safe_header(content_disposition(name), name)


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\boot.pdf", "boot.pdf"),
        ("..／..／etc／passwd.pdf", "passwd.pdf"),  # fullwidth solidus: a path separator once a browser folds it
        ("＂; filename=evil.exe.pdf", "__ filename=evil.exe.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("....", "file"),
        ("ﬁle.ＰＤＦ", "file.pdf"),
    ],
)
def test_look_alikes_and_device_names(raw, stored):
    assert safe_filename(raw) == stored


@pytest.mark.parametrize(
    "name, header",
    [
        ("evil.pdf", "attachment; filename=\"evil.pdf\"; filename*=UTF-8''evil.pdf"),
        ("日本語.pdf", "attachment; filename=\"file.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf"),
        ("résumé%00.pdf", "attachment; filename=\"resume_00.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%2500.pdf"),
    ],
)
def test_header_examples(name, header):
    assert content_disposition(name) == header


# --- through the learner's upload and download -------------------------------------------------


@pytest.fixture
def ada(app, jwks_server):
    return acme_learner(app, TestPlatform(jwks_server))


def _assert_refused(resp, what: str) -> None:
    """A 4xx error page, or the form shown again with what to correct (a missing file, a disguised type)."""
    if b'id="error-summary-title"' in resp.data:
        assert 400 <= resp.status_code < 500 and b"Traceback" not in resp.data, what
    else:
        assert_clean_refusal(resp, what)


def test_uploaded_names_are_stored_safe_and_sent_back_safe(app, ada):
    """Whatever name the multipart body carries (the test client does not escape quotes or line breaks, as a
    hand-made request would not): a 303 with a safe stored name and header, or a clean 4xx."""
    portfolio_id = ada.portfolio().id

    @FUZZ
    @given(names, st.booleans())
    @example("..\\..\\x\r\nContent-Type: text/html\r\n\r\n<script>", True)
    @example('a"; name="csrf_token', False)
    def check(raw, add_extension):
        tally()
        name = raw + ".pdf" if add_extension else raw
        newest = db.session.scalar(select(db.func.max(EvidenceFile.id))) or 0
        resp = ada.add_item(portfolio_id, files=[(f.PDF, name)], criteria=[])
        if resp.status_code != 303:
            _assert_refused(resp, repr(name))
            return
        ef = db.session.scalar(select(EvidenceFile).where(EvidenceFile.id > newest))
        assert ef is not None
        assert_safe_name(ef.filename)
        download = ada.get(f"/portfolio/{portfolio_id}/evidence/{ef.item_id}/files/{ef.id}")
        assert download.status_code == 200 and download.data == f.PDF
        assert_safe_header(download.headers["Content-Disposition"], ef.filename)

    check()

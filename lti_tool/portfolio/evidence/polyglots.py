"""Files that are two things at once.

An image or PDF from which a ZIP archive can also be read (one appended after the picture, as in a "GIFAR",
or after the PDF's end) is refused: no real evidence needs one, a rule about where the archive sits would be
easy to dodge (a ZIP comment can hold any bytes, an end-of-PDF marker included), and the archive would reach
the assessor's computer under an innocent name.

A PDF or image whose bytes also read as HTML or script is accepted as what its signature says: it is only
ever served as an attachment with its detected type, `nosniff` and a sandboxing CSP, so no browser renders
it as a page (tests/test_upload_polyglots.py checks what is served).
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from flask_babel import gettext

from lti_tool.portfolio.evidence.upload_errors import UploadRefused
from lti_tool.portfolio.evidence.zip_checks import MAX_DIRECTORY, directory_size


def _readable_zip(stream: BinaryIO) -> bool:
    """A ZIP signature by chance in compressed image data is not enough: the directory it points to must
    list at least one part."""
    entries, directory = directory_size(stream)
    if entries == 0 and directory == 0:
        return False
    if directory > MAX_DIRECTORY:
        return True  # a directory that big is an archive, whether zipfile could read it or not
    try:
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            return bool(archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError):
        return False


def check_hidden_archive(stream: BinaryIO, label: str) -> None:
    """Refuses a `label` file (a detected image or PDF) that is also a ZIP archive; leaves the stream at 0."""
    try:
        if _readable_zip(stream):
            raise UploadRefused(
                gettext(
                    "This %(kind)s also contains a hidden ZIP archive, which is not accepted.", kind=gettext(label)
                ),
                hint="Open it on your computer and save or export it again (for example print "
                "it to PDF, or save the picture as a new file), then upload that copy.",
            )
    finally:
        stream.seek(0)

"""Office documents (docx, xlsx, pptx, odt...) are ZIP archives: limits that refuse one built to unpack into
something enormous (a "zip bomb") before it is stored and later opened on an assessor's computer.

In order, each step bounding the work of the next:
1. the end record: how many parts the archive says it has and how big its directory is, read before
   `zipfile` builds a list of them;
2. the directory: number of parts, their declared unpacked sizes (in total and against the file's size),
   the compression ratio of each large part, parts overlapping each other (one compressed stream listed
   many times is how the most effective bombs work);
3. the parts themselves, read as a stream and never past one byte more than each declares, so a part that
   lies about its size is caught without unpacking it; an archive inside (a chart's workbook in a Word
   document) is checked the same way, against the same budget, up to MAX_DEPTH levels.
"""

from __future__ import annotations

import copy
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO, BinaryIO

from babel.numbers import format_decimal
from flask_babel import get_locale, gettext

from lti_tool.portfolio.evidence.upload_errors import UploadRefused
from lti_tool.web.errors import N_

MAX_MEMBERS = 5_000  # all levels together; real documents have tens, at most a few thousand parts
MAX_UNPACKED = 512 * 1024 * 1024  # bytes, all levels together
MAX_RATIO = 200  # unpacked : packed; text and XML reach 10-30, only crafted data reaches 1,000
RATIO_FLOOR = 1024 * 1024  # below this, a high ratio costs nothing (a tiny XML part of repeated spaces)
MAX_DEPTH = 2  # a document may embed one that embeds another (a slide embedding a chart's workbook)
MAX_DIRECTORY = MAX_MEMBERS * 400  # bytes: 46 per entry plus a generous name and extra fields
_READ = 64 * 1024
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_NESTED_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

_HINT = N_(
    "Open the document on your computer and save it again (or save it as PDF) and upload that copy. If it "
    "came from someone else, do not open it."
)


class ArchiveRefused(UploadRefused):
    pass


@dataclass
class _Budget:
    members: int = 0
    unpacked: int = 0


def _bomb(reason: str) -> ArchiveRefused:
    """The refusal of an archive over a limit; `reason` (in the page's language) ends "This document was
    refused because ..."."""
    return ArchiveRefused(
        gettext(
            "This document was refused because %(reason)s. Files like this are built to overwhelm the computers "
            "that open them (a 'zip bomb'), or are badly damaged.",
            reason=reason,
        ),
        hint=gettext(_HINT),
    )


def directory_size(stream: IO[bytes]) -> tuple[int, int]:
    """(entries, directory bytes) as the end record declares them; (0, 0) when there is none."""
    stream.seek(0, 2)
    size = stream.tell()
    start = max(0, size - (1 << 16) - 22)
    stream.seek(start)
    tail = stream.read()
    # The last signature, as zipfile chooses: a fake end record hidden in a comment changes nothing.
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return 0, 0
    entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack("<Q", tail[at - 12 : at - 4])
        stream.seek(offset)
        record = stream.read(56)
        if len(record) == 56 and record.startswith(_ZIP64_EOCD):
            entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


def _check_directory(infos: list[zipfile.ZipInfo], file_size: int, budget: _Budget) -> None:
    budget.members += len(infos)
    if budget.members > MAX_MEMBERS:
        raise _bomb(_too_many_parts())
    declared = sum(i.file_size for i in infos)
    if budget.unpacked + declared > MAX_UNPACKED:
        raise _bomb(gettext("it would unpack to more than %(mb)s MB", mb=MAX_UNPACKED // (1024 * 1024)))
    if declared > RATIO_FLOOR and declared > MAX_RATIO * max(file_size, 1):
        raise _bomb(gettext("it would unpack to over %(ratio)s times its own size", ratio=MAX_RATIO))
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(gettext("a part of it is compressed over %(ratio)s to 1", ratio=MAX_RATIO))
        if info.flag_bits & 0x1:
            raise ArchiveRefused(
                "Part of this document is encrypted, so it cannot be checked.",
                hint="Remove the password protection, save it, and upload it again.",
            )
    # A local header is at least 30 bytes: parts whose data would run into the next one overlap.
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for this, following in zip(ordered, ordered[1:], strict=False):
        if this.header_offset + 30 + this.compress_size > following.header_offset:
            raise _bomb(gettext("parts of it overlap each other inside the file"))


def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, depth: int, budget: _Budget) -> None:
    """Reads one part to its end, one byte past its declared size at most; recurses into an archive."""
    probe = copy.copy(info)
    probe.file_size = info.file_size + 1  # room for one byte too many, the proof of a false size
    read = 0
    nested: tempfile.SpooledTemporaryFile[bytes] | None = None
    try:
        with archive.open(probe) as part:
            while block := part.read(_READ):
                if read == 0 and block.startswith(_NESTED_MAGIC):
                    if depth + 1 > MAX_DEPTH:
                        raise _bomb(
                            gettext("it holds archives nested more than %(depth)s levels deep", depth=MAX_DEPTH)
                        )
                    nested = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
                read += len(block)
                if read > info.file_size:
                    raise _bomb(gettext("a part of it unpacks to more than the size it declares"))
                if nested is not None:
                    nested.write(block)
        if nested is not None:
            _check(nested, depth + 1, budget)
    finally:
        if nested is not None:
            nested.close()


def _check(stream: IO[bytes], depth: int, budget: _Budget) -> None:
    entries, directory = directory_size(stream)
    if budget.members + entries > MAX_MEMBERS or directory > MAX_DIRECTORY:
        raise _bomb(_too_many_parts())
    stream.seek(0, 2)
    file_size = stream.tell()
    stream.seek(0)
    with zipfile.ZipFile(stream) as archive:
        infos = archive.infolist()
        _check_directory(infos, file_size, budget)
        budget.unpacked += sum(i.file_size for i in infos)
        for info in infos:
            if depth > 0 and info.filename.lower().endswith("vbaproject.bin"):
                raise UploadRefused(
                    "This document embeds another one that contains macros, which could run "
                    "code on an assessor's computer.",
                    hint="Remove the embedded object, or save it without macros, and upload again.",
                )
            _read_part(archive, info, depth, budget)


def _too_many_parts() -> str:
    count = format_decimal(MAX_MEMBERS, locale=str(get_locale() or "en_GB"))  # "5,000"; "5000" in Spanish
    return gettext("it is made of more than %(count)s parts", count=count)


def check_archive(stream: BinaryIO) -> None:
    """Raises UploadRefused for an archive over the limits, damaged, or encrypted; leaves the stream at 0.

    zipfile's own errors (a bad CRC, a name differing between directory and part, an unknown compression
    method) mean a damaged or crafted file and are refused as damaged.
    """
    try:
        _check(stream, 0, _Budget())
    except UploadRefused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        KeyError,
        ValueError,
        NotImplementedError,
        RuntimeError,
        struct.error,
    ) as exc:
        raise UploadRefused(
            "This file looks like a ZIP archive (as Office documents are) but is damaged.",
            hint="Open it on your computer to check it, save it again and upload the new copy.",
        ) from exc
    finally:
        stream.seek(0)

"""What an evidence upload is: its type judged by content (never by name) and a safe display name.

Accepted: PDF, PNG, JPEG, GIF, WebP, Office Open XML (docx/xlsx/pptx, without macros), OpenDocument
(odt/ods/odp), plain UTF-8 text or CSV, and audio and video as phones record them (MP3, M4A/AAC, WAV, Ogg,
FLAC, AMR; MP4, MOV, WebM, Matroska, 3GP), each known by its container's signature. Audio and video are
"media": the larger per-file limit (LTI_TOOL_MAX_MEDIA_UPLOAD_MB) applies to them.

A name whose extension promises another type is refused as disguised; a name without an extension gets the right one.
"""

from __future__ import annotations

import codecs
import os
import re
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext

from lti_tool.portfolio.evidence.file_names import safe_filename
from lti_tool.portfolio.evidence.polyglots import check_hidden_archive
from lti_tool.portfolio.evidence.upload_errors import UploadRefused
from lti_tool.portfolio.evidence.zip_checks import check_archive
from lti_tool.web.errors import N_

__all__ = ["UploadRefused", "check_upload", "detect_type", "media_type_info", "safe_filename"]

# In English; refusals say it in the page's language (accepted()).
ACCEPTED_DESCRIPTION = N_(
    "PDF, images (PNG, JPEG, GIF, WebP), Word/Excel/PowerPoint (docx, xlsx, pptx), "
    "OpenDocument (odt, ods, odp), plain text or CSV, audio (MP3, M4A, AAC, WAV, Ogg, FLAC, AMR) "
    "or video (MP4, MOV, WebM, MKV, 3GP)"
)


def accepted() -> str:
    """'Accepted: PDF, images (...)...' in the page's language, for a refusal's hint."""
    return gettext("Accepted: %(types)s.", types=gettext(ACCEPTED_DESCRIPTION))


@dataclass(frozen=True)
class FileType:
    media_type: str
    label: str
    extensions: tuple[str, ...]  # first one is added to names that have none
    media: bool = False  # audio or video: the media size limit applies


PDF = FileType("application/pdf", N_("PDF document"), (".pdf",))
PNG = FileType("image/png", N_("PNG image"), (".png",))
JPEG = FileType("image/jpeg", N_("JPEG image"), (".jpg", ".jpeg", ".jpe"))
GIF = FileType("image/gif", N_("GIF image"), (".gif",))
WEBP = FileType("image/webp", N_("WebP image"), (".webp",))
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", N_("Word document"), (".docx",)
)
XLSX = FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", N_("Excel workbook"), (".xlsx",))
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    N_("PowerPoint presentation"),
    (".pptx",),
)
ODT = FileType("application/vnd.oasis.opendocument.text", N_("OpenDocument text"), (".odt",))
ODS = FileType("application/vnd.oasis.opendocument.spreadsheet", N_("OpenDocument spreadsheet"), (".ods",))
ODP = FileType("application/vnd.oasis.opendocument.presentation", N_("OpenDocument presentation"), (".odp",))
TEXT = FileType("text/plain", N_("plain text"), (".txt", ".text", ".md", ".log"))
CSV = FileType("text/csv", N_("CSV table"), (".csv",))
TSV = FileType("text/tab-separated-values", N_("tab-separated table"), (".tsv",))

# Audio and video. Phones name an audio-only MP4 ".m4a" whatever brand it carries, so MP4 accepts that name.
MP3 = FileType("audio/mpeg", N_("MP3 audio"), (".mp3",), media=True)
M4A = FileType("audio/mp4", N_("M4A audio"), (".m4a", ".m4b", ".mp4"), media=True)
AAC = FileType("audio/aac", N_("AAC audio"), (".aac",), media=True)
WAV = FileType("audio/wav", N_("WAV audio"), (".wav",), media=True)
OGG = FileType("audio/ogg", N_("Ogg audio"), (".ogg", ".oga", ".opus"), media=True)
FLAC = FileType("audio/flac", N_("FLAC audio"), (".flac",), media=True)
AMR = FileType("audio/amr", N_("AMR audio"), (".amr",), media=True)
MP4 = FileType("video/mp4", N_("MP4 video"), (".mp4", ".m4v", ".m4a"), media=True)
MOV = FileType("video/quicktime", N_("QuickTime video"), (".mov", ".qt"), media=True)
WEBM = FileType("video/webm", N_("WebM video"), (".webm",), media=True)
MKV = FileType("video/x-matroska", N_("Matroska video"), (".mkv", ".mka"), media=True)
THREE_GP = FileType("video/3gpp", N_("3GP video"), (".3gp", ".3g2", ".3gpp"), media=True)
MEDIA_TYPES = (MP3, M4A, AAC, WAV, OGG, FLAC, AMR, MP4, MOV, WEBM, MKV, THREE_GP)

ALL_TYPES = (PDF, PNG, JPEG, GIF, WEBP, DOCX, XLSX, PPTX, ODT, ODS, ODP, TEXT, CSV, TSV, *MEDIA_TYPES)
# What the upload input offers a phone (its camera, microphone and files): types and extensions.
ACCEPT_ATTRIBUTE = ",".join(
    dict.fromkeys(
        [t.media_type for t in ALL_TYPES]
        + ["audio/*", "video/*", "image/*"]
        + [e for t in ALL_TYPES for e in t.extensions]
    )
)
_BY_MEDIA_TYPE = {t.media_type: t for t in ALL_TYPES}

_OOXML_MAIN_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX), ("ppt/presentation.xml", PPTX))
_ODF_TYPES = {ODT.media_type: ODT, ODS.media_type: ODS, ODP.media_type: ODP}
# Signatures of things that must never pass as evidence, for a clearer message than "unknown type".
_EXECUTABLE_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)
_MARKUP_MARKERS = (
    b"<!doctype",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<svg",
    b"<?xml",
    b"<iframe",
    b"<object",
    b"<embed",
    b"<meta",
    b"<a ",
    b"<img",
    b"<div",
    b"<style",
)
# Control characters never found in real text (tab, newlines and form feed are fine).
_FORBIDDEN_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_READ = 64 * 1024


def media_type_info(media_type: str) -> FileType | None:
    return _BY_MEDIA_TYPE.get(media_type)


def _head(stream: BinaryIO, size: int = 4096) -> bytes:
    stream.seek(0)
    data = stream.read(size)
    stream.seek(0)
    return data


def _zip_type(stream: BinaryIO) -> FileType:
    # The limits first: reading even the directory of a crafted archive can be costly.
    check_archive(stream)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            first = archive.infolist()[0].filename if archive.infolist() else ""
            if first == "mimetype":
                # Small by definition; read a bounded amount even if the entry claims more.
                with archive.open("mimetype") as fh:
                    declared = fh.read(100).decode("ascii", "replace").strip()
                if declared in _ODF_TYPES:
                    return _ODF_TYPES[declared]
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as fh:
                    content_types = fh.read(256 * 1024).lower()
                if b"macroenabled" in content_types or any(n.lower().endswith("vbaproject.bin") for n in names):
                    raise UploadRefused(
                        "This Office file contains macros, which could run code on an assessor's computer.",
                        hint="Save it without macros (as .docx, .xlsx or .pptx) and upload that copy.",
                    )
                for part, kind in _OOXML_MAIN_PARTS:
                    if part in names:
                        return kind
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, IndexError) as exc:
        raise UploadRefused(
            "This file looks like a ZIP archive but is damaged.",
            hint="Open it on your computer to check it, save it again and upload the new copy.",
        ) from exc
    finally:
        stream.seek(0)
    raise UploadRefused(
        "ZIP archives and other packaged files are not accepted.",
        hint=gettext("Upload each document on its own. %(accepted)s", accepted=accepted()),
    )


def _looks_like_markup(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(b"<") and any(marker in start[:1024] for marker in _MARKUP_MARKERS)


def _text_type(stream: BinaryIO, head: bytes, ext: str) -> FileType:
    if _looks_like_markup(head):
        raise UploadRefused(
            "This file is a web page or markup (HTML, SVG or XML), which is not accepted.",
            hint="Print or save it as PDF and upload the PDF.",
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    stream.seek(0)
    try:
        while True:
            block = stream.read(_READ)
            text = decoder.decode(block, final=not block)
            if _FORBIDDEN_CONTROLS.search(text):
                raise UploadRefused("This file is not a document type the tool accepts.", hint=accepted())
            if not block:
                break
    except UnicodeDecodeError as exc:
        raise UploadRefused(
            "This file is not a document type the tool accepts (it is neither a known format nor UTF-8 text).",
            hint=accepted(),
        ) from exc
    finally:
        stream.seek(0)
    if ext in CSV.extensions:
        return CSV
    if ext in TSV.extensions:
        return TSV
    return TEXT


def _signed_type(head: bytes) -> FileType | None:
    """The PDF and image types, known by their first bytes."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return _media_type(head)


_ISO_BRANDS = {b"M4A ": M4A, b"M4B ": M4A, b"M4P ": M4A, b"qt  ": MOV}


def _media_type(head: bytes) -> FileType | None:
    """Audio and video, known by their containers' signatures."""
    if head[4:8] == b"ftyp":  # ISO base media (MP4, M4A, MOV, 3GP): the major brand says which
        brand = head[8:12]
        if brand in _ISO_BRANDS:
            return _ISO_BRANDS[brand]
        return THREE_GP if brand.startswith(b"3g") else MP4
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"#!AMR"):
        return AMR
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM or Matroska, as its DocType says
        return WEBM if b"webm" in head[:64] else MKV if b"matroska" in head[:64] else None
    if head.startswith(b"ID3") and head[3:4] in (b"\x02", b"\x03", b"\x04"):  # an ID3v2 tag, then MP3 frames
        return MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame
        layer = head[1] & 0x06
        return AAC if layer == 0 else MP3
    return None


def detect_type(stream: BinaryIO, ext: str = "") -> FileType:
    """The file's type from its bytes; raises UploadRefused for anything not accepted.

    `ext` only chooses between the text flavours (txt/csv/tsv), which bytes cannot tell apart.
    """
    head = _head(stream)
    if not head:
        raise UploadRefused("The file is empty.", hint="Choose the file again; it may not have finished saving.")
    signed = _signed_type(head)
    if signed is not None:
        check_hidden_archive(stream, signed.label)
        return signed
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(stream)
    if head.startswith(_EXECUTABLE_MAGIC):
        raise UploadRefused(
            "This file is a program or script, not a document.",
            hint=gettext("Upload your evidence as a document. %(accepted)s", accepted=accepted()),
        )
    return _text_type(stream, head, ext)


@dataclass(frozen=True)
class CheckedUpload:
    filename: str
    file_type: FileType


def check_upload(stream: BinaryIO, original_name: str | None) -> CheckedUpload:
    """Type by content, then a safe name whose extension agrees with that type."""
    name = safe_filename(original_name)
    stem, ext = os.path.splitext(name)
    ext = ext.lower()
    file_type = detect_type(stream, ext)
    if not ext:
        # Through safe_filename again: a name at the length limit must make room for the extension.
        return CheckedUpload(safe_filename(name + file_type.extensions[0]), file_type)
    if ext not in file_type.extensions:
        raise UploadRefused(
            gettext(
                "'%(name)s' is named as a %(ext)s file but its content is a %(kind)s, so it was refused (a file "
                "disguised as another type can be harmful).",
                name=name,
                ext=ext,
                kind=gettext(file_type.label),
            ),
            hint=gettext(
                "If the content is right, rename the file to end in %(ext)s; otherwise upload the real document.",
                ext=file_type.extensions[0],
            ),
        )
    return CheckedUpload(name, file_type)

"""File names as learners' computers send them, made safe to keep, show and send back.

Blobs are stored by hash, so a name never reaches a file system on the server; what must be safe is the
name shown on pages and, above all, the Content-Disposition header of a download, which carries it to the
assessor's computer.
"""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import quote

# Device names Windows will not create a file under, whatever the extension.
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)
_REPLACED = '<>:"|?*;'
# The plain `filename=` fallback keeps to characters no browser or proxy reads specially (no quote,
# backslash, percent sign or semicolon), so it needs no escaping.
_FALLBACK_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-()[]+,")
# RFC 5987 attr-char beyond letters and digits: what may stay unescaped in `filename*`.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _split_extension(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    if len(ext) > 12 or not ext[1:].isalnum():
        return name, ""
    return stem, ext


def _trim(name: str) -> str:
    return name.lstrip(". ").rstrip(". ")


def safe_filename(name: str | None, limit: int = 150) -> str:
    """A readable display name with no path parts, control or direction characters, or traversal.

    NFKC first, so look-alikes (a fullwidth solidus, fullwidth quotes) become the characters they imitate
    and are then removed like them, instead of turning into path separators in a browser's hands.
    """
    name = unicodedata.normalize("NFKC", name or "")
    # Browsers and some clients send full paths (C:\\Users\\..., ../../etc/passwd): keep the last part.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = "".join("_" if ch in _REPLACED else ch for ch in name)
    name = _trim(" ".join(name.split()))
    stem, ext = _split_extension(name)
    if len(name) > limit:
        stem = stem[: max(1, limit - len(ext))].rstrip(". ")
    stem = stem or "file"
    if stem.split(".", 1)[0].strip().lower() in _WINDOWS_RESERVED:
        stem = "_" + stem[: limit - len(ext) - 1]
    return stem + ext.lower()


def ascii_fallback(filename: str) -> str:
    """The name for clients that do not read `filename*`: accents dropped, anything unusual made `_`."""

    def plain(text: str) -> str:
        return "".join(ch if ch in _FALLBACK_CHARS else "_" for ch in text if ch.isascii())

    stem, ext = _split_extension(unicodedata.normalize("NFKD", filename))
    ext = plain(ext)
    return (_trim(plain(stem)) or "file") + (ext if len(ext) > 1 else "")


def content_disposition(filename: str) -> str:
    """`attachment` with both an ASCII `filename` and the exact name as RFC 5987 `filename*` (RFC 6266)."""
    return f"attachment; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"

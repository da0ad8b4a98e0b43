"""Office documents built to hurt: zip bombs (real ones, and ones whose directory lies), nested archives,
overlapping parts, and images or PDFs that are also archives. Built in memory, quickly."""

from __future__ import annotations

import io
import struct
import zipfile

CONTENT_TYPES = (
    '<?xml version="1.0"?><Types><Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_MAIN = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}


def office(extra: dict[str, bytes] | None = None, *, kind: str = "docx", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal Office document with `extra` parts added."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(_MAIN[kind], "<document/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def deflated_zeros(name: str, size: int, *, kind: str = "docx") -> bytes:
    """A document with one part of `size` zero bytes, compressed as tightly as deflate can (about 1,000:1),
    written in pieces so the test never holds the unpacked part."""
    buf = io.BytesIO(office(kind=kind))
    block = bytes(1 << 20)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(name, "w") as part:
            for start in range(0, size, len(block)):
                part.write(block[: min(len(block), size - start)])
    return buf.getvalue()


def _directory(data: bytes) -> tuple[int, int, int]:
    """(start of the central directory, its size, offset of the end record)."""
    end = data.rfind(b"PK\x05\x06")
    size, start = struct.unpack("<II", data[end + 12 : end + 20])
    return start, size, end


def patch_directory(
    data: bytes,
    name: str,
    *,
    file_size: int | None = None,
    compress_size: int | None = None,
    crc: int | None = None,
    flags: int | None = None,
) -> bytes:
    """Rewrites the central directory entry of `name`, as an attacker would (the parts are left alone)."""
    out = bytearray(data)
    pos, _, end = _directory(data)
    while pos < end:
        name_len, extra_len, comment_len = struct.unpack("<HHH", out[pos + 28 : pos + 34])
        if out[pos + 46 : pos + 46 + name_len].decode() == name:
            if flags is not None:
                struct.pack_into("<H", out, pos + 8, flags)
            if crc is not None:
                struct.pack_into("<I", out, pos + 16, crc)
            if compress_size is not None:
                struct.pack_into("<I", out, pos + 20, compress_size)
            if file_size is not None:
                struct.pack_into("<I", out, pos + 24, file_size)
            return bytes(out)
        pos += 46 + name_len + extra_len + comment_len
    raise KeyError(name)


def overlapping(copies: int, part: bytes) -> bytes:
    """One compressed part listed `copies` more times in the directory under other names: the shape of
    Fifield's "better zip bomb", where every entry unpacks the same bytes."""
    name = "word/media/data.bin"
    document = office({name: part})
    start, size, end = _directory(document)
    directory = document[start : start + size]
    entry = directory[directory.rfind(b"PK\x01\x02") :]
    # Names of the same length, so the copied entries stay well-formed.
    extra = b"".join(entry.replace(name.encode(), f"word/media/d{i:03d}.bin".encode()) for i in range(copies))
    record = bytearray(document[end : end + 22])
    count = struct.unpack("<H", record[10:12])[0] + copies
    struct.pack_into("<HHII", record, 8, count, count, size + len(extra), start)
    return document[:start] + directory + extra + bytes(record)


def nested(depth: int, innermost: bytes | None = None) -> bytes:
    """A document embedding a workbook embedding a workbook... `depth` levels of archives inside it."""
    inner = innermost if innermost is not None else office(kind="xlsx")
    for _ in range(depth):
        inner = office({"word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner})
    return inner


def many_parts(count: int) -> bytes:
    return office({f"customXml/item{i}.xml": b"<i/>" for i in range(count)})


def set_entry_count(data: bytes, count: int) -> bytes:
    """The end record claims `count` parts (the directory itself is unchanged)."""
    out = bytearray(data)
    _, _, end = _directory(data)
    struct.pack_into("<HH", out, end + 8, count, count)
    return bytes(out)

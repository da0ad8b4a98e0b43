"""Small catalogues, partners and files built directly with the models, for tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from sqlalchemy import select

from lti_tool.identity.partners import Partner
from lti_tool.launch.models import Deployment, Registration
from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.store.db import db


def make_partner(slug: str, name: str | None = None) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        partner = Partner(slug=slug, name=name or slug.title(), kind="academy")
        db.session.add(partner)
        db.session.flush()
    return partner


def make_certification(
    code: str = "TSTCERT",
    *,
    version: int = 1,
    units: int = 2,
    outcomes: int = 2,
    criteria: int = 2,
    partner_criteria: dict[int, int] | None = None,
) -> Certification:
    """A certification with units U1..Un, outcomes 1.1.., criteria 1.1.1..; `partner_criteria` adds
    {partner_id: count} company-specific criteria to the first outcome."""
    cert = Certification(
        code=code,
        version=version,
        title=f"Test certification {code}",
        isced_level="ED4",
        isced_field="0919",
        credits=units * 5,
        content_hash=f"{code}-{version}".ljust(64, "0"),
    )
    for u in range(1, units + 1):
        unit = Unit(code=f"U{u}", title=f"Unit {u} of {code}", credits=5, position=u)
        for o in range(1, outcomes + 1):
            outcome = Outcome(code=f"{u}.{o}", text=f"Outcome {u}.{o}", position=o)
            for c in range(1, criteria + 1):
                outcome.criteria.append(Criterion(code=f"{u}.{o}.{c}", text=f"Criterion {u}.{o}.{c}", position=c))
            unit.outcomes.append(outcome)
        cert.units.append(unit)
    db.session.add(cert)
    db.session.flush()
    for partner_id, count in (partner_criteria or {}).items():
        for n in range(1, count + 1):
            add_partner_criterion(cert, partner_id, n)
    db.session.commit()
    return cert


def add_partner_criterion(cert: Certification, partner_id: int, n: int = 1) -> Criterion:
    """A company-specific criterion of `partner_id`, in the certification's first outcome."""
    first = cert.units[0].outcomes[0]
    criterion = Criterion(
        code=f"P{partner_id}.{n}", text=f"Company criterion {n}", position=100 + n, partner_id=partner_id
    )
    first.criteria.append(criterion)
    db.session.commit()
    return criterion


def ensure_certification(code: str) -> Certification:
    """The catalogue's certification `code` if another part of the tool already made it (demo data), else
    a small test one."""
    from lti_tool.portfolio.catalogue.queries import latest_certification

    return latest_certification(code) or make_certification(code)


def assign_partner(registration_id: int, partner: Partner, **fields: Any) -> Deployment:
    reg = db.session.get(Registration, registration_id)
    dep = reg.deployments[0]
    dep.partner = partner
    for key, value in fields.items():
        setattr(dep, key, value)
    db.session.commit()
    return dep


# --- file contents ---

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
TEXT = b"Reflective account: I reviewed the central monitoring report and escalated two sites.\n"


def ooxml(kind: str = "docx", *, macros: bool = False) -> bytes:
    main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}[kind]
    main_type = "ms-word.document.macroEnabled.main+xml" if macros else "openxmlformats-officedocument.main+xml"
    content_types = (
        f'<?xml version="1.0"?><Types><Override PartName="/x" ContentType="application/vnd.{main_type}"/></Types>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(main, "<document/>")
        if macros:
            z.writestr("word/vbaProject.bin", b"\x00" * 10)
    return buf.getvalue()


def odf(media_type: str = "application/vnd.oasis.opendocument.text") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), media_type, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content/>")
    return buf.getvalue()


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "hello")
    return buf.getvalue()

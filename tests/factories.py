"""Small catalogues, partners and files built directly with the models, for tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

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
    version: int | None = 1,
    existing: bool = False,
    title: str = "Test certification {code}",
    isced_level: str = "ED4",
    credits: int | None = None,
    units: int | Sequence[str] | Sequence[tuple[str, str, int]] = 2,
    outcomes: int = 2,
    criteria: int = 2,
    unit_title: str = "Unit {n} of {code}",
    outcome_code: str = "{n}.{o}",
    outcome_text: str = "Outcome {n}.{o}",
    criterion_code: str = "{n}.{o}.{c}",
    criterion_text: str = "Criterion {n}.{o}.{c}",
    first_position: int = 1,
    partner_criteria: dict[int, int] | None = None,
    commit: bool = True,
    **fields: Any,
) -> Certification:
    """The tests' one certification builder (the helper modules' certification factories are presets of it).

    By default: units U1..Un, outcomes 1.1.., criteria 1.1.1.., committed. `units` is a count, unit codes, or
    (code, title, credits) triples; `credits` defaults to 5 a unit, and units given by count or code share it.
    Titles, codes and texts are format strings over {code} (the certification's), {unit} (the unit's code) and
    {n}, {o}, {c} (unit, outcome and criterion numbers, from 1); positions count from `first_position`.
    `version=None` makes the version after any already stored (the demo catalogue's, say); `existing=True`
    returns `code` `version` when it is already stored. `commit=False` only flushes. `partner_criteria` adds
    {partner_id: count} company-specific criteria to the first outcome. Other Certification columns: `fields`.
    """
    if version is None:
        stored = db.session.scalar(select(func.max(Certification.version)).where(Certification.code == code))
        version = (stored or 0) + 1
    elif existing:
        found = db.session.scalar(
            select(Certification).where(Certification.code == code, Certification.version == version)
        )
        if found is not None:
            return found
    specs = [f"U{u}" for u in range(1, units + 1)] if isinstance(units, int) else list(units)
    total = credits if credits is not None else 5 * len(specs)
    cert = Certification(
        code=code,
        version=version,
        title=title.format(code=code),
        isced_level=isced_level,
        isced_field="0919",
        credits=total,
        content_hash=f"{code}-{version}".ljust(64, "0"),
        **fields,
    )
    for n, spec in enumerate(specs, start=1):
        unit_code, unit_name, unit_credits = (
            spec
            if isinstance(spec, tuple)
            else (spec, unit_title.format(code=code, unit=spec, n=n), total // max(len(specs), 1))
        )
        unit = Unit(code=unit_code, title=unit_name, credits=unit_credits, position=n - 1 + first_position)
        for o in range(1, outcomes + 1):
            names = {"code": code, "unit": unit_code, "n": n, "o": o}
            outcome = Outcome(
                code=outcome_code.format(**names), text=outcome_text.format(**names), position=o - 1 + first_position
            )
            for c in range(1, criteria + 1):
                outcome.criteria.append(
                    Criterion(
                        code=criterion_code.format(**names, c=c),
                        text=criterion_text.format(**names, c=c),
                        position=c - 1 + first_position,
                    )
                )
            unit.outcomes.append(outcome)
        cert.units.append(unit)
    db.session.add(cert)
    db.session.flush()
    for partner_id, count in (partner_criteria or {}).items():
        for i in range(1, count + 1):
            add_partner_criterion(cert, partner_id, i)
    if commit:
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


# Archives are built with a fixed time on every part: their bytes appear in parametrized test ids, and each
# xdist worker collects on its own, so a part stamped with the current second could name a test differently on
# two workers ("Different tests were collected").
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def _part(name: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(name, date_time=_ZIP_TIME)


def ooxml(kind: str = "docx", *, macros: bool = False) -> bytes:
    main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}[kind]
    main_type = "ms-word.document.macroEnabled.main+xml" if macros else "openxmlformats-officedocument.main+xml"
    content_types = (
        f'<?xml version="1.0"?><Types><Override PartName="/x" ContentType="application/vnd.{main_type}"/></Types>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(_part("[Content_Types].xml"), content_types)
        z.writestr(_part("_rels/.rels"), "<Relationships/>")
        z.writestr(_part(main), "<document/>")
        if macros:
            z.writestr(_part("word/vbaProject.bin"), b"\x00" * 10)
    return buf.getvalue()


def odf(media_type: str = "application/vnd.oasis.opendocument.text") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(_part("mimetype"), media_type, compress_type=zipfile.ZIP_STORED)
        z.writestr(_part("content.xml"), "<office:document-content/>")
    return buf.getvalue()


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(_part("notes.txt"), "hello")
    return buf.getvalue()

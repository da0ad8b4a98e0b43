"""An EQA pack's human-readable files (the PDF summary of each portfolio, README.txt) are written in the language
of the person who asked for it, recorded on the pack job when they asked (issue 21); an operator's pack from the
command line is English. The machine-readable files (manifest, record.json) are the same in every language."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import zipfile
from pathlib import Path

from babel.dates import format_date
from pypdf import PdfReader
from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.eqa import jobs
from lti_tool.eqa import manifest as mf
from lti_tool.eqa.models import READY, PackJob
from lti_tool.store.db import db
from tests import assessment_factories as af
from tests.eqa_helpers import eqa_world


def _pdf_text(zf: zipfile.ZipFile, name: str) -> str:
    reader = PdfReader(io.BytesIO(zf.read(name)))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_a_pack_asked_for_in_spanish_is_written_in_spanish(sqlite_app):
    world = eqa_world()
    p = world.w.portfolio
    world.eqa.locale = "es-ES"  # the LMS launched the EQA in Spanish
    db.session.commit()
    client = sqlite_app.test_client()
    sess = af.sign_in(client, world.eqa)
    resp = client.post(f"/eqa/portfolios/{p.id}/pack", data={"csrf_token": sess.csrf_token})
    assert resp.status_code == 303
    job = db.session.scalar(select(PackJob).order_by(PackJob.id.desc()))
    assert job.language == "es"
    # Not built yet: the refusal says the pack's state in Spanish, inside the sentence.
    early = client.get(f"/eqa/packs/{job.id}/download")
    assert early.status_code == 409
    assert "Este paquete no está listo: pendiente de crear." in html.unescape(early.get_data(as_text=True))
    # The page's flash had the pack's number.
    assert f"Se está preparando el paquete {job.id}" in client.get("/eqa/packs").get_data(as_text=True)

    assert jobs.process_queue("test") == 1
    db.session.refresh(job)
    assert job.state == READY, job.error
    with zipfile.ZipFile(Path(job.file_path)) as zf:
        text = _pdf_text(zf, f"portfolio-{p.id}/summary.pdf")
        readme = zf.read("README.txt").decode()
        record = json.loads(zf.read(f"portfolio-{p.id}/record.json"))
    for spanish in (
        "Expediente del portafolio: Lee Learner",
        "Aprendiz",
        f"CMIACR versión {p.certification.version}",
        "Entidad asociada",
        "Unidad U1",
        "Cumplido (Sam Assessor,",  # a judgement: the word and the date in Spanish
        "Decisión: Competente, de Sam Assessor",
        "Verificación",
        "1: interna",
        "Apelaciones",
        "Concesión y credencial",
        "Registro de auditoría",
        "Página 1",
    ):
        assert spanish in text, spanish
    for english in ("Portfolio record", "Learner's note", "Award and credential", "Appeals", " version "):
        assert english not in text, english
    # Dates by Babel in Spanish ("7 de diciembre de 2026, 06:12 UTC"): the decisions were made today.
    assert re.search(r"\d{1,2} de [a-záéíóú]+ de \d{4}, \d\d:\d\d UTC", text), text[:600]
    assert format_date(dt.datetime.now(dt.UTC).date(), format="long", locale="es") in text
    assert readme.startswith("Paquete de portafolios para la garantía externa de calidad")
    assert "lti-tool pack verify ESTE.zip" in readme
    # The data files are the same in every language: codes and keys, not words.
    assert record["state"] == "awarded" and record["attempts"][0]["decisions"][0]["decision"] == "competent"
    assert mf.verify(Path(job.file_path)).ok


def test_an_operators_pack_is_english(sqlite_app):
    world = eqa_world()
    job = jobs.request_pack(Actor(label="operator", role="operator"), [world.w.portfolio.id], kind="portfolio")
    db.session.commit()
    assert job.language == ""
    assert jobs.claim_next("test") == job.id
    job = jobs.build(job.id, "test")
    assert job.state == READY, job.error
    with zipfile.ZipFile(Path(job.file_path)) as zf:
        text = _pdf_text(zf, f"portfolio-{world.w.portfolio.id}/summary.pdf")
        readme = zf.read("README.txt").decode()
    assert "Portfolio record: Lee Learner" in text and "Award and credential" in text and "Page 1" in text
    assert re.search(r"\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC", text)
    assert readme.startswith("Portfolio pack for external quality assurance")

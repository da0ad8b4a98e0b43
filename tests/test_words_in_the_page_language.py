"""Words a page's script writes, and the catalogue's words on the learner's pages, in the page's language.

The evidence form's and the judging page's counts were rewritten by their scripts in English ("(3 of 6
ticked)", "Judged 1 of 38") over the server's Spanish; the scripts now take every form of each count from the
page (data-counts: the words for 0, 1, 2... written by the server), and the autosave statuses from data
attributes. The learner's evidence form, submit and submission pages showed the catalogue's English where the
portfolio page shows its Spanish. The staff evidence panel wrote ISO dates, Jinja's "1.2 kB" sizes and "1
criteria"; its empty viewer stood as a tall blank box.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

from flask import render_template_string
from flask_babel import force_locale

from lti_tool.demo_platform import people
from lti_tool.identity.partners import find_partner
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.store.db import db
from tests import assessment_factories as af
from tests import factories as f
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser

STATIC = Path(__file__).resolve().parent.parent / "lti_tool" / "static"
ES = {"Accept-Language": "es"}
EN = {"Accept-Language": "en"}


def _counts(page: str, marker: str) -> list[list[str]]:
    """The data-counts lists of the elements carrying `marker`, in page order."""
    found = re.findall(marker + r" data-counts='([^']*)'", page)
    return [json.loads(html.unescape(raw)) for raw in found]


def _ada_with_cmiacr(app, jwks_server) -> tuple[Browser, object]:
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, find_partner(people.PARTNER_SLUG))
    ada = Browser(app, platform, "ada", custom={"certification": "CMIACR", "route": "training"})
    portfolio = ada.start()
    return ada, portfolio


def test_the_scripts_write_no_english_of_their_own() -> None:
    """No string in them is a phrase (the comments aside): every word they show comes from the page."""
    for name in ("learner.js", "staff_judging.js", "evidence_viewer.js"):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", (STATIC / name).read_text(), flags=re.DOTALL)
        literals = re.findall(r'"([^"\\\n]*)"', code)
        # A zone's name is the same in every language; selectors are not words.
        spoken = [
            text for text in literals if text not in ("use strict", " UTC") and "[" not in text and text[:1] not in ".#"
        ]
        phrases = [text for text in spoken if " " in text and re.search("[a-z]", text)]
        assert literals and not phrases, (name, phrases)


def test_the_evidence_form_in_spanish(app, shipped_catalogue, jwks_server) -> None:
    ada, portfolio = _ada_with_cmiacr(app, jwks_server)
    cert = latest_certification("CMIACR")
    spanish = cert.translations["es"]
    unit = cert.units[0]
    first = unit.outcomes[0].criteria[0]
    total = sum(len(o.criteria) for o in unit.outcomes)
    url = f"/portfolio/{portfolio.id}/evidence/new?criterion={first.id}"

    page = ada.get(url, headers=ES).data.decode()
    # The catalogue's words in Spanish, as on the portfolio page.
    assert f"Unidad {unit.code}: {spanish['units'][unit.code]}" in page
    assert spanish["outcomes"][unit.outcomes[0].code] in page
    assert spanish["criteria"][first.code] in page
    assert unit.title not in page and first.text not in page
    assert "ahora: sin evidencias todavía" in page and "no evidence yet" not in page
    # Every form of the unit's count, in Spanish, singular and plural; the one shown is the server's.
    forms = _counts(page, "data-chosen-count")[0]
    assert len(forms) == total + 1
    assert forms[0] == f"(0 de {total} marcados)"
    assert forms[1] == f"(1 de {total} marcado)"
    assert forms[2] == f"(2 de {total} marcados)"
    assert f">(1 de {total} marcado)</span>" in page
    matches = _counts(page, 'aria-live="polite"')[0]
    assert matches[1] == "1 criterio coincide." and matches[3] == "3 criterios coinciden."

    english = ada.get(url, headers=EN).data.decode()
    assert f"Unit {unit.code}: {unit.title}" in english and first.text in english
    assert _counts(english, "data-chosen-count")[0][1] == f"(1 of {total} ticked)"
    assert _counts(english, 'aria-live="polite"')[0][1] == "1 criterion matches."


def test_submit_and_submission_pages_in_spanish(app, shipped_catalogue, jwks_server) -> None:
    ada, portfolio = _ada_with_cmiacr(app, jwks_server)
    cert = latest_certification("CMIACR")
    spanish = cert.translations["es"]
    criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
    resp = ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=[criteria[0].id], evidence_date="2026-11-20")
    assert resp.status_code == 303, resp.data
    last_unit = cert.units[-1]
    missing = last_unit.outcomes[0].criteria[0]

    page = ada.get(f"/portfolio/{portfolio.id}/submit", headers=ES).data.decode()
    assert f"<strong>{spanish['title']}</strong>" in page and cert.title not in page
    assert f"Unidad {last_unit.code}: {spanish['units'][last_unit.code]}" in page
    assert spanish["criteria"][missing.code] in page and missing.text not in page

    assert ada.submit(portfolio.id, 1).status_code == 303
    page = ada.get(f"/portfolio/{portfolio.id}/submissions/1", headers=ES).data.decode()
    assert spanish["title"] in page and cert.title not in page
    assert spanish["criteria"][criteria[0].code] in page and criteria[0].text not in page
    assert '<time datetime="2026-11-20">20 de noviembre de 2026</time>' in page
    assert "· 2026-11-20" not in page
    english = ada.get(f"/portfolio/{portfolio.id}/submissions/1", headers=EN).data.decode()
    assert "20 November 2026" in english and criteria[0].text in english


def _assessor_page(client, single_criterion: bool = True):
    w = af.world(submitted=False)
    items = w.portfolio.evidence
    items[0].evidence_date = dt.date(2026, 11, 20)
    if single_criterion:
        items[0].criteria = items[0].criteria[:1]
    db.session.flush()
    af.submit(w.portfolio)
    db.session.commit()
    af.sign_in(client, w.assessor)
    return w, f"/staff/portfolios/{w.portfolio.id}/assess"


def test_the_judging_page_counts_and_statuses_in_spanish(app, client) -> None:
    w, url = _assessor_page(client)
    total = len(w.criteria_ids())
    page = client.get(url, headers=ES).data.decode()
    judged = _counts(page, "data-judged-count")[0]
    assert len(judged) == total + 1
    assert judged[0] == f"Valorados 0 de {total}" and judged[1] == f"Valorado 1 de {total}"
    assert f">Valorados 0 de {total}</span>" in page
    per_unit = _counts(page, "data-unit-count")
    assert per_unit and per_unit[0][1].startswith("1 de ") and per_unit[0][1].endswith(" valorado")
    assert per_unit[0][2].endswith(" valorados")
    assert 'data-saved="Borrador guardado a las %s."' in page
    assert 'data-refused="Aún no se ha guardado: use «Guardar borrador» para ver el motivo."' in page
    assert 'data-failed="No se ha guardado: falló la conexión."' in page

    english = client.get(url, headers=EN).data.decode()
    assert _counts(english, "data-judged-count")[0][1] == f"Judged 1 of {total}"
    assert 'data-saved="Draft saved at %s."' in english


def test_the_evidence_panel_dates_sizes_and_criteria_counts(app, client) -> None:
    _, url = _assessor_page(client)
    page = client.get(url, headers=ES).data.decode()
    # The tool's date format, not ISO; the learner pages' sizes; one criterion in the singular.
    assert '· <time datetime="2026-11-20">20 de noviembre de 2026</time>' in page
    assert "· 2026-11-20" not in page
    assert "1 KB" in page and "kB" not in page and "Bytes" not in page
    assert "· 1 criterio</p>" in page and "· 4 criterios</p>" in page
    english = client.get(url, headers=EN).data.decode()
    assert "20 November 2026" in english
    assert "· 1 criterion</p>" in english and "· 4 criteria</p>" in english and "1 criteria" not in english


def test_the_evidence_viewer_says_what_it_is_for(app, client) -> None:
    """A PDF can be shown inside the tool: the viewer comes with a hint and the script that keeps it out of
    the way until a file is chosen (tests/browser/test_browser_staff_judging.py shows a file in it)."""
    _, url = _assessor_page(client)
    page = client.get(url, headers=ES).data.decode()
    assert 'target="evidence-viewer"' in page
    assert "Elija «Ver» junto a un archivo para verlo aquí." in page
    assert "data-evidence-viewer" in page and "evidence_viewer.js" in page
    script = (STATIC / "evidence_viewer.js").read_text()
    assert "viewer.hidden = true" in script and "viewer.hidden = false" in script


def test_when_reads_a_calendar_date_kept_as_text(app) -> None:
    with app.test_request_context():
        assert render_template_string("{{ '2026-11-20' | when }}") == (
            '<time datetime="2026-11-20">20 November 2026</time>'
        )
        with force_locale("es"):
            assert "20 de noviembre de 2026" in render_template_string("{{ d | when }}", d="2026-11-20")
        assert render_template_string("{{ '' | when }}") == ""
        assert render_template_string("{{ 'soon <b>' | when }}") == "soon &lt;b&gt;"

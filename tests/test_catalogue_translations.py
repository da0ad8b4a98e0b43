"""Catalogue content in other languages (issue 21): a file's [translations.<language>] tables are checked to
cover exactly the same items as the certification, imported with it, and shown in the page's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale

from lti_tool.portfolio.catalogue.importer import (
    CatalogueInvalid,
    certification_data,
    content_hash,
    import_catalogue,
)
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.store.db import db
from tests.catalogue_samples import SAMPLE, write_sample

SPANISH = '''
[translations.es]
title = "Monitor central de prueba"
description = """Primer párrafo.

Segundo párrafo."""

[translations.es.units]
U1 = "Gestión de la calidad basada en el riesgo"
U2 = "Comunicar los hallazgos"

[translations.es.outcomes]
"U1.1" = "Identificar los factores críticos para la calidad."
"U1.2" = "Definir los límites de tolerancia de la calidad."
"U2.1" = "Escalar los hallazgos."

[translations.es.criteria]
"U1.1.1" = "El aprendiz es capaz de identificar los factores críticos para la calidad de un protocolo."
"U1.1.2" = "El aprendiz es capaz de contribuir a una evaluación de riesgos."
"U1.2.1" = "El aprendiz es capaz de proponer límites de tolerancia de la calidad con una justificación."
"U2.1.1" = "El aprendiz es capaz de escalar un hallazgo en los plazos definidos."
'''


def _write(tmp_path: Path, extra: str) -> Path:
    return write_sample(tmp_path / "catalogue", text=SAMPLE + extra)


def test_a_translated_file_is_imported_with_its_translations(sqlite_app: Flask, tmp_path: Path) -> None:
    import_catalogue([_write(tmp_path, SPANISH)])
    db.session.commit()
    cert = latest_certification("TESTCM")
    assert cert.translations["es"]["title"] == "Monitor central de prueba"
    assert cert.translations["es"]["criteria"]["U2.1.1"].startswith("El aprendiz es capaz de escalar")
    # The stored version still hashes to its content_hash (translations are part of the content).
    assert content_hash(certification_data(cert)) == cert.content_hash
    # Importing it again is a no-op; a file without translations keeps the hash it always had.
    assert import_catalogue([_write(tmp_path, SPANISH)])[0].status == "unchanged"


def test_a_file_without_translations_keeps_its_old_hash(sqlite_app: Flask, tmp_path: Path) -> None:
    import_catalogue([write_sample(tmp_path / "catalogue")])
    cert = latest_certification("TESTCM")
    assert cert.translations is None
    assert "translations" not in certification_data(cert)


def test_pages_show_the_translation_in_the_page_language(sqlite_app: Flask, tmp_path: Path) -> None:
    import_catalogue([_write(tmp_path, SPANISH)])
    db.session.commit()
    cert = latest_certification("TESTCM")
    unit = cert.units[0]
    outcome = unit.outcomes[0]
    criterion = outcome.criteria[0]
    page = (
        "{{ localized(c) }} | {{ localized(u) }} | {{ localized(o) }} | {{ localized(k) }}"
        " | {{ localized(c, 'description') }}"
    )
    with sqlite_app.test_request_context():
        english = render_template_string(page, c=cert, u=unit, o=outcome, k=criterion)
        with force_locale("es"):
            spanish = render_template_string(page, c=cert, u=unit, o=outcome, k=criterion)
    assert english.startswith("Test Central Monitor | Risk-based quality management | Identify critical")
    assert spanish.startswith("Monitor central de prueba | Gestión de la calidad basada en el riesgo | Identificar")
    assert "El aprendiz es capaz de identificar" in spanish and "Segundo párrafo." in spanish


def test_a_language_without_translation_shows_the_catalogue_words(sqlite_app: Flask, tmp_path: Path) -> None:
    import_catalogue([write_sample(tmp_path / "catalogue")])
    cert = latest_certification("TESTCM")
    with sqlite_app.test_request_context(), force_locale("es"):
        assert render_template_string("{{ localized(c) }}", c=cert) == "Test Central Monitor"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('"U2.1.1" = "El aprendiz es capaz de escalar un hallazgo en los plazos definidos."', "missing U2.1.1"),
        ('U2 = "Comunicar los hallazgos"', "missing U2"),
        ('"U2.1" = "Escalar los hallazgos."', "missing U2.1"),
    ],
)
def test_a_translation_must_cover_every_item(sqlite_app: Flask, tmp_path: Path, change: str, expected: str) -> None:
    text = SPANISH.replace(change + "\n", "")
    assert text != SPANISH
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue([_write(tmp_path, text)])
    assert expected in caught.value.message and "translations.es" in caught.value.message
    assert latest_certification("TESTCM") is None  # nothing imported


def test_a_translation_naming_unknown_items_or_leaving_out_the_title_is_refused(
    sqlite_app: Flask, tmp_path: Path
) -> None:
    text = SPANISH.replace('U2 = "Comunicar los hallazgos"', 'U2 = "Comunicar"\nU9 = "Otra"')
    text = text.replace('title = "Monitor central de prueba"\n', "").replace(
        "[translations.es]", "[translations.es]\ntone = 1"
    )
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue([_write(tmp_path, text)])
    message = caught.value.message
    assert "translations.es.units: names unit codes the certification does not have: U9" in message
    assert "translations.es.title: is missing or empty" in message
    assert "translations.es.tone: unknown field" in message
    with pytest.raises(CatalogueInvalid) as caught:
        import_catalogue([_write(tmp_path, SPANISH.replace("[translations.es]", "[translations.Spanish]"))])
    assert "'Spanish' is not a language code" in caught.value.message


def test_coverage_views_are_translated_given_their_certification(sqlite_app: Flask, tmp_path: Path) -> None:
    from lti_tool.portfolio.coverage import CriterionCoverage, OutcomeCoverage, UnitCoverage

    import_catalogue([_write(tmp_path, SPANISH)])
    cert = latest_certification("TESTCM")
    unit = UnitCoverage(code="U2", title="Communicating findings")
    outcome = OutcomeCoverage(code="U2.1", text="Escalate findings.")
    criterion = CriterionCoverage(1, "U2.1.1", "The learner can escalate", False, "none", 0)
    own = CriterionCoverage(2, "ACME.1", "The learner can use Acme's tool", True, "none", 0)
    page = " | ".join("{{ localized(" + name + ", cert=c) }}" for name in "uokp")
    with sqlite_app.test_request_context(), force_locale("es"):
        shown = render_template_string(page, u=unit, o=outcome, k=criterion, p=own, c=cert)
    assert shown.startswith("Comunicar los hallazgos | Escalar los hallazgos. | El aprendiz es capaz de escalar")
    assert shown.endswith("The learner can use Acme&#39;s tool")  # a partner's own words stay theirs


# -------------------------------------------------------------------------------- the shipped catalogue

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "catalogue"


@pytest.mark.parametrize("code", ["CMIACR", "CRAIACR"])
def test_the_shipped_files_carry_a_complete_spanish_translation(sqlite_app: Flask, code: str) -> None:
    """Both shipped certifications import with Spanish for their title, description and every unit, outcome
    and criterion (the import itself refuses a partial one); criteria keep one formula."""
    import_catalogue([SHIPPED])
    db.session.commit()
    cert = latest_certification(code)
    assert cert is not None
    spanish = (cert.translations or {})["es"]
    units = cert.units
    outcomes = [o for u in units for o in u.outcomes]
    criteria = [k for o in outcomes for k in o.criteria]
    assert set(spanish["units"]) == {u.code for u in units}
    assert set(spanish["outcomes"]) == {o.code for o in outcomes}
    assert set(spanish["criteria"]) == {k.code for k in criteria}
    assert spanish["title"] and spanish["description"]
    assert all(text.startswith("El aprendiz es capaz de ") for text in spanish["criteria"].values())
    assert all(spanish["criteria"][k.code] != k.text for k in criteria)
    with sqlite_app.test_request_context(), force_locale("es"):
        shown = render_template_string(
            "{{ localized(c) }} | {{ localized(u) }} | {{ localized(k) }}", c=cert, u=units[0], k=criteria[0]
        )
    assert shown == f"{spanish['title']} | {spanish['units'][units[0].code]} | {spanish['criteria'][criteria[0].code]}"


def test_the_spanish_portfolio_page_shows_the_shipped_criteria_in_spanish(
    sqlite_app: Flask, shipped_catalogue: None, jwks_server
) -> None:
    """A learner's CMIACR portfolio page in Spanish lists the criteria in Spanish; in English, the catalogue's
    own words."""
    from lti_tool.demo_platform import people
    from lti_tool.identity.partners import find_partner
    from tests import factories as f
    from tests.lti_helpers import TestPlatform
    from tests.portfolio_helpers import Browser

    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, find_partner(people.PARTNER_SLUG))
    ada = Browser(sqlite_app, platform, "ada", custom={"certification": "CMIACR", "route": "training"})
    ada.start()
    page = f"/portfolio/{ada.portfolio().id}"
    spanish = ada.client.get(page, headers={"Accept-Language": "es"}).data.decode()
    english = ada.client.get(page, headers={"Accept-Language": "en"}).data.decode()
    assert "<h1>Monitor central de investigación clínica cualificado" in spanish
    assert "El aprendiz es capaz de proponer límites de tolerancia de calidad para parámetros críticos" in spanish
    assert "The learner can propose quality tolerance limits" not in spanish
    assert "The learner can propose quality tolerance limits" in english
    assert "El aprendiz es capaz de" not in english

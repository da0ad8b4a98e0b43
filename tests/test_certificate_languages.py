"""The certificate's pages in the reader's language: the public verification page (status, date, ISCED level
and field, credit note), the printed certificate and award page (the catalogue's translated titles), dates
in the tool's one format on the admin and staff pages; the signed credential stays in English whatever
the language of the page that issued it."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from lti_tool.credentials import content
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.revocation import revoke
from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from tests.credential_helpers import award_through_workflow, certification
from tests.lti_helpers import demo_launch

NUMBER = "CMIACR-2026-000001"
AWARDED = dt.date(2026, 12, 7)
SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}
CREDIT_NOTE_EN = (
    "Credits are learning credits: 1 credit = 10 notional learning hours (not a semester or quarter credit "
    "hour). 1 notional learning hour = 1 CPD point = 1 CPE point."
)
CREDIT_NOTE_ES = (
    "Los créditos son créditos de aprendizaje: 1 crédito = 10 horas nominales de aprendizaje (no una "
    "hora-crédito semestral ni trimestral). 1 hora nominal de aprendizaje = 1 punto de DPC = 1 punto de CPE."
)
TITLE_ES = "Monitor central de investigación clínica cualificado"
UNITS_ES = {"CM1": "Monitorización basada en riesgos", "CM2": "Revisión de datos y detección de señales"}


@pytest.fixture
def client(sqlite_app):
    return sqlite_app.test_client()


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


def _translated_certification():
    cert = certification()
    cert.translations = {"es": {"title": TITLE_ES, "units": UNITS_ES, "outcomes": {}, "criteria": {}}}
    db.session.flush()
    return cert


def _launched(client, sub: str, *, locale: str = "es", admin: bool = False):
    assert demo_launch(client, sub).status_code == 303
    user = _user(sub)
    user.locale = locale  # the launch's locale claim decides the page's language for a signed-in person
    if admin:
        db.session.add(StaffGrant(user_id=user.id, role=TOOL_ADMIN, granted_by="test"))
    db.session.commit()
    return user


def test_the_verification_page_in_spanish(client):
    award_through_workflow(number=NUMBER, awarded_on=AWARDED, cert=_translated_certification())
    html = client.get(f"/verify/{NUMBER}", headers=SPANISH).get_data(as_text=True)
    assert "Válido: este certificado se concedió y no ha sido revocado." in html
    assert '<time datetime="2026-12-07">7 de diciembre de 2026</time> (válido de por vida)' in html
    assert (
        "CINE 2011 nivel 5: Educación terciaria de ciclo corto; CINE-F 2013 0919 Salud no clasificada en otra parte"
        in html
    )
    assert CREDIT_NOTE_ES in html and TITLE_ES in html
    for english in ("Valid: this", "Short-cycle", "Health not", "Credits are learning", "2026-12-07 (", "ISCED"):
        assert english not in html, english


def test_the_verification_page_in_english_and_its_json_stay_as_they_were(client):
    award_through_workflow(number=NUMBER, awarded_on=AWARDED, cert=_translated_certification())
    html = client.get(f"/verify/{NUMBER}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Valid: this certificate was awarded and has not been revoked." in html
    assert '<time datetime="2026-12-07">7 December 2026</time> (valid for life)' in html
    assert (
        "ISCED 2011 level 5: Short-cycle tertiary education; ISCED-F 2013 0919 Health not elsewhere classified" in html
    )
    assert CREDIT_NOTE_EN in html
    # Software reads the JSON: English and ISO dates, whatever language the reader's browser asks for.
    body = client.get(f"/verify/{NUMBER}.json", headers=SPANISH).get_json()
    assert body["status_text"] == "Valid: this certificate was awarded and has not been revoked."
    assert body["awarded_on"] == "2026-12-07" and body["credit_note"] == CREDIT_NOTE_EN
    assert body["certification"]["title"] == "Qualified Clinical Research Central Monitor"
    assert body["certification"]["isced_level"] == "ISCED 2011 level 5: Short-cycle tertiary education"


def test_a_revoked_certificate_in_spanish(client):
    award = award_through_workflow(number=NUMBER, awarded_on=AWARDED)
    revoke(award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    html = client.get(f"/verify/{NUMBER}", headers=SPANISH).get_data(as_text=True)
    assert "Revocado: este certificado ya no es válido." in html
    assert award.revoked_at.date().isoformat() + " " not in html and "Revoked:" not in html


def test_the_signed_credential_is_english_whatever_the_page_language(app):
    with app.test_request_context("/", headers=SPANISH), force_locale("es"):
        award = award_through_workflow(number=NUMBER, awarded_on=AWARDED, cert=_translated_certification())
        credential = credential_for(award).credential
        achievement = content.achievement(award.portfolio.certification)
        assert content.page_credit_note() == CREDIT_NOTE_ES  # the pages of this request would be Spanish
    assert credential["description"].endswith(
        "awarded for life by " + app.config["ISSUER_NAME"] + ". " + CREDIT_NOTE_EN
    )
    assert credential["name"] == "Qualified Clinical Research Central Monitor (TESTCM)"
    subject = credential["credentialSubject"]["achievement"]
    assert subject["description"].endswith("\n\n" + CREDIT_NOTE_EN) and subject["inLanguage"] == "en"
    assert subject["fieldOfStudy"] == "ISCED-F 2013 0919 Health not elsewhere classified"
    targets = {a.get("targetCode"): a["targetName"] for a in subject["alignment"]}
    assert targets["ED5"] == "ISCED 2011 level 5: Short-cycle tertiary education"
    assert targets["CM1"] == "Risk-based monitoring"
    # The achievement document (served at its id) is the one inside the credential, word for word, and the
    # same as one written outside any request.
    assert achievement == subject == content.achievement(award.portfolio.certification)


def test_the_printed_certificate_and_award_page_in_spanish(client):
    ada = _launched(client, "demo-learner-ada")
    award_through_workflow(user=ada, number=NUMBER, awarded_on=AWARDED, cert=_translated_certification())
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    assert f'<p class="qualification">{TITLE_ES}</p>' in html
    for code, title in UNITS_ES.items():
        assert f"<td>{code}</td><td>{title}</td>" in html
    assert CREDIT_NOTE_ES in html and "7 de diciembre de 2026" in html
    for english in ("Qualified Clinical Research", "Risk-based monitoring", "Credits are learning"):
        assert english not in html, english
    award_page = client.get(f"/awards/{NUMBER}").get_data(as_text=True)
    assert f"<h1>{TITLE_ES}</h1>" in award_page and "Qualified Clinical Research" not in award_page
    mine = client.get("/awards").get_data(as_text=True)
    assert TITLE_ES in mine and "Qualified Clinical Research" not in mine


def test_the_printed_certificate_in_english_keeps_the_catalogue_words(client):
    ada = _launched(client, "demo-learner-ada", locale="en-GB")
    award_through_workflow(user=ada, number=NUMBER, awarded_on=AWARDED, cert=_translated_certification())
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    assert '<p class="qualification">Qualified Clinical Research Central Monitor</p>' in html
    assert "<td>CM1</td><td>Risk-based monitoring</td>" in html and CREDIT_NOTE_EN in html


@pytest.mark.parametrize(
    ("locale", "awarded", "revoked"),
    [("es", "7 de diciembre de 2026", "Revocado el "), ("en-GB", "7 December 2026", "Revoked")],
)
def test_admin_and_staff_pages_write_dates_in_the_tools_format(client, locale, awarded, revoked):
    _launched(client, "demo-admin-alex", locale=locale, admin=True)
    award = award_through_workflow(number=NUMBER, awarded_on=AWARDED)
    revoke(award, "Awarded in error by the centre", actor_label="test")
    db.session.commit()
    revoked_on = award.revoked_at.date()
    pages = {
        "list": client.get("/admin/credentials").get_data(as_text=True),
        "award": client.get(f"/admin/credentials/{NUMBER}").get_data(as_text=True),
        "staff record": client.get(f"/staff/portfolios/{award.portfolio_id}").get_data(as_text=True),
    }
    for name, html in pages.items():
        assert f'<time datetime="2026-12-07">{awarded}</time>' in html, name
        assert ">2026-12-07<" not in html and "2026-12-07," not in html, name
    for name in ("list", "award"):
        assert revoked in pages[name] and f'<time datetime="{revoked_on.isoformat()}T' in pages[name], name
        assert f">{revoked_on.isoformat()}<" not in pages[name], name
    issued = credential_for(award)
    assert f'<time datetime="{issued.issued_at:%Y-%m-%dT%H:%M}' in pages["award"]

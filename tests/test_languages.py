"""Many languages (issue 21): which language a page is in (the switch > the launch's locale claim >
Accept-Language > English), the switch kept with the tool session (by token too, without cookies), Spanish
pages, plurals, and dates in the chosen locale and the person's time zone."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest
from flask import render_template_string
from flask_babel import force_locale
from sqlalchemy import select

from lti_tool.launch.language import PSEUDO, match
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from lti_tool.web.dates import when
from tests import factories as f
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser
from tests.registration_helpers import launch_as

PAGE = "/notifications/"
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]")


@pytest.fixture
def client(sqlite_app):
    return sqlite_app.test_client()


def _fresh() -> None:
    """Each real request has its own database session; the tests share one app context across requests,
    so rows a request changed by another connection (the page data, page_messages.py) are read again."""
    db.session.expire_all()


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)" dir="(ltr|rtl)"', html)
    assert found, html[:300]
    return found.group(1)


def _set_claimed_locale(sub: str, locale: str) -> None:
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))
    user.locale = locale
    db.session.commit()


def test_the_launch_claim_wins_over_the_browser(client):
    launch_as(client, "demo-learner-ada")  # the demo LMS launches Ada in en-GB
    html = client.get(PAGE, headers={"Accept-Language": "es-ES,es;q=0.9"}).data.decode()
    assert _lang(html) == "en-GB"
    _set_claimed_locale("demo-learner-ada", "es-MX")
    html = client.get(PAGE, headers={"Accept-Language": "en"}).data.decode()
    assert _lang(html) == "es"
    assert "Saltar al contenido" in html and "Skip to content" not in html


def test_a_claim_the_tool_has_no_pages_in_falls_to_the_browser_then_english(client):
    launch_as(client, "demo-learner-ben")  # his LMS speaks French: no French pages (only French e-mails)
    assert _lang(client.get(PAGE, headers={"Accept-Language": "fr-FR, es;q=0.8"}).data.decode()) == "es"
    assert _lang(client.get(PAGE, headers={"Accept-Language": "de-DE"}).data.decode()) == "en-GB"
    assert _lang(client.get(PAGE).data.decode()) == "en-GB"


def test_the_browser_decides_without_a_session(client):
    html = client.get("/verify", headers={"Accept-Language": "es"}).data.decode()
    assert _lang(html) == "es"
    assert _lang(client.get("/verify").data.decode()) == "en-GB"


def test_the_switch_is_kept_with_the_session_over_the_claim(client):
    sess = launch_as(client, "demo-learner-ada")
    resp = client.post(
        "/language",
        data={"csrf_token": sess.csrf_token, "language": "es", "next": PAGE, "timezone": "Europe/Madrid"},
    )
    assert resp.status_code == 303 and resp.location.endswith(PAGE)
    _fresh()
    html = client.get(PAGE, headers={"Accept-Language": "en"}).data.decode()
    assert _lang(html) == "es"
    assert '<option value="es" lang="es" selected>' in html
    # A new launch (a new tool session) starts again from the claim.
    launch_as(client, "demo-learner-ada")
    assert _lang(client.get(PAGE).data.decode()) == "en-GB"


def test_the_switch_works_without_cookies_through_the_session_token(sqlite_app):
    browser = sqlite_app.test_client()
    sess = launch_as(browser, "demo-learner-ada")
    frame = sqlite_app.test_client(use_cookies=False)  # the LMS iframe: the tool's cookie is blocked
    resp = frame.post("/language", data={"csrf_token": sess.csrf_token, "_s": sess.id, "language": "es"})
    assert resp.status_code == 303
    _fresh()
    html = frame.get(PAGE, query_string={"_s": sess.id}).data.decode()
    assert _lang(html) == "es"
    # The switch's form carries the token on for the next change.
    assert f'name="_s" value="{sess.id}"' in html


def test_a_refusal_is_said_in_the_persons_language_and_logged_in_english(client, caplog):
    sess = launch_as(client, "demo-learner-ada")
    _set_claimed_locale("demo-learner-ada", "es-ES")
    _fresh()
    with caplog.at_level(logging.INFO, logger="lti_tool.web.errors"):
        resp = client.post("/language", data={"csrf_token": sess.csrf_token, "language": "xx"})
    assert resp.status_code == 400
    assert "Ese idioma no está disponible aquí." in resp.data.decode() and "Idioma desconocido" in resp.data.decode()
    assert "That language is not offered here." in caplog.text and "Ese idioma" not in caplog.text


def test_the_switch_refuses_a_form_without_its_token_and_an_unknown_language(client):
    sess = launch_as(client, "demo-learner-ada")
    assert client.post("/language", data={"language": "es"}).status_code == 400
    resp = client.post("/language", data={"csrf_token": sess.csrf_token, "language": "xx"})
    assert resp.status_code == 400 and b"not offered" in resp.data
    resp = client.post("/language", data={"csrf_token": sess.csrf_token, "language": "es", "next": "//evil.example/"})
    assert resp.status_code == 303 and "evil" not in resp.location
    launch_as(client, "demo-learner-ada")
    client.post("/language", data={"language": "es"})  # refused: changes nothing
    assert _lang(client.get(PAGE).data.decode()) == "en-GB"


def test_matching_locale_tags():
    assert match("es-MX") == "es" and match("es_ES") == "es" and match("EN-gb") == "en_GB"
    assert match("fr-FR") is None and match("") is None and match(None) is None


def test_the_pseudo_locale_runs_right_to_left_only_where_enabled(client, sqlite_app):
    launch_as(client, "demo-learner-ada")
    html = client.get(PAGE, headers={"Accept-Language": "ar-XB"}).data.decode()
    assert 'lang="en-GB"' in html  # the claim (en-GB) still wins
    _set_claimed_locale("demo-learner-ada", "")
    html = client.get(PAGE, headers={"Accept-Language": "ar-XB"}).data.decode()
    assert '<html lang="ar-XB" dir="rtl"' in html
    assert "\u202e" in html and "Skip to content" not in html  # its words, held right to left
    sqlite_app.config["PSEUDO_LOCALE"] = False
    assert PSEUDO not in client.get(PAGE).data.decode()
    assert _lang(client.get(PAGE, headers={"Accept-Language": "ar-XB"}).data.decode()) == "en-GB"


def test_dates_in_the_locale_and_the_time_zone(sqlite_app, client):
    moment = dt.datetime(2025, 5, 12, 14, 3)  # naive: UTC, as stored
    with sqlite_app.test_request_context():
        assert "12 May 2025, 14:03 UTC" in when(moment)
        with force_locale("es"):
            assert "12 de mayo de 2025, 14:03 UTC" in when(moment)
            assert 'datetime="2025-05-12T14:03:00Z"' in when(moment)
            assert "12 de mayo de 2025" in when(dt.date(2025, 5, 12))
    # The zone the browser told the switch, kept with the session: Madrid is UTC+2 in May.
    sess = launch_as(client, "demo-learner-ada")
    client.post("/language", data={"csrf_token": sess.csrf_token, "language": "es", "timezone": "Europe/Madrid"})
    _fresh()
    with sqlite_app.test_request_context(headers={"X-Tool-Session": sess.id}):
        shown = when(moment)
        assert "12 de mayo de 2025, 16:03 Europe/Madrid" in shown
        assert 'datetime="2025-05-12T14:03:00Z"' in shown  # the instant itself stays exact
    # A zone that does not exist is not kept.
    client.post("/language", data={"csrf_token": sess.csrf_token, "language": "en_GB", "timezone": "Mars/Olympus"})
    _fresh()
    with sqlite_app.test_request_context(headers={"X-Tool-Session": sess.id}):
        assert "12 May 2025, 16:03 Europe/Madrid" in when(moment)
    # Outside a request (mail, PDFs): English and UTC.
    assert "12 May 2025, 14:03 UTC" in when(moment)


def test_plurals_follow_the_language(sqlite_app):
    # The words base.html gives the unread count in the header, in both languages.
    source = "{{ ngettext('unread notice', 'unread notices', n) }}"
    with sqlite_app.test_request_context():
        assert render_template_string(source, n=1) == "unread notice"
        assert render_template_string(source, n=3) == "unread notices"
        assert render_template_string("{{ 1234567.5|decimalformat }}") == "1,234,567.5"
        with force_locale("es"):
            assert render_template_string(source, n=1) == "aviso sin leer"
            assert render_template_string(source, n=3) == "avisos sin leer"
            assert render_template_string("{{ 1234567.5|decimalformat }}") == "1.234.567,5"


def test_a_public_page_in_spanish(client):
    html = client.get("/verify", headers={"Accept-Language": "es-ES"}).data.decode()
    assert "Verificar un certificado" in html and "Verify a certificate" not in html


def test_the_spanish_catalogue_is_complete_and_keeps_its_placeholders():
    """Every message the pages and the code mark has its Spanish words, with the same placeholders."""
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "lti_tool" / "translations"
    with open(root / "messages.pot", "rb") as f:
        template = read_po(f)
    with open(root / "es" / "LC_MESSAGES" / "messages.po", "rb") as f:
        spanish = read_po(f)
    missing, wrong = [], []
    for message in template:
        if not message.id:
            continue
        found = spanish.get(message.id)
        strings = found.string if found is not None else None
        forms = [strings] if isinstance(strings, str) else list(strings or [])
        if not forms or not all(forms):
            missing.append(message.id)
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        used = [set(PLACEHOLDER.findall(form)) for form in forms]
        # A singular says what its message says; plural forms may leave out the count ("un intento").
        if (len(ids) == 1 and used[0] != wanted) or any(not u <= wanted for u in used):
            wrong.append(message.id)
    assert not missing, f"{len(missing)} messages have no Spanish: {missing[:10]}"
    assert not wrong, f"placeholders differ: {wrong[:10]}"


def test_refusals_and_page_messages_in_the_page_language(client):
    """A refusal is raised in plain English and shown in the page's language (web/errors.py)."""
    resp = client.get(PAGE, headers={"Accept-Language": "es"})
    assert resp.status_code == 401
    html = resp.data.decode()
    assert "Su sesión ha terminado o nunca se inició." in html and "Abra la herramienta desde su curso" in html
    resp = client.get("/no-such-page", headers={"Accept-Language": "es"})
    assert resp.status_code == 404 and "No hay nada en esta dirección." in resp.data.decode()
    resp = client.get(PAGE, headers={"Accept-Language": "es", "Accept": "application/json"})
    assert resp.get_json()["message"] == "Su sesión ha terminado o nunca se inició."
    assert "has ended" in client.get(PAGE).data.decode()  # English where nothing asks for Spanish


def test_a_flashed_message_in_the_page_language(sqlite_app, client):
    from flask import flash, redirect

    def say() -> object:
        flash("Draft saved. Nothing is decided until you choose an overall decision.", "info")
        flash("A message the catalogue does not know.", "info")
        return redirect(PAGE, code=303)

    sqlite_app.add_url_rule("/test-flash", "test_flash", say)
    launch_as(client, "demo-learner-ada")
    _set_claimed_locale("demo-learner-ada", "es-ES")
    client.get("/test-flash")
    _fresh()
    html = client.get(PAGE).data.decode()
    assert "Borrador guardado." in html and "A message the catalogue does not know." in html


def test_labels_from_code_tables_in_the_page_language(client):
    """Words kept in the code's tables (notice kinds, channels, states) are shown translated."""
    launch_as(client, "demo-learner-ada")
    _set_claimed_locale("demo-learner-ada", "es-ES")
    html = client.get("/notifications/preferences").data.decode()
    assert "Avisarme cuando se ha recibido mi portafolio para evaluación" in html
    assert "Solo en la herramienta" in html and "Sus portafolios" in html


def test_error_pages_in_the_page_language(client):
    """An address with nothing at it, or a method it does not take: the person's words for the status, not
    Werkzeug's English names of it."""
    page = client.get("/no-such-page", headers={"Accept-Language": "es"})
    html = page.data.decode()
    assert page.status_code == 404 and "Página no encontrada" in html and "No hay nada en esta dirección." in html
    assert "Not Found" not in html
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "Page not found" in page.data.decode()

    launch_as(client, "demo-learner-ada")
    _set_claimed_locale("demo-learner-ada", "es-ES")
    html = client.put("/notifications/preferences").data.decode()
    assert "No es posible en esta dirección" in html and "Method Not Allowed" not in html


def test_outside_a_request_words_are_english(sqlite_app):
    """The command line and the workers have no request: gettext gives the English words, no error."""
    from flask_babel import gettext

    with sqlite_app.app_context():
        assert gettext("There is nothing at this address.") == "There is nothing at this address."
        assert gettext("Pack %(id)s is being prepared; it appears below when ready.", id=3).startswith("Pack 3")


def test_the_criteria_map_in_spanish(app, jwks_server):
    """The portfolio page's criteria map: states, legend, headings and link texts in the page's language
    (its words are kept per certification version and language: the Spanish page, asked again after the
    English one, is the same Spanish page)."""
    f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    ada.start()
    page = f"/portfolio/{ada.portfolio().id}"
    spanish = ada.client.get(page, headers={"Accept-Language": "es"}).data.decode()
    english = ada.client.get(page, headers={"Accept-Language": "en"}).data.decode()
    badges = re.findall(r'<span class="badge state-none"><span aria-hidden="true">○</span> ([^<]+)</span>', spanish)
    assert badges == ["Sin evidencias todavía"] * 4, badges
    assert '<li class="crit-state state-mapped"><span aria-hidden="true">●</span> Evidencias asociadas</li>' in spanish
    assert "Evidence mapped" not in spanish and "No evidence yet" not in spanish
    assert "Registrar una nueva evidencia para" in spanish and "Record new evidence for" not in spanish
    assert (
        re.findall(r'class="badge state-none"><span aria-hidden="true">○</span> ([^<]+)</span>', english)
        == ["No evidence yet"] * 4
    )
    assert ada.client.get(page, headers={"Accept-Language": "es"}).data.decode() == spanish


def test_job_and_mail_statuses_in_the_page_language(client):
    """The grade jobs and mail outbox pages name each status in the page's language, in the filter and the
    table (they showed the stored code: "in_progress", "sent")."""
    launch_as(client, "demo-admin-alex", tool_admin=True)
    for path, spanish, english in (
        ("/grading/jobs", "Enviándose (", "Being sent ("),
        ("/notifications/outbox", "Enviándose (", "Being sent ("),
    ):
        _set_claimed_locale("demo-admin-alex", "es-ES")
        _fresh()
        es = client.get(path)
        assert es.status_code == 200 and spanish in es.data.decode() and english not in es.data.decode()
        _set_claimed_locale("demo-admin-alex", "en-GB")
        _fresh()
        en = client.get(path).data.decode()
        assert english in en
        assert ">in_progress (" not in en and ">sending (" not in en
        # An empty filter says which status it looked for, in the page's words too.
        _set_claimed_locale("demo-admin-alex", "es-ES")
        _fresh()
        filtered = client.get(path + "?status=failed").data.decode()
        assert "Fallido" in filtered and not re.search(r">[^<]*\bfailed\b", filtered)


def test_the_portfolio_page_says_what_to_do_next_in_the_page_language(app, jwks_server):
    """The sentence at the top of the portfolio page and the confirmation after a redirect (?notice=) were
    plain English on every page (they are written in Python, not in the template)."""
    f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    ada.start()
    page = f"/portfolio/{ada.portfolio().id}?notice=created"
    spanish = ada.client.get(page, headers={"Accept-Language": "es"}).data.decode()
    assert "Añada su primera evidencia y marque los criterios que demuestra." in spanish
    assert "Su portafolio está listo." in spanish
    assert "Add your first piece of evidence" not in spanish and "Your portfolio is ready" not in spanish
    english = ada.client.get(page, headers={"Accept-Language": "en"}).data.decode()
    assert "Add your first piece of evidence and tick the criteria it shows." in english


def test_next_steps_with_a_count_follow_the_language(sqlite_app):
    from lti_tool.portfolio.coverage import Judgement, compute_coverage
    from lti_tool.portfolio.learner import next_step

    criteria = [
        {
            "id": i,
            "code": f"U1.1.{i}",
            "text": "",
            "unit_code": "U1",
            "unit_title": "",
            "outcome_code": "U1.1",
            "outcome_text": "",
        }
        for i in (1, 2, 3)
    ]
    one_missing = compute_coverage(criteria, {1: 1, 2: 1})
    two_not_met = compute_coverage(criteria, {1: 1, 2: 1, 3: 1}, {1: Judgement(False), 2: Judgement(False)})
    with sqlite_app.test_request_context(headers={"Accept-Language": "es"}):
        assert next_step("draft", one_missing) == (
            "Añada evidencias para el 1 criterio que aún no tiene ninguna, empezando por la unidad U1."
        )
        assert next_step("referred", two_not_met) == (
            "Mejore las evidencias de los 2 criterios marcados como «Aún no cumplido» y vuelva a entregar."
        )
    with sqlite_app.test_request_context():
        assert next_step("draft", one_missing) == (
            "Add evidence for the 1 criterion still without any, starting with unit U1."
        )


@pytest.mark.parametrize(
    "module", ["lti_tool.portfolio.views.learner", "lti_tool.notifications.views", "lti_tool.admin.access"]
)
def test_every_confirmation_after_a_redirect_is_shown_in_the_page_language(sqlite_app, module):
    """Each page's NOTICES (the ?notice=key confirmations) come out in Spanish on a Spanish page."""
    import importlib

    from lti_tool.launch.language import requested_notice

    notices = importlib.import_module(module).NOTICES
    for key, english in notices.items():
        with sqlite_app.test_request_context(f"/?notice={key}", headers={"Accept-Language": "es"}):
            shown = requested_notice(notices)
        assert shown and shown != english, f"{module} notice {key!r} is not translated"
        with sqlite_app.test_request_context(f"/?notice={key}"):
            assert requested_notice(notices) == english
    with sqlite_app.test_request_context("/?notice=<script>"):
        assert requested_notice(notices) is None  # only the table's keys: nothing from the request is shown


def test_the_roster_in_the_page_language(sqlite_app, client):
    """The roster's notice when the LMS roster cannot be had (the test's platform does not answer), and the
    state shown for a learner who has not started."""
    from lti_tool.grading.roster import RosterRow
    from lti_tool.launch.language import translated

    launch_as(client, "demo-instructor-iris")
    _set_claimed_locale("demo-instructor-iris", "es-ES")
    _fresh()
    html = client.get("/grading/roster").data.decode()
    assert "No se ha podido obtener ahora la lista del curso" in html and "could not be fetched" not in html
    assert "(accedió como Docente)" in html and "launched as" not in html  # the staff listed apart
    with sqlite_app.test_request_context(headers={"Accept-Language": "es"}):
        assert translated(RosterRow("u1", "Someone").state_label) == "Sin empezar"


def test_template_words_escape_their_values_and_count_in_the_page_language(sqlite_app):
    """The templates' `_()`, `{% trans %}` and `ngettext` (launch/language.py's own callables): the words are
    the template's, so kept as HTML; every value put into them is escaped; plurals follow the language."""
    source = (
        '{% trans name=name %}Signed in as <strong>{{ name }}</strong>{% endtrans %}|{{ _("Unit %(code)s: %(title)s",'
        ' code=name, title="A & B") }}|{{ ngettext("unread notice", "unread notices", n) }}|'
        "{% trans count=n %}{{ count }} item{% pluralize %}{{ count }} items{% endtrans %}"
    )
    with sqlite_app.test_request_context("/"):
        english = render_template_string(source, name='<b>"Ada"</b>', n=1)
        assert english == (
            "Signed in as <strong>&lt;b&gt;&#34;Ada&#34;&lt;/b&gt;</strong>|"
            "Unit &lt;b&gt;&#34;Ada&#34;&lt;/b&gt;: A &amp; B|unread notice|1 item"
        )
        with force_locale("es"):
            spanish = render_template_string(source, name="<i>", n=2)
        assert spanish.startswith("Ha iniciado sesión como <strong>&lt;i&gt;</strong>|Unidad &lt;i&gt;: A &amp; B|")
        assert "|avisos sin leer|" in spanish and spanish.endswith("|2 items")  # not in the catalogue: English

"""Refusals and page messages with values in them, in the page's language (issue 21): written with gettext and
named placeholders, so a Spanish page says them in Spanish, the words among the values included (a state, a
role), and an English page and the command line exactly as before."""

from __future__ import annotations

import html
from typing import Any

from flask_babel import gettext

from lti_tool.identity import staff
from lti_tool.identity.partners import find_partner
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, _translated
from tests import assessment_factories as af

SPANISH = {"Accept-Language": "es-ES"}


def _text(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _in_spanish(*people: object) -> None:
    """As their LMS launched them: the launch's locale claim, recorded on the person."""
    for person in people:
        person.locale = "es-ES"  # type: ignore[attr-defined]
    db.session.commit()


def test_a_refusal_with_a_value_in_spanish_and_in_english(sqlite_app):
    w = af.world()
    client = sqlite_app.test_client()
    af.sign_in(client, w.admin)
    english = client.get("/grading/jobs?status=bogus")
    assert english.status_code == 400
    assert "Unknown status 'bogus'; choose one of pending, in_progress, delivered, failed." in _text(english)
    _in_spanish(w.admin)
    page = client.get("/grading/jobs?status=bogus")
    assert page.status_code == 400
    assert "Estado desconocido «bogus»; elija uno de estos: pending, in_progress, delivered, failed." in _text(page)
    assert "Solicitud rechazada" in _text(page) and "Unknown status" not in _text(page)
    as_json = client.get("/grading/jobs?status=bogus", headers={"Accept": "application/json"})
    assert as_json.get_json()["message"].startswith("Estado desconocido «bogus»")
    missing = client.post(f"/grading/jobs/{10**6}/retry", data={"csrf_token": af.sign_in(client, w.admin).csrf_token})
    assert missing.status_code == 404 and "No existe la tarea de calificación 1000000." in _text(missing)


def test_a_page_message_with_values_in_spanish_words_and_all(sqlite_app):
    """The flash after granting a role: the role's name and the scope's words are Spanish too."""
    w = af.world()
    _in_spanish(w.admin)
    client = sqlite_app.test_client()
    sess = af.sign_in(client, w.admin)
    resp = client.post(
        "/staff/admin/grant",
        data={
            "csrf_token": sess.csrf_token,
            "user_id": str(w.assessor2.id),
            "role": staff.INTERNAL_VERIFIER,
            "partner_id": str(w.partner.id),
        },
    )
    assert resp.status_code == 303
    page = _text(client.get("/staff/admin/"))
    assert "Se ha asignado Verificador/a interno/a (paso 1) (entidad asociada acme) a Sue Assessor." in page
    # The role's list and the grants table say the roles in Spanish too.
    assert ">Verificador/a independiente (paso 2)</option>" in page and "Independent verifier" not in page


def test_a_state_inside_a_refusal_is_in_spanish(sqlite_app):
    """A portfolio's state, said inside the sentence that refuses: Spanish, not English, words."""
    w = af.world(submitted=False)
    _in_spanish(w.assessor)
    client = sqlite_app.test_client()
    af.sign_in(client, w.assessor)
    resp = client.get(f"/staff/portfolios/{w.portfolio.id}/assess")
    assert resp.status_code == 409
    assert "Este portafolio está en «Borrador»: no está pendiente de evaluación." in _text(resp)
    assert "Draft" not in _text(resp)


def test_the_command_line_and_english_pages_keep_their_words(sqlite_app):
    """Outside a request (the command line, workers) the same refusal is English; a message already in the page's
    language passes through the error page's translation unchanged (no second translation)."""
    with sqlite_app.app_context():
        try:
            find_partner("ghost")
        except NotFound as exc:
            assert exc.message == "No partner 'ghost'. See 'lti-tool partner list'."
        else:
            raise AssertionError("no refusal")
    with sqlite_app.test_request_context(headers=SPANISH):
        said = gettext("No partner '%(slug)s'. See 'lti-tool partner list'.", slug="%(slug)s")
        assert said == "No existe la entidad asociada «%(slug)s». Vea «lti-tool partner list»."
        assert _translated(said) == said  # and no %-formatting a second time

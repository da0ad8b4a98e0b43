"""QA round on the staff, instructor and EQA pages: the words of decisions, criterion states and portfolio states
in the page's language; the decision table stacking into cards on a phone; the roster's award date in the
tool's date format; the EQA filters kept together with their labels, and a refused filter shown on the EQA
page beside its field, with what was entered."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select

from lti_tool.grading.outbox import enqueue_for_state
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.portfolio.models import EvidenceItem
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review.assessment_models import COMPETENT
from lti_tool.store.db import db
from tests import assessment_factories as af
from tests.eqa_helpers import eqa_world
from tests.grading_helpers import award, make_certification, make_portfolio, submit
from tests.lti_helpers import demo_launch

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


def _adas_portfolio(client, cert=None):
    """Ada launches the demo course's placement (in a browser of her own), and has a portfolio in it."""
    demo_launch(client.application.test_client(), "demo-learner-ada")
    return make_portfolio(
        _user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), cert or make_certification()
    )


def _text(resp) -> str:
    return html_lib.unescape(resp.data.decode())


def _speaks_spanish(person: LtiUser) -> None:
    person.locale = "es-ES"  # as the LMS's launch claim would say
    db.session.commit()


def _decided_world() -> af.World:
    """A competent decision sampled into internal verification (step 1)."""
    w = af.world()
    ids = af.criteria_of(w.portfolio)
    feedback = {**af.all_met(ids), ids[0]: assessment_service.Judgement(True, "")}  # one without feedback
    assessment_service.decide(w.portfolio.id, w.assessor, COMPETENT, feedback, "All there", rng=af.AlwaysSample())
    db.session.commit()
    return w


def test_the_verifier_reads_the_decision_in_spanish_and_its_table_as_cards(sqlite_app):
    w = _decided_world()
    client = sqlite_app.test_client()
    af.sign_in(client, w.iv)
    english = _text(client.get(f"/staff/portfolios/{w.portfolio.id}/verify"))
    assert "The assessor's decision: Competent<" in english
    _speaks_spanish(w.iv)
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/verify")
    assert page.status_code == 200
    text = _text(page)
    assert "La decisión del evaluador/a: Competente<" in text and ": Competent<" not in text
    # Every cell names its column, so on a phone each row reads as a card of labelled lines.
    table = re.search(r'<table class="decision-table card-table">.*?</table>', text, re.S)
    assert table, "the decision table stacks into cards on a phone"
    cells = re.findall(r"<td( data-label=\"[^\"]*\")?", table.group(0))
    assert cells and all(cells), "a cell without its column's name"
    labels = re.findall(r'<td data-label="([^"]*)"', table.group(0))
    assert labels[:4] == ["Criterio", "Valoración", "Comentarios", "Evidencias"]
    # A criterion judged without feedback says so, instead of an empty labelled line.
    assert re.search(r'<td data-label="Comentarios">—</td>', table.group(0))


@SQLITE_ONLY
def test_the_instructor_reads_criterion_states_in_spanish(client):
    cert = make_certification()
    ada = _adas_portfolio(client, cert)
    item = EvidenceItem(portfolio_id=ada.id, kind="work_product", title="Report")
    item.criteria = [cert.units[0].outcomes[0].criteria[0]]
    db.session.add(item)
    db.session.commit()
    demo_launch(client, "demo-instructor-iris")
    english = _text(client.get(f"/grading/roster/portfolios/{ada.id}"))
    assert 'data-criterion-state="mapped">Evidence mapped<' in english
    _speaks_spanish(_user("demo-instructor-iris"))
    text = _text(client.get(f"/grading/roster/portfolios/{ada.id}"))
    assert 'data-criterion-state="mapped">Evidencias asociadas<' in text
    assert 'data-criterion-state="none">Sin evidencias todavía<' in text
    assert "Evidence mapped" not in text and "No evidence yet" not in text


@SQLITE_ONLY
def test_the_roster_writes_the_award_date_as_every_page_does(client):
    cert = make_certification()
    ada = _adas_portfolio(client, cert)
    submit(ada)
    award(ada, certificate_number="CMIACR-2024-000042")
    db.session.commit()
    demo_launch(client, "demo-instructor-iris")
    text = _text(client.get("/grading/roster"))
    assert '<time datetime="2024-06-01">1 June 2024</time>' in text and ">2024-06-01<" not in text
    # The wide table has a class of its own (the stylesheet lets it use the width of a desktop), and the
    # certificate number is kept whole.
    assert '<table class="queue-table roster-table">' in text
    assert 'Certificate <span class="certificate-number">CMIACR-2024-000042</span>' in text
    _speaks_spanish(_user("demo-instructor-iris"))
    text = _text(client.get("/grading/roster"))
    assert '<time datetime="2024-06-01">1 de junio de 2024</time>' in text
    assert 'Certificado <span class="certificate-number">CMIACR-2024-000042</span>' in text


@SQLITE_ONLY
def test_grade_jobs_name_the_portfolio_state_in_the_page_language(client):
    enqueue_for_state(_adas_portfolio(client))
    db.session.commit()
    demo_launch(client, "demo-admin-alex")
    alex = _user("demo-admin-alex")  # the demo platform's tool administrator
    text = _text(client.get("/grading/jobs"))
    assert "portfolio state: Draft (grade #1)" in text
    _speaks_spanish(alex)
    text = _text(client.get("/grading/jobs"))
    assert "estado del portafolio: Borrador (calificación n.º 1)" in text
    assert "estado draft" not in text and "state draft" not in text


def _fields(text: str) -> dict[str, str]:
    """Each filter's wrapper, by the id of the control its label names."""
    found = {}
    for block in re.findall(r'<p class="filter-field">(.*?)</p>', text, re.S):
        label = re.search(r'<label for="([^"]+)"', block)
        if label:
            found[label.group(1)] = block
    return found


def test_the_eqa_filters_keep_each_label_with_its_field(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    text = _text(client.get("/eqa/"))
    fields = _fields(text)
    expected = ["f-certification", "f-partner", "f-assessor", "f-decided_from", "f-decided_to", "f-outcome", "f-share"]
    assert list(fields) == expected
    for control_id, block in fields.items():
        assert f'id="{control_id}"' in block, f"{control_id} is not beside its label"
    assert "1 matching portfolio" in text


@pytest.mark.parametrize(
    ("query", "field", "english", "spanish"),
    [
        (
            "share=500&outcome=competent",
            "share",
            "The random share is a whole number of per cent, from 1 to 100.",
            "La proporción aleatoria es un porcentaje entero, de 1 a 100.",
        ),
        (
            "decided_from=2025-02-01&decided_to=2025-01-01&outcome=competent",
            "decided_to",
            "The end of the date range is before its start.",
            "El final del intervalo de fechas es anterior a su inicio.",
        ),
    ],
)
def test_a_refused_eqa_filter_is_shown_on_the_page_with_what_was_entered(sqlite_app, query, field, english, spanish):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    resp = client.get(f"/eqa/?{query}")
    assert resp.status_code == 422
    text = _text(resp)
    # The EQA page itself: its navigation, the form, the message at the top linking to the field and beside it.
    assert 'aria-label="External quality assurance"' in text and 'href="/eqa/sampling"' in text
    assert 'role="alert"' in text and f'<a href="#f-{field}">{english}</a>' in text
    block = _fields(text)[f"f-{field}"]
    assert f'<span class="field-error" id="f-{field}-error">{english}</span>' in block
    assert 'aria-invalid="true"' in block and re.search(f'aria-describedby="[^"]*f-{field}-error"', block)
    # What was entered is kept, and nothing is listed for a choice that was refused.
    for name, value in (pair.split("=") for pair in query.split("&")):
        if name == "outcome":
            assert f'<option value="{value}" selected>' in text
        else:
            assert f'name="{name}"' in text and f'value="{value}"' in _fields(text)[f"f-{name}"]
    assert "matching portfolio</h2>" not in text and "No portfolio within your role matches" not in text
    assert "Build the pack" not in text
    _speaks_spanish(world.eqa)
    text = _text(client.get(f"/eqa/?{query}"))
    assert f'<a href="#f-{field}">{spanish}</a>' in text and english not in text
    assert "No se muestra ningún portafolio: corrija este filtro" in text
    assert '<option value="competent" selected>Una decisión de competente</option>' in text

"""The portfolio page's criteria map is kept as HTML per everything it shows (portfolio/views/criteria_map.py):
a page asked again, or another learner's fresh portfolio, reuses it; whatever the map shows that changes makes
a new one; each page's links are its own."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT
from lti_tool.portfolio.views import criteria_map
from lti_tool.portfolio.views.learner import portfolio_view
from lti_tool.store.db import db
from lti_tool.store.memo import EXTENSION
from tests import assessment_factories as af
from tests import factories as f
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

LINK = re.compile(r'<p class="crit-links"><a href="([^"]+)">')


@pytest.fixture
def platform(app: Flask, jwks_server) -> TestPlatform:
    f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    return platform


def _learner(app: Flask, platform: TestPlatform, sub: str) -> Browser:
    browser = Browser(app, platform, sub, custom={"certification": "TSTCERT", "route": "training"})
    browser.start()
    return browser


def _kept(app: Flask) -> int:
    return len(app.extensions[EXTENSION].get("criteria_map_html", {}))


def _map(page: str) -> str:
    return page[page.index('<section id="criteria-map"') :]


def test_fresh_portfolios_share_the_map_and_each_links_to_its_own(app, platform):
    ada, bea = _learner(app, platform, "ada"), _learner(app, platform, "bea")
    ada_page = ada.get(f"/portfolio/{ada.portfolio().id}").data.decode()
    bea_page = bea.get(f"/portfolio/{bea.portfolio().id}").data.decode()
    assert _kept(app) == 1  # one HTML for both: nothing either map shows differs but the links
    ada_links, bea_links = LINK.findall(ada_page), LINK.findall(bea_page)
    assert len(ada_links) == 4 and len(set(ada_links)) == 4
    assert all(link.startswith(f"/portfolio/{ada.portfolio().id}/criteria/") for link in ada_links)
    assert all(link.startswith(f"/portfolio/{bea.portfolio().id}/criteria/") for link in bea_links)
    assert f"/portfolio/{bea.portfolio().id}/" not in ada_page
    assert "<@" not in ada_page and "<@" not in bea_page  # every slot filled
    # The same page asked again is the same page, from the same kept HTML.
    assert ada.get(f"/portfolio/{ada.portfolio().id}").data.decode() == ada_page and _kept(app) == 1


def test_what_the_map_shows_changes_it(app, platform):
    ada = _learner(app, platform, "ada")
    portfolio = ada.portfolio()
    page = f"/portfolio/{portfolio.id}"
    before = _map(ada.get(page).data.decode())
    assert before.count("crit crit-none") == 4
    ids = [c.id for c in criteria_for(portfolio.certification, None)]
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:1], title="Escalation log")
    mapped = _map(ada.get(page).data.decode())
    assert mapped.count("crit crit-none") == 3 and mapped.count("crit crit-mapped") == 1
    assert "Escalation log" in mapped and "(1 of 2 with evidence)" in mapped
    item_id = ada.portfolio().evidence[0].id
    # A title changed (the map lists each criterion's items by title) and a unit focused: each a new map.
    ada.edit_item(portfolio.id, item_id, criteria=ids[:1], title="Escalation log, signed")
    renamed = _map(ada.get(page).data.decode())
    assert "Escalation log, signed" in renamed
    focused = _map(ada.get(page + "?unit=U2").data.decode())
    assert focused.count("unit-map unit-focus") == 1 and renamed.count("unit-focus") == 0
    # The map in another language is another map.
    spanish = _map(ada.get(page, headers={"Accept-Language": "es"}).data.decode())
    assert "Sin evidencias todavía" in spanish and "Sin evidencias todavía" not in renamed


def _progress(page: str) -> list[str]:
    """Each unit's counts in the page's progress by unit, as text."""
    rows = re.findall(r'<p class="unit-counts">(.*?)</p>', page, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_the_progress_by_unit_follows_the_evidence_and_the_decision(app, platform, client):
    ada = _learner(app, platform, "ada")
    portfolio = ada.portfolio()
    page = f"/portfolio/{portfolio.id}"
    assert _progress(ada.get(page).data.decode()) == [
        "● 0 of 2 with evidence · ○ 2 missing",
        "● 0 of 2 with evidence · ○ 2 missing",
    ]
    ids = [c.id for c in criteria_for(portfolio.certification, None)]
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:3])
    assert _progress(ada.get(page).data.decode()) == [
        "● 2 of 2 with evidence",
        "● 1 of 2 with evidence · ○ 1 missing",
    ]
    # A decided assessment adds each unit's criteria met (the same evidence, so only the decision differs).
    w = af.world()
    assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, af.one_not_met(w.criteria_ids()), "More")
    db.session.commit()
    af.sign_in(client, w.learner, [lti_roles.LEARNER], dep=af.deployment(w.partner))
    rows = _progress(client.get(f"/portfolio/{w.portfolio.id}").data.decode())
    assert rows and all(row.startswith("✓") and " met · ● " in row for row in rows), rows
    assert rows[0].startswith("✓ 1 met")  # the first criterion was not met


def test_slots_come_only_from_the_template(app, platform):
    """A title that looks like a link slot is the learner's text, escaped, never replaced by a URL."""
    ada = _learner(app, platform, "ada")
    portfolio = ada.portfolio()
    ids = [c.id for c in criteria_for(portfolio.certification, None)]
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:1], title=f"<@c{ids[0]}@> & more")
    shown = _map(ada.get(f"/portfolio/{portfolio.id}").data.decode())
    assert f"&lt;@c{ids[0]}@&gt; &amp; more" in shown


def test_links_are_escaped_where_they_are_filled_in(app, platform):
    """URLs filled into the kept HTML are escaped as the template escapes them (a session token, a query)."""
    ada = _learner(app, platform, "ada")
    portfolio = ada.portfolio()
    with app.test_request_context(f"/portfolio/{portfolio.id}"):
        html = criteria_map.map_html(
            portfolio_view(portfolio).coverage,
            portfolio.certification,
            {},
            editable=True,
            can_link=False,
            focus_code=None,
            criterion_url=lambda n: f"/c/{n}?a=1&b=2",
            record_url=lambda n: f"/r/{n}?x=\"'",
        ).units
    assert 'href="/c/' in html and "?a=1&amp;b=2" in html
    assert "?x=&#34;&#39;" in html and "<@" not in html

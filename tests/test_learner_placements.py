"""Unit placements (issue 16): a placement of one unit opens the learner's one portfolio of the certification at
that unit, or a unit-only portfolio where the partner's pathway narrows the certification to units; the route
is chosen once per certification; "My portfolios" never lists one portfolio twice."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT
from lti_tool.portfolio.catalogue.offerings import offer_certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.awards import awarded_credits, make_award
from lti_tool.store.db import db
from tests import factories as f
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser


@pytest.fixture
def platform(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    db.session.commit()
    return platform


def _portfolios() -> list[Portfolio]:
    return list(db.session.scalars(select(Portfolio).order_by(Portfolio.id)))


def _open(browser: Browser):
    page = browser.launch()
    while page.status_code in (302, 303):
        page = browser.get(page.location)
    return page


def test_a_unit_placement_opens_the_one_portfolio_at_that_unit(app, platform):
    whole = Browser(app, platform, "ada", link="whole", custom={"certification": "TSTCERT"})
    whole.start(route="portfolio_only")
    (portfolio,) = _portfolios()

    unit = Browser(app, platform, "ada", link="unit-2", custom={"certification": "TSTCERT", "unit": "U2"})
    # The first opening passes the placement page, which records that this placement opens the portfolio...
    opened = unit.launch()
    assert unit.last_launch.location.endswith("/portfolio/placement")
    assert opened.status_code == 303 and opened.location.endswith(f"/portfolio/{portfolio.id}?unit=U2#unit-U2")
    # ... and from then on the launch goes straight to it, at its unit (no route asked again).
    page = unit.launch().data.decode()
    assert unit.last_launch.location.endswith(f"/portfolio/{portfolio.id}?unit=U2#unit-U2")
    assert "Which route are you on?" not in page
    assert 'id="focus-title">Unit U2: Unit 2 of TSTCERT' in page
    assert 'class="unit-map unit-focus" id="unit-U2"' in page
    assert [p.id for p in _portfolios()] == [portfolio.id]  # never a second one
    listed = unit.get("/portfolio/").data.decode()
    assert len(re.findall(rf'href="/portfolio/{portfolio.id}"', listed)) == 1


def test_the_unit_placement_first_then_the_whole_certification_share_one_portfolio(app, platform):
    unit = Browser(app, platform, "ada", link="unit-1", custom={"certification": "TSTCERT", "unit": "U1"})
    assert b"Which route are you on?" in _open(unit).data
    resp = unit.post("/portfolio/placement", {"route": "training"})
    assert resp.status_code == 303 and resp.location.endswith("?unit=U1&notice=created#unit-U1")
    (portfolio,) = _portfolios()
    assert portfolio.unit_code is None and portfolio.route == "training"
    whole = Browser(app, platform, "ada", link="whole", custom={"certification": "TSTCERT"})
    assert whole.launch().location.endswith(f"/portfolio/{portfolio.id}")  # through the placement page, once
    whole.launch()
    assert whole.last_launch.location.endswith(f"/portfolio/{portfolio.id}")
    assert len(_portfolios()) == 1
    # A unit the certification does not have is the whole certification, opened without focus.
    odd = Browser(app, platform, "ada", link="odd", custom={"certification": "TSTCERT", "unit": "U9"})
    assert odd.launch().location.endswith(f"/portfolio/{portfolio.id}")
    odd.launch()
    assert odd.last_launch.location.endswith(f"/portfolio/{portfolio.id}")
    # Another learner gets their own.
    Browser(app, platform, "bob", link="unit-1", custom={"certification": "TSTCERT", "unit": "U1"}).start()
    assert len(_portfolios()) == 2


def test_a_narrowed_pathway_makes_unit_only_portfolios_with_the_route_chosen_once(app, platform):
    partner = f.make_partner("acme-academy")
    offer_certification(partner, "TSTCERT", ["U1", "U2"])
    db.session.commit()
    first = Browser(app, platform, "ada", link="unit-1", custom={"certification": "TSTCERT", "unit": "U1"})
    page = _open(first).data.decode()
    assert "Your portfolio for Test certification TSTCERT: unit U1" in page
    assert first.post("/portfolio/placement", {"route": "portfolio_only"}).status_code == 303
    (unit1,) = _portfolios()
    assert unit1.unit_code == "U1"
    overview = first.get(f"/portfolio/{unit1.id}").data.decode()
    assert "unit U1" in overview and "Criterion 1.1.1" in overview and "Criterion 2.1.1" not in overview

    # Unit 2: its own portfolio, the route not asked again.
    second = Browser(app, platform, "ada", link="unit-2", custom={"certification": "TSTCERT", "unit": "U2"})
    assert "Which route are you on?" not in _open(second).data.decode()
    unit1_again, unit2 = _portfolios()
    assert unit2.unit_code == "U2" and unit2.route == "portfolio_only"
    # Only that unit's criteria can be mapped and are frozen at submission.
    criteria = {c.code: c.id for c in unit1.certification.units[0].outcomes[0].criteria}
    other = unit1.certification.units[1].outcomes[0].criteria[0].id
    assert second.add_item(unit2.id, files=[(f.PDF, "r.pdf")], criteria=[other]).status_code == 303
    assert first.add_item(unit1.id, files=[(f.PDF, "r.pdf")], criteria=[other]).status_code == 400
    assert first.add_item(unit1.id, files=[(f.PDF, "r.pdf")], criteria=[criteria["1.1.1"]]).status_code == 303
    assert first.submit(unit1.id, 1).status_code == 303
    db.session.expire_all()
    snapshot = db.session.get(Portfolio, unit1.id).submissions[0].snapshot
    assert {c["unit_code"] for c in snapshot["criteria"]} == {"U1"}
    # Relaunching each placement opens its own; the list shows both, once each.
    first.launch()
    assert first.last_launch.location.endswith(f"/portfolio/{unit1.id}")
    second.launch()
    assert second.last_launch.location.endswith(f"/portfolio/{unit2.id}")
    listed = first.get("/portfolio/").data.decode()
    assert listed.count(f'href="/portfolio/{unit1.id}"') == 1 and listed.count(f'href="/portfolio/{unit2.id}"') == 1
    assert "Test certification TSTCERT: unit U1" in listed and "Test certification TSTCERT: unit U2" in listed


def test_a_unit_only_award_carries_its_units_credits(app, platform):

    offer_certification(f.make_partner("acme-academy"), "TSTCERT", ["U1", "U2"])
    db.session.commit()
    Browser(app, platform, "ada", link="unit-2", custom={"certification": "TSTCERT", "unit": "U2"}).start()
    whole = Browser(app, platform, "bob", link="unit-2", custom={"certification": "TSTCERT"})
    whole.start()
    unit_only, full = _portfolios()
    assert unit_only.unit_code == "U2" and full.unit_code is None
    units = {u.code: u.credits for u in unit_only.certification.units}
    assert awarded_credits(unit_only) == units["U2"] and awarded_credits(full) == unit_only.certification.credits
    submission = Submission(portfolio=unit_only, attempt=1, snapshot={"evidence": []})
    db.session.add(submission)
    db.session.flush()
    award = make_award(unit_only, submission, None)
    assert award.credits == units["U2"] and award.cpd_points == units["U2"] * HOURS_PER_CREDIT

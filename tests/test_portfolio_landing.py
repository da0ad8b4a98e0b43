"""Landing: a learner launched from a placement reaches their portfolio for its certification."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.launch.models import ResourceLink
from lti_tool.portfolio.models import Portfolio
from lti_tool.store.db import db
from tests.conftest import table_count
from tests.factories import assign_partner, ensure_certification, make_certification, make_partner
from tests.lti_helpers import INSTRUCTOR, TestPlatform, demo_launch
from tests.portfolio_helpers import Browser


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


@pytest.fixture
def partner(platform):
    partner = make_partner("acme-academy", "Acme Academy")
    assign_partner(platform.registration_id, partner)
    return partner


def test_route_set_by_placement_creates_the_portfolio_on_first_launch(app, platform, partner):
    make_certification("TSTCERT", version=1)
    latest = make_certification("TSTCERT", version=2)
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "portfolio_only"})
    page = ada.launch()  # the launch sends the browser straight to the placement's page
    assert urlsplit(ada.last_launch.location).path == "/portfolio/placement"
    assert page.status_code == 303  # created, then on to the portfolio
    portfolio = ada.portfolio()
    assert portfolio.certification_id == latest.id  # the latest version at creation
    assert portfolio.route == "portfolio_only" and portfolio.state == "draft"
    assert portfolio.partner_id == partner.id
    assert portfolio.resource_link.resource_link_id == "link-1"
    overview = ada.get(page.location)
    assert overview.status_code == 200
    assert b"Test certification TSTCERT" in overview.data and b"Portfolio-only route" in overview.data
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "portfolio.created"))
    assert created.after["route"] == "portfolio_only" and created.actor_id == portfolio.user_id


def test_learner_chooses_the_route_when_the_placement_does_not(app, platform, partner):
    make_certification("TSTCERT")
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT"})
    page = ada.launch()
    html = page.data.decode()
    assert page.status_code == 200
    assert "Training route" in html and "Portfolio-only route" in html and "same assessment" in html
    assert table_count(Portfolio) == 0  # nothing is created until the learner chooses

    refused = ada.post("/portfolio/placement", {"route": "shortcut"})
    assert refused.status_code == 400 and b"Choose one of the two routes" in refused.data
    assert table_count(Portfolio) == 0

    done = ada.post("/portfolio/placement", {"route": "training"})
    assert done.status_code == 303
    assert ada.portfolio().route == "training"


def test_later_launches_reuse_the_portfolio(app, platform, partner):
    make_certification("TSTCERT")
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    first = ada.start()
    # A new certification version after the portfolio started does not move it.
    make_certification("TSTCERT", version=2)
    again = ada.launch()
    # A returning learner goes straight to their portfolio, with no stop at /start or the placement page.
    assert urlsplit(ada.last_launch.location).path == f"/portfolio/{first.id}"
    assert again.status_code == 200
    assert table_count(Portfolio) == 1 and ada.portfolio().id == first.id
    assert ada.portfolio().certification.version == 1
    # And the route chosen cannot be switched by posting again.
    ada.post("/portfolio/placement", {"route": "portfolio_only"})
    assert ada.portfolio().route == "training"


def test_each_placement_has_its_own_portfolio(app, platform, partner):
    make_certification("TSTCERT")
    make_certification("OTHER")
    ada = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    one = ada.start()
    ada.link, ada.custom = "link-2", {"certification": "OTHER", "route": "training"}
    two = ada.start()
    assert one.id != two.id and two.certification.code == "OTHER"
    listing = ada.get("/portfolio/")
    assert b"Test certification TSTCERT" in listing.data and b"Test certification OTHER" in listing.data


def test_deployment_default_certification_is_used(app, platform, partner):
    make_certification("TSTCERT")
    assign_partner(platform.registration_id, partner, default_certification_code="TSTCERT")
    ada = Browser(app, platform, "ada", custom={"route": "training"})
    ada.start()
    assert ada.portfolio().certification.code == "TSTCERT"


def test_placement_without_certification_says_so(app, platform, partner):
    ada = Browser(app, platform, "ada")
    page = ada.launch()
    html = page.data.decode()
    assert page.status_code == 200
    assert "not linked to a certification yet" in html
    assert "let your course instructor know" in html
    assert "deep linking" not in html  # instructions for the course team are not shown to learners
    assert table_count(Portfolio) == 0
    # Going to the portfolio address directly shows the same explanation.
    direct = ada.get("/portfolio/placement")
    assert b"not linked to a certification yet" in direct.data


def test_instructor_is_told_what_to_do(app, platform, partner):
    iris = Browser(app, platform, "iris", roles=[INSTRUCTOR])
    first = iris.launch()
    assert urlsplit(iris.last_launch.location).path == "/grading/roster"  # instructors see the roster
    html = first.data.decode()
    assert "not linked to a certification yet" in html
    assert "deep linking" in html.lower() and "lti-tool deployment default" in html


def test_unknown_certification_code_is_named(app, platform, partner):
    ben = Browser(app, platform, "ben", custom={"certification": "NOPE"})
    html = ben.launch().data.decode()
    assert "“NOPE” is not available" in html


def test_instructor_of_a_set_up_placement_gets_no_portfolio(app, platform, partner):
    make_certification("TSTCERT")
    iris = Browser(app, platform, "iris", roles=[INSTRUCTOR], custom={"certification": "TSTCERT"})
    page = iris.launch()
    assert urlsplit(iris.last_launch.location).path == "/grading/roster"
    assert page.status_code == 200
    assert table_count(Portfolio) == 0


def test_demo_learner_lands_on_the_route_choice(client):
    ensure_certification("CMIACR")
    resp = demo_launch(client, "demo-learner-ada")
    assert urlsplit(resp.location).path == "/portfolio/placement"
    page = client.get(resp.location)
    assert b"Which route are you on?" in page.data
    link = db.session.scalar(select(ResourceLink))
    # The demo LMS also says where the activity opens in it (the tool's e-mails link there).
    assert link.custom == {"certification": "CMIACR", "activity_url": "http://localhost/demo/"}


def test_creating_the_portfolio_tells_the_gradebook_the_learner_started(app, client, shipped_catalogue):
    """The 'started' score is written in the same transaction as the new portfolio (outbox)."""
    from lti_tool.grading.models import GradeJob
    from lti_tool.launch.models import ToolSession
    from lti_tool.launch.session import COOKIE_NAME
    from lti_tool.portfolio import learner
    from lti_tool.portfolio.catalogue.queries import latest_certification

    demo_launch(client, "demo-learner-ada")
    sess = db.session.get(ToolSession, client.get_cookie(COOKIE_NAME).value)
    portfolio = learner.start_portfolio(sess, sess.resource_link, latest_certification("CMIACR"), "training")
    db.session.commit()
    jobs = list(db.session.scalars(select(GradeJob).where(GradeJob.portfolio_id == portfolio.id)))
    assert [(j.payload["activityProgress"], j.payload["gradingProgress"]) for j in jobs] == [("Started", "NotReady")]
    assert jobs[0].payload["userId"] == "demo-learner-ada"

"""A portfolio opened from several placements (issue: the unit activity's empty gradebook column): the activity
for the whole certification and a deep-linked unit activity open the learner's one portfolio, and each one's
gradebook column and roster show it. Through real launches of the demo platform served over loopback HTTP, whose
gradebook the worker fills; the scores checked are those the platform received."""

from __future__ import annotations

import re
import threading
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from lti_tool.demo_platform.models import DemoDeepLink, DemoLineItem, DemoScore
from lti_tool.demo_platform.placements import deep_linked_id
from lti_tool.grading import scores
from lti_tool.grading.models import CREDITS, DELIVERED, FAILED, MAIN, GradeJob
from lti_tool.identity.partners import Partner
from lti_tool.launch.models import ResourceLink
from lti_tool.portfolio import learner
from lti_tool.portfolio.catalogue.models import PartnerOffering
from lti_tool.portfolio.models import Portfolio, PortfolioPlacement
from lti_tool.store.db import db
from tests import factories
from tests.conftest import counting
from tests.grading_helpers import award, drain, jobs, live_app, make_certification, opt_in_credits_column, submit
from tests.lti_helpers import CLAIM, LEARNER, TestPlatform, demo_launch
from tests.portfolio_helpers import Browser

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
WHOLE = "demo-link-cmiacr"  # the demo course's activity for the whole certification (no line item linked)
# U2 carries 4 of the certification's 12 credits.
UNITS = (("U1", "Unit U1 of CMIACR", 8), ("U2", "Data review and signal detection", 4))


@pytest.fixture
def live(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir) as (app, base):
        yield app, base


@pytest.fixture
def client(live):
    return live[0].test_client()


def _csrf(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|_s)" value="([^"]+)"', html))


def _add_unit_activities(client, *keys: str) -> list[str]:
    """An instructor adds unit activities by deep linking, as in Moodle: the demo makes each one's gradebook
    column from its lineItem and sends it as the `lineitem` claim of its launches. Their link ids."""
    instructor = client.application.test_client()
    resp = demo_launch(instructor, "demo-instructor-iris", deep_link=True)
    page = instructor.get(resp.location, follow_redirects=True)
    assert page.request.path == "/grading/deep-link"
    posted = instructor.post("/grading/deep-link", data={"choice": list(keys), **_csrf(page.data.decode())})
    token = re.search(r'name="JWT" value="([^"]+)"', posted.data.decode()).group(1)
    items = jwt.decode(token, options={"verify_signature": False})[DL + "content_items"]
    assert [i["custom"].get("unit") for i in items] == [k.split("/")[1] for k in keys]
    assert instructor.post("/demo/deep_link_return", data={"JWT": token}).status_code == 200
    row = db.session.scalar(select(DemoDeepLink).order_by(DemoDeepLink.id.desc()).limit(1))
    links = [deep_linked_id(row.id, n) for n in range(len(keys))]
    assert {i.resource_link_id for i in db.session.scalars(select(DemoLineItem))} >= set(links)
    return links


def _open(client, sub: str, link: str) -> str:
    """The learner opens an activity (choosing the training route if asked); the portfolio page's address."""
    resp = demo_launch(client, sub, link=link)
    page = client.get(resp.location, follow_redirects=True)
    if b"Which route are you on?" in page.data:
        page = client.post(
            "/portfolio/placement",
            data={"route": "training", **_csrf(page.data.decode())},
            follow_redirects=True,
        )
    assert page.status_code == 200 and re.fullmatch(r"/portfolio/\d+", page.request.path), page.request.path
    return page.request.path


def _portfolios() -> list[Portfolio]:
    return list(db.session.scalars(select(Portfolio).order_by(Portfolio.id)))


def _link(link_id: str) -> ResourceLink:
    return db.session.scalar(select(ResourceLink).where(ResourceLink.resource_link_id == link_id))


def _received(link_id: str, sub: str = "demo-learner-ada", tag: str = "accreditation") -> list[dict[str, Any]]:
    """The scores the platform received on the column of activity `link_id`, in order."""
    return [
        s.payload
        for s in db.session.scalars(
            select(DemoScore)
            .join(DemoLineItem)
            .where(DemoLineItem.resource_link_id == link_id, DemoLineItem.tag == tag, DemoScore.user_id == sub)
            .order_by(DemoScore.id)
        )
    ]


def _progress(payloads: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(p["activityProgress"], p.get("scoreGiven")) for p in payloads]


def test_whole_activity_first_then_the_unit_activity_both_columns_follow_to_the_award(client):
    cert = make_certification(credits=12, units=UNITS)
    [unit] = _add_unit_activities(client, "CMIACR/U2")
    whole_page = _open(client, "demo-learner-ada", WHOLE)
    (portfolio,) = _portfolios()
    submit(portfolio)
    db.session.commit()
    # The unit activity opens the same portfolio (at its unit), and is recorded as opening it: its column
    # learns at once that the portfolio is submitted.
    assert _open(client, "demo-learner-ada", unit) == whole_page
    assert [p.id for p in _portfolios()] == [portfolio.id]
    rows = list(db.session.scalars(select(PortfolioPlacement)))
    assert [(r.portfolio_id, r.resource_link_id) for r in rows] == [(portfolio.id, _link(unit).id)]
    _open(client, "demo-learner-ada", unit)  # a second opening records nothing more
    assert len(list(db.session.scalars(select(PortfolioPlacement)))) == 1
    award(portfolio, "CMIACR-000042", credits=12)
    db.session.commit()
    drain()

    assert all(j.status == DELIVERED for j in jobs())
    assert {j.resource_link_id for j in jobs()} == {_link(WHOLE).id, _link(unit).id}
    whole_scores, unit_scores = _received(WHOLE), _received(unit)
    assert _progress(whole_scores) == [("Started", None), ("Submitted", None), ("Completed", 100)]
    assert _progress(unit_scores) == [("Submitted", None), ("Completed", 100)]
    assert (
        whole_scores[-1]["comment"] == "Awarded. Certificate number CMIACR-000042. 12 learning credits, 120 CPD points."
    )
    assert unit_scores[-1] == {
        **unit_scores[-1],
        "scoreGiven": 100,
        "scoreMaximum": 100,
        "gradingProgress": "FullyGraded",
        "comment": "Awarded with the certification: unit U2 achieved. Certificate number CMIACR-000042. "
        "4 learning credits, 40 CPD points.",
    }
    # Exactly what was written at enqueue time, each on its own placement's job.
    assert unit_scores == [j.payload for j in jobs(resource_link_id=_link(unit).id, target=MAIN)]
    assert whole_scores == [j.payload for j in jobs(resource_link_id=_link(WHOLE).id, target=MAIN)]
    # The unit's column is the one deep linking made (the launch's lineitem claim); the tool made the whole
    # certification's.
    columns = {i.resource_link_id: i for i in db.session.scalars(select(DemoLineItem))}
    assert columns[unit].label == "Data review and signal detection (CMIACR unit U2)"
    assert columns[WHOLE].label == "Qualified CMIACR professional (CMIACR)" and len(columns) == 2
    assert cert.credits == 12
    # The demo's gradebook page shows both columns filled in.
    page = client.get("/demo/gradebook").data.decode()
    unit_column = page[page.index("Data review and signal detection (CMIACR unit U2)") :]
    unit_column = unit_column[: unit_column.index("</table>")]
    assert "Ada Mensah" in unit_column and "Completed / FullyGraded" in unit_column
    assert "unit U2 achieved. Certificate number CMIACR-000042" in unit_column


def test_unit_activity_first_then_the_whole_activity_opened_after_the_award(client):
    make_certification(credits=12, units=UNITS)
    [unit] = _add_unit_activities(client, "CMIACR/U2")
    _open(client, "demo-learner-ada", unit)
    (portfolio,) = _portfolios()
    assert portfolio.resource_link_id == _link(unit).id and portfolio.unit_code is None
    submit(portfolio)
    award(portfolio, "CMIACR-000043", credits=12)
    db.session.commit()
    # Opened for the first time after the award: the whole certification's column gets it at once.
    _open(client, "demo-learner-ada", WHOLE)
    assert len(_portfolios()) == 1
    drain()
    unit_scores, whole_scores = _received(unit), _received(WHOLE)
    assert _progress(unit_scores) == [("Started", None), ("Submitted", None), ("Completed", 100)]
    assert unit_scores[-1]["comment"].startswith("Awarded with the certification: unit U2 achieved.")
    assert _progress(whole_scores) == [("Completed", 100)]
    assert whole_scores[0]["comment"] == (
        "Awarded. Certificate number CMIACR-000043. 12 learning credits, 120 CPD points."
    )
    assert [j.state for j in jobs(resource_link_id=_link(WHOLE).id)] == ["awarded"]


def test_a_unit_column_gets_the_units_credits_where_the_deployment_opted_in(client):
    make_certification(credits=12, units=UNITS)
    [unit] = _add_unit_activities(client, "CMIACR/U2")
    _open(client, "demo-learner-ada", WHOLE)
    _open(client, "demo-learner-ada", unit)
    opt_in_credits_column(_link(WHOLE))
    (portfolio,) = _portfolios()
    submit(portfolio)
    award(portfolio, "CMIACR-000044", credits=12)
    db.session.commit()
    drain()
    whole = jobs(resource_link_id=_link(WHOLE).id, target=CREDITS)
    part = jobs(resource_link_id=_link(unit).id, target=CREDITS)
    assert [(j.payload["scoreGiven"], j.payload["scoreMaximum"]) for j in whole] == [(12, 12)]
    assert [(j.payload["scoreGiven"], j.payload["scoreMaximum"]) for j in part] == [(4, 4)]
    assert part[0].line_item["label"] == "CMIACR unit U2 learning credits"
    assert _received(unit, tag="credits") == [part[0].payload]


def test_a_unit_only_pathway_keeps_a_portfolio_per_unit_and_each_column_its_own(client):
    make_certification(credits=12, units=UNITS)
    partner = db.session.scalar(select(Partner))
    db.session.add(PartnerOffering(partner_id=partner.id, certification_code="CMIACR", unit_codes="U1,U2"))
    db.session.commit()
    first, second = _add_unit_activities(client, "CMIACR/U1", "CMIACR/U2")
    one = _open(client, "demo-learner-ada", first)
    two = _open(client, "demo-learner-ada", second)
    assert one != two
    u1, u2 = _portfolios()
    assert (u1.unit_code, u2.unit_code) == ("U1", "U2")
    assert db.session.scalars(select(PortfolioPlacement)).first() is None
    submit(u2)
    award(u2, "CMIACR-000045", credits=4)
    db.session.commit()
    drain()
    assert _progress(_received(first)) == [("Started", None)]
    assert _progress(_received(second)) == [("Started", None), ("Submitted", None), ("Completed", 100)]
    # A unit-only portfolio is the unit: its award is its own, not "with the certification".
    assert (
        _received(second)[-1]["comment"]
        == "Awarded. Certificate number CMIACR-000045. 4 learning credits, 40 CPD points."
    )


def test_the_unit_activitys_roster_lists_the_learner_with_its_own_gradebook_status(client):
    make_certification(credits=12, units=UNITS)
    [unit] = _add_unit_activities(client, "CMIACR/U2")
    _open(client, "demo-learner-ada", WHOLE)
    _open(client, "demo-learner-ada", unit)
    (portfolio,) = _portfolios()
    submit(portfolio)
    award(portfolio, "CMIACR-000046", credits=12)
    db.session.commit()
    drain()
    # The unit column's last score failed for good; the whole certification's reached the gradebook.
    last = jobs(resource_link_id=_link(unit).id, target=MAIN)[-1]
    db.session.execute(update(GradeJob).where(GradeJob.id == last.id).values(status=FAILED, last_error="HTTP 500"))
    db.session.commit()

    def roster_row(link: str) -> str:
        instructor = client.application.test_client()
        resp = demo_launch(instructor, "demo-instructor-iris", link=link)
        page = instructor.get(resp.location, follow_redirects=True)
        assert page.request.path == "/grading/roster"
        html = page.data.decode()
        assert "Learners (2)" in html  # Ada, and Ben who has not started
        row = html[html.index("Ada Mensah") : html.index("Ben Carter")]
        # The instructor of this activity may read the learner's portfolio from the roster.
        assert instructor.get(f"/grading/roster/portfolios/{portfolio.id}").status_code == 200
        return row

    unit_row, whole_row = roster_row(unit), roster_row(WHOLE)
    assert "Awarded" in unit_row and "CMIACR-000046" in unit_row and "Not sent" in unit_row
    assert "Awarded" in whole_row and "Sent" in whole_row and "Not sent" not in whole_row


# --- the record itself: once, and two first openings racing -------------------------------------------------


class AgsPlatform(TestPlatform):
    """Launches that carry a score service and a line item per placement: the tool writes grade jobs for them
    (nobody delivers them here)."""

    __test__ = False

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        claims = super().claims(nonce, **overrides)
        link = claims[CLAIM + "resource_link"]["id"]
        claims.setdefault(AGS_CLAIM, {"scope": [SCORE_SCOPE], "lineitem": f"https://lms.test/lineitems/{link}"})
        return claims


@pytest.fixture
def lms(app, jwks_server):
    platform = AgsPlatform(jwks_server)
    factories.assign_partner(platform.registration_id, factories.make_partner("acme-academy"))
    factories.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    db.session.commit()
    return platform


def _learner(app, lms, link: str, **custom: str) -> Browser:
    return Browser(app, lms, "ada", link=link, custom={"certification": "TSTCERT", "route": "training", **custom})


def test_recording_twice_writes_one_row_and_one_score(app, lms):
    _learner(app, lms, "whole").start()
    unit = _learner(app, lms, "unit-2", unit="U2")
    unit.launch()
    (portfolio,) = _portfolios()
    link = db.session.get(ResourceLink, unit.session.resource_link_id)
    # The row is there: another opening that looked before it was written records nothing, and writes no job.
    assert learner.record_placement(portfolio, link) is False
    db.session.commit()
    assert len(list(db.session.scalars(select(PortfolioPlacement)))) == 1
    assert [(j.resource_link_id, j.state) for j in jobs()] == [
        (portfolio.resource_link_id, "draft"),
        (link.id, "draft"),
    ]
    # Its own placement is never recorded.
    assert learner.record_placement(portfolio, portfolio.resource_link) is False


def test_two_first_openings_racing_record_the_placement_once(app, lms):
    _learner(app, lms, "whole").start()
    unit = _learner(app, lms, "unit-2", unit="U2")
    assert unit.launch().location.endswith("?unit=U2#unit-U2")  # recorded by this first opening's hop
    db.session.execute(PortfolioPlacement.__table__.delete())
    db.session.execute(GradeJob.__table__.delete().where(GradeJob.resource_link_id == unit.session.resource_link_id))
    db.session.commit()
    cookie = unit.client.get_cookie("lti_tool_session").value
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def open_placement() -> None:
        other = app.test_client()
        other.set_cookie("lti_tool_session", cookie)
        barrier.wait()
        resp = other.get("/portfolio/placement")
        results.append((resp.status_code, resp.location))

    threads = [threading.Thread(target=open_placement) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    (portfolio,) = _portfolios()
    assert results == [(303, f"/portfolio/{portfolio.id}?unit=U2#unit-U2")] * 3
    db.session.expire_all()
    assert len(list(db.session.scalars(select(PortfolioPlacement)))) == 1
    unit_jobs = jobs(resource_link_id=unit.session.resource_link_id)
    assert [(j.state, j.sequence) for j in unit_jobs] == [("draft", 1)]


# --- a returning learner's launch of a unit placement costs what any returning launch costs -----------------


def test_a_returning_learners_launch_of_a_recorded_unit_placement_finds_the_portfolio_in_one_query(app, lms):
    Browser(app, lms, "ada", link="whole", custom={"certification": "TSTCERT", "route": "training"}).start()
    custom = {"certification": "TSTCERT", "unit": "U2"}
    unit = Browser(app, lms, "ada", link="unit-2", custom=custom)
    unit.launch()  # the first opening records it
    browser = app.test_client()
    with counting() as login:
        state, nonce = lms.login(browser)
    claims = lms.claims(
        nonce,
        sub="ada",
        name="Ada",
        CLAIM_roles=[LEARNER],
        CLAIM_custom=custom,
        CLAIM_resource_link={"id": "unit-2", "title": "Accreditation portfolio"},
    )
    with counting() as launch:
        resp = browser.post("/lti/launch", data={"id_token": lms.sign(claims), "state": state})
    (portfolio,) = _portfolios()
    assert resp.status_code == 303 and resp.location.endswith(f"/portfolio/{portfolio.id}?unit=U2#unit-U2")
    # As test_launch_efficiency holds for a placement's own portfolio: the learner's rows in one query, the
    # session, the portfolio (through the record) in one, one commit.
    assert login == {"statements": 1, "commits": 1}
    assert launch["statements"] <= 4 and launch["commits"] == 1


def test_score_and_line_item_of_a_unit_column():
    started = scores.score_payload("draft", user_id="u", timestamp="t", unit_code="U2")
    assert started == {"userId": "u", "timestamp": "t", "activityProgress": "Started", "gradingProgress": "NotReady"}
    done = scores.score_payload("awarded", user_id="u", timestamp="t", certificate_number="C-1", unit_code="U2")
    assert done["comment"] == "Awarded with the certification: unit U2 achieved. Certificate number C-1."
    assert scores.main_line_item("C", "Cert", "U2", "Data review") == {
        "label": "Data review (C unit U2)",
        "scoreMaximum": 100,
        "resourceId": "C/U2",
        "tag": "accreditation",
    }
    assert scores.credits_line_item("C", 4, "U2")["label"] == "C unit U2 learning credits"

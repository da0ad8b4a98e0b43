"""Who sees what: a learner only their own portfolios; nothing crosses from one partner to another."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.launch.models import Deployment, LtiUser
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem
from lti_tool.store.db import db
from tests import factories as f
from tests.conftest import table_count
from tests.lti_helpers import INSTRUCTOR, TestPlatform
from tests.portfolio_helpers import Browser

CUSTOM = {"certification": "TSTCERT", "route": "training"}


@pytest.fixture
def world(app, jwks_server):
    """Two partners on two platforms; Ada has a submitted portfolio at partner A."""
    cert = f.make_certification("TSTCERT")
    acme = f.make_partner("acme-academy")
    beta = f.make_partner("beta-hub")
    lms_a = TestPlatform(jwks_server)
    f.assign_partner(lms_a.registration_id, acme)
    lms_b = TestPlatform(jwks_server, issuer="https://lms-b.test", client_id="client-b")
    f.assign_partner(lms_b.registration_id, beta)
    ada = Browser(app, lms_a, "ada", custom=CUSTOM)
    portfolio = ada.start()
    # One criterion evidenced: an empty portfolio cannot be submitted.
    first = cert.units[0].outcomes[0].criteria[0].id
    ada.add_item(portfolio.id, files=[(f.PDF, "report.pdf")], criteria=[first])
    ada.submit(portfolio.id, 1)
    item = db.session.scalar(select(EvidenceItem))
    ef = db.session.scalar(select(EvidenceFile))
    return {
        "app": app,
        "lms_a": lms_a,
        "lms_b": lms_b,
        "acme": acme,
        "beta": beta,
        "ada": ada,
        "portfolio_id": portfolio.id,
        "item_id": item.id,
        "file_id": ef.id,
        "sha": hashlib.sha256(f.PDF).hexdigest(),
    }


def _pages(w) -> list[str]:
    p, i = w["portfolio_id"], w["item_id"]
    return [
        f"/portfolio/{p}",
        f"/portfolio/{p}/evidence/new",
        f"/portfolio/{p}/evidence/{i}/edit",
        f"/portfolio/{p}/evidence/{i}/remove",
        f"/portfolio/{p}/submit",
        f"/portfolio/{p}/submissions/1",
        f"/appeals/portfolio/{p}",
    ]


def _files(w) -> list[str]:
    p, i = w["portfolio_id"], w["item_id"]
    return [f"/portfolio/{p}/evidence/{i}/files/{w['file_id']}", f"/portfolio/{p}/submissions/1/files/{w['sha']}"]


def _assert_refused(browser: Browser, w) -> None:
    for url in _pages(w) + _files(w):
        resp = browser.get(url)
        assert resp.status_code == 404, url
        assert b"%PDF" not in resp.data and b"report.pdf" not in resp.data
        assert b"There is no" in resp.data  # a clear message, not a bare error
    p, i = w["portfolio_id"], w["item_id"]
    for url, data in (
        (f"/portfolio/{p}/evidence/{i}/remove", {}),
        (f"/portfolio/{p}/submit", {"attempt": "2"}),
        (f"/appeals/portfolio/{p}", {"grounds": "Not mine to appeal"}),
    ):
        assert browser.post(url, data).status_code == 404
    assert table_count(EvidenceItem) == 1


def test_owner_sees_pages_and_files(world):
    ada = world["ada"]
    for url in (
        f"/portfolio/{world['portfolio_id']}",
        f"/portfolio/{world['portfolio_id']}/submissions/1",
        *_files(world),
    ):
        assert ada.get(url).status_code == 200, url


def test_another_learner_of_the_same_partner_sees_nothing(world):
    ben = Browser(world["app"], world["lms_a"], "ben", custom=CUSTOM)
    ben.start()
    _assert_refused(ben, world)
    assert b"ada" not in ben.get("/portfolio/").data.lower()


def test_a_learner_of_another_partner_sees_nothing(world):
    cleo = Browser(world["app"], world["lms_b"], "cleo", custom=CUSTOM)
    cleo.start()
    _assert_refused(cleo, world)


def test_same_identity_through_another_partners_deployment_sees_nothing(world):
    """One LMS can host two partners' deployments: Ada's identity is the same, the tenant is not."""
    reg_id = world["lms_a"].registration_id
    db.session.add(Deployment(registration_id=reg_id, deployment_id="dep-beta", partner_id=world["beta"].id))
    db.session.commit()
    ada_at_beta = Browser(
        world["app"], world["lms_a"], "ada", custom=CUSTOM, link="beta-link", deployment_id="dep-beta"
    )
    ada_at_beta.start()
    assert ada_at_beta.session.user_id == world["ada"].session.user_id
    _assert_refused(ada_at_beta, world)
    listing = ada_at_beta.get("/portfolio/").data.decode()
    assert set(re.findall(r'href="/portfolio/(\d+)"', listing)) == {str(ada_at_beta.portfolio().id)}


def test_instructor_of_the_course_gets_no_learner_files(world):
    iris = Browser(world["app"], world["lms_a"], "iris", roles=[INSTRUCTOR], custom=CUSTOM)
    iris.launch()
    _assert_refused(iris, world)


def _staff(world, sub: str, partner_id: int | None) -> Browser:
    browser = Browser(world["app"], world["lms_a"], sub, roles=[INSTRUCTOR], custom=CUSTOM)
    browser.launch()
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))
    db.session.add(
        staff.StaffGrant(user_id=user.id, role=staff.ASSESSOR, partner_id=partner_id, certification_code="TSTCERT")
    )
    db.session.commit()
    return browser


def test_assessor_whose_grant_covers_the_partner_may_download(world):
    sam = _staff(world, "sam", world["acme"].id)
    for url in _files(world):
        resp = sam.get(url)
        assert resp.status_code == 200 and resp.data == f.PDF
    # Downloads only: the learner's own pages stay the learner's.
    assert sam.get(f"/portfolio/{world['portfolio_id']}").status_code == 404


def test_assessor_of_another_partner_may_not_download(world):
    tom = _staff(world, "tom", world["beta"].id)
    for url in _files(world):
        assert tom.get(url).status_code == 404


def test_without_a_session_nothing_is_shown(world):
    anonymous = world["app"].test_client()
    for url in _pages(world) + _files(world):
        resp = anonymous.get(url)
        assert resp.status_code == 401 and b"launch the tool from your course" in resp.data


def test_forged_file_addresses_are_refused(world):
    ada, p = world["ada"], world["portfolio_id"]
    other_item = f"/portfolio/{p}/evidence/{world['item_id'] + 99}/files/{world['file_id']}"
    assert ada.get(other_item).status_code == 404
    for sha in ("0" * 64, "../../../../etc/passwd", world["sha"].upper()):
        assert ada.get(f"/portfolio/{p}/submissions/1/files/{sha}").status_code == 404
    assert ada.get(f"/portfolio/{p}/submissions/7/files/{world['sha']}").status_code == 404

"""What keeps a launch cheap, held to account: SQL statements and commits per step of a returning learner's
launch (at most 8 and 2, whatever the catalogue's size), the one-query path for returning learners, what is
kept in memory and how soon a change made elsewhere is seen (LTI_TOOL_LAUNCH_CACHE_SECONDS), keys parsed once,
and the single-use login still single-use under concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from lti_tool.audit.actor import Actor
from lti_tool.identity.staff import ASSESSOR, PendingStaffGrant, StaffGrant
from lti_tool.launch.cache import cache_get, cache_set
from lti_tool.launch.errors import LaunchError
from lti_tool.launch.models import Deployment, LtiContext, LtiUser, Membership, Registration, ResourceLink, ToolSession
from lti_tool.launch.platform_keys import public_key
from lti_tool.launch.registrations import set_deployment_active
from lti_tool.store import memo
from lti_tool.store.db import db
from tests import factories
from tests.conftest import counting, make_test_app, table_count
from tests.lti_helpers import INSTRUCTOR, TestPlatform, new_rsa_key


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


@pytest.fixture
def app_factory_no_cache(tmp_path, keys_dir, jwks_server) -> Iterator[tuple[Flask, TestPlatform]]:
    app = make_test_app("sqlite", tmp_path, keys_dir, LAUNCH_CACHE_SECONDS=0)
    with app.app_context():
        yield app, TestPlatform(jwks_server)


LAUNCH_BUDGET = 8  # statements of a returning learner's whole launch: login, launch and the first page
COMMIT_BUDGET = 2  # the login's state, and the launch


def _portfolio_placement(platform: TestPlatform, **catalogue: Any) -> Any:
    """A partner's deployment offering a certification of the given shape, for placements that name it."""
    factories.assign_partner(platform.registration_id, factories.make_partner("acme-academy"))
    return factories.make_certification("TSTCERT", **catalogue)


def _returning_launch(app: Flask, platform: TestPlatform) -> tuple[dict[str, dict[str, int]], bytes]:
    """Ada's first launch (her portfolio is made), then her next one from a new browser, as the bench does:
    statements and commits counted per step, and the first page it lands on."""
    custom = {"certification": "TSTCERT", "route": "training"}
    first = app.test_client()
    resp = platform.launch(first, sub="ada", CLAIM_custom=custom)
    while resp.status_code in (302, 303):
        resp = first.get(resp.location)
    assert resp.status_code == 200
    browser = app.test_client()
    counts: dict[str, dict[str, int]] = {}
    with counting() as counts["login"]:
        state, nonce = platform.login(browser)
    token = platform.sign(platform.claims(nonce, sub="ada", CLAIM_custom=custom))
    with counting() as counts["launch"]:
        resp = browser.post("/lti/launch", data={"id_token": token, "state": state})
    assert resp.status_code == 303 and "/portfolio/" in resp.location  # straight to the portfolio page
    with counting() as counts["page"]:
        page = browser.get(resp.location)
    assert page.status_code == 200
    return counts, page.data


def test_statements_and_commits_per_step_of_a_returning_learners_launch(app, platform):
    cert = _portfolio_placement(platform)
    counts, page = _returning_launch(app, platform)
    # login: the registration comes from memory (launch/tool_config.py); the state with its nonce, committed
    assert counts["login"] == {"statements": 1, "commits": 1}
    # launch: registration, deployment and the platform's key set from memory; consume the state (single use,
    # in the launch's transaction); the learner's four rows with the pending-grants guard in one query (nothing
    # changed, so nothing is written); the session; where it lands (the placement's portfolio); one commit
    assert counts["launch"]["statements"] <= 4 and counts["launch"]["commits"] == 1
    # page: the session with the header's unread count and admin link (one query); the portfolio with its
    # certification and evidence; the attempts, award and latest appeal; the criteria come from memory
    assert counts["page"]["statements"] <= 3 and counts["page"]["commits"] == 0
    assert sum(c["statements"] for c in counts.values()) <= LAUNCH_BUDGET
    assert sum(c["commits"] for c in counts.values()) == COMMIT_BUDGET
    # ... and it is the real portfolio page: every criterion of the certification, each with its state
    criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
    assert len(criteria) == 8
    for criterion in criteria:
        assert criterion.text.encode() in page


@pytest.mark.parametrize("size", [(1, 1, 1), (6, 4, 5)])
def test_the_launch_costs_the_same_however_large_the_catalogue(app, platform, size):
    """One criterion or 120 (and another large certification beside it): the same statements per step."""
    units, outcomes, criteria = size
    factories.make_certification("OTHER", units=5, outcomes=5, criteria=5)
    cert = _portfolio_placement(platform, units=units, outcomes=outcomes, criteria=criteria)
    counts, page = _returning_launch(app, platform)
    assert counts == {
        "login": {"statements": 1, "commits": 1},
        "launch": {"statements": 4, "commits": 1},
        "page": {"statements": 3, "commits": 0},
    }
    shown = [c for u in cert.units for o in u.outcomes for c in o.criteria]
    assert len(shown) == units * outcomes * criteria
    assert all(c.text.encode() in page for c in shown)


def test_a_partners_own_criterion_shows_at_once_in_the_process_that_adds_it(app, platform):
    cert = _portfolio_placement(platform)
    _returning_launch(app, platform)  # the tree is in memory now
    partner = factories.make_partner("acme-academy")
    factories.add_partner_criterion(cert, partner.id)
    _, page = _returning_launch(app, platform)
    assert b"Company criterion 1" in page


def test_a_pending_grant_made_after_the_first_launch_is_applied_at_the_next(app, platform, client):
    platform.launch(client)
    user = db.session.scalars(select(LtiUser)).one()
    db.session.add(PendingStaffGrant(issuer=user.issuer, sub=user.sub, role=ASSESSOR, granted_by="test"))
    db.session.commit()
    platform.launch(app.test_client())  # a returning learner: the guard read with their rows says "pending"
    db.session.expire_all()
    assert [g.role for g in db.session.scalars(select(StaffGrant))] == [ASSESSOR]


def _clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """store/memo.py's clock, moved on by the test (no sleeping)."""
    now = [time.monotonic()]
    monkeypatch.setattr(memo.time, "monotonic", lambda: now[0])
    return now


def _attempt(app: Flask, platform: TestPlatform) -> Any:
    """A launch from a new browser: the login's refusal (a deactivated registration), or the launch's answer."""
    browser = app.test_client()
    login = browser.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "hint",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": platform.client_id,
        },
    )
    if login.status_code != 302:
        return login
    query = parse_qs(urlsplit(login.location).query)
    token = platform.sign(platform.claims(query["nonce"][0]))
    return browser.post("/lti/launch", data={"id_token": token, "state": query["state"][0]})


def _row_id(platform: TestPlatform, model: type) -> int:
    if model is Registration:
        return platform.registration_id
    return db.session.scalars(select(Deployment.id).where(Deployment.registration_id == platform.registration_id)).one()


def _deactivate_elsewhere(model: type, row_id: int) -> None:
    """As another process would: straight in the database, so this process's memory is not told."""
    db.session.execute(update(model).where(model.id == row_id).values(active=False))
    db.session.commit()


@pytest.mark.parametrize("model", [Deployment, Registration])
def test_a_registration_or_deployment_deactivated_elsewhere_stops_launching_within_the_bound(
    app, platform, monkeypatch, model
):
    now = _clock(monkeypatch)
    bound = app.config["LAUNCH_CACHE_SECONDS"]
    assert bound == 30  # the documented default (README, config.py)
    assert platform.launch(app.test_client()).status_code == 303
    _deactivate_elsewhere(model, _row_id(platform, model))
    now[0] += bound - 1  # still within the bound: this process has not read it again
    assert platform.launch(app.test_client()).status_code == 303
    now[0] += 2  # past the bound
    refused = _attempt(app, platform)
    assert refused.status_code == 403 and b"deactivated" in refused.data


def test_a_deployment_deactivated_in_this_process_stops_launching_at_once(app, platform):
    assert platform.launch(app.test_client()).status_code == 303
    dep = db.session.get(Deployment, _row_id(platform, Deployment))
    set_deployment_active(Actor(label="test"), dep, False)
    db.session.commit()
    refused = _attempt(app, platform)
    assert refused.status_code == 403 and b"deactivated" in refused.data


def test_with_no_cache_seconds_nothing_is_kept(app_factory_no_cache, monkeypatch):
    app, platform = app_factory_no_cache
    with app.app_context():
        assert platform.launch(app.test_client()).status_code == 303
        _deactivate_elsewhere(Deployment, _row_id(platform, Deployment))
        assert _attempt(app, platform).status_code == 403


def test_returning_learner_updates_every_record_without_duplicates(client, platform):
    platform.launch(client)
    resp = platform.launch(
        client,
        name="Renamed Learner",
        CLAIM_roles=[INSTRUCTOR],
        CLAIM_context={"id": "course-1", "title": "Course One, 2nd edition", "label": "C1"},
        CLAIM_resource_link={"id": "link-1", "title": "Portfolio (new)"},
        CLAIM_custom={"certification": "CMIACR"},
    )
    assert resp.status_code == 303
    db.session.expire_all()
    assert [u.name for u in db.session.scalars(select(LtiUser))] == ["Renamed Learner"]
    assert [c.title for c in db.session.scalars(select(LtiContext))] == ["Course One, 2nd edition"]
    link = db.session.scalars(select(ResourceLink)).one()
    assert link.title == "Portfolio (new)" and link.custom == {"certification": "CMIACR"}
    assert db.session.scalars(select(Membership)).one().roles == [INSTRUCTOR]
    assert table_count(ToolSession) == 2
    assert b"Renamed Learner" in client.get(resp.location, follow_redirects=True).data  # now on the roster


def test_same_learner_in_a_new_course_gets_a_new_membership(client, platform):
    platform.launch(client)
    platform.launch(
        client,
        CLAIM_context={"id": "course-2", "title": "Course Two"},
        CLAIM_resource_link={"id": "link-2", "title": "Second placement"},
    )
    assert table_count(LtiUser) == 1
    assert table_count(LtiContext) == 2 and table_count(Membership) == 2 and table_count(ResourceLink) == 2


def test_one_launch_posted_twice_at_once_is_accepted_once(app, platform):
    """The state and its nonce are consumed inside the launch's transaction: a concurrent replay waits for it
    and then finds them gone."""
    client = app.test_client()
    state, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    cookies = {c.key: c.value for c in client._cookies.values()}
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        browser = app.test_client()
        for name, value in cookies.items():
            browser.set_cookie(name, value)
        barrier.wait()
        statuses.append(browser.post("/lti/launch", data={"id_token": token, "state": state}).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [303, 401, 401, 401]
    db.session.expire_all()
    assert table_count(ToolSession) == 1


def test_platform_keys_are_parsed_once_per_distinct_key():
    _, jwk = new_rsa_key()
    assert public_key(jwk) is public_key(dict(jwk))
    _, other = new_rsa_key()
    assert public_key({**other, "kid": jwk["kid"]}) is not public_key(jwk)  # same kid, new key material
    with pytest.raises(LaunchError, match="RSA"):
        public_key({"kty": "EC", "kid": "x", "crv": "P-256", "x": "AA", "y": "AA"})


def test_cache_set_twice_replaces_the_value(app):
    cache_set("k", {"v": 1}, 60)
    cache_set("k", {"v": 2}, 60)
    assert cache_get("k") == {"v": 2}


def test_two_processes_share_the_single_use_login_and_see_a_deactivation_within_the_bound(
    tmp_path, keys_dir, jwks_server, monkeypatch
):
    """Two apps on one database stand for two processes: each keeps its own memory (store/memo.py)."""
    now = _clock(monkeypatch)
    first = make_test_app("sqlite", tmp_path, keys_dir)
    second = make_test_app("sqlite", tmp_path, keys_dir)
    with first.app_context():
        platform = TestPlatform(jwks_server)
        browser = first.test_client()
        state, nonce = platform.login(browser)  # the state and nonce are issued by the first
        token = platform.sign(platform.claims(nonce))
    with second.app_context():
        other = second.test_client()
        for cookie in browser._cookies.values():  # the same browser, at the other process
            other.set_cookie(cookie.key, cookie.value)
        assert other.post("/lti/launch", data={"id_token": token, "state": state}).status_code == 303
        assert _attempt(second, platform).status_code == 303  # the second now keeps the deployment in memory
    with first.app_context():
        replay = browser.post("/lti/launch", data={"id_token": token, "state": state})
        assert replay.status_code == 401  # used up, whichever process is asked
        dep = db.session.get(Deployment, _row_id(platform, Deployment))
        set_deployment_active(Actor(label="test"), dep, False)
        db.session.commit()
        assert _attempt(first, platform).status_code == 403  # at once where it was changed
    with second.app_context():
        assert _attempt(second, platform).status_code == 303  # the other process, within the bound
        now[0] += second.config["LAUNCH_CACHE_SECONDS"] + 1
        assert _attempt(second, platform).status_code == 403  # ... and past it

"""What keeps a launch cheap, held to account: SQL statements and commits per step, the one-query path for
returning learners, keys parsed once, and the single-use login still single-use under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from lti_tool.launch.cache import cache_get, cache_set
from lti_tool.launch.errors import LaunchError
from lti_tool.launch.models import LtiContext, LtiUser, Membership, ResourceLink, ToolSession
from lti_tool.launch.platform_keys import public_key
from lti_tool.store.db import db
from tests.conftest import table_count
from tests.lti_helpers import INSTRUCTOR, TestPlatform, new_rsa_key


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


@contextmanager
def counting() -> Iterator[dict[str, int]]:
    counts = {"statements": 0, "commits": 0}

    def statement(*args: object) -> None:
        counts["statements"] += 1

    def commit(*args: object) -> None:
        counts["commits"] += 1

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


def test_statements_and_commits_per_step_of_a_returning_learners_launch(client, platform):
    platform.launch(client)  # first launch: creates the rows and caches the platform's JWKS
    with counting() as login:
        state, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    with counting() as launch:
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert resp.status_code == 303
    with counting() as page:
        assert client.get(resp.location).status_code == 200
    # registration; the state with its nonce
    # (+1 because this browser still has its session from the first launch: the session, with its page
    # messages, is loaded for every request that carries one)
    assert login["statements"] <= 3 and login["commits"] == 1
    # registration, cached JWKS, deployment, consume the state, launch data, the learner's four rows in one
    # query, two last-seen updates, pending staff grants, the session: all in one commit; then where to send
    # the browser (the learner's portfolio for the placement, its certification), which saves it a request;
    # the page's header counts the person's unread notifications
    assert launch["statements"] <= 14 and launch["commits"] == 1  # (+1: the old session and its messages)
    # the session with its user, deployment, course, activity and page messages (one query), then the
    # landing decides where to go: the learner's portfolio for the placement, its certification, staff grants
    assert page["statements"] <= 4 and page["commits"] == 0


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

"""Launches when things around the tool fail: the platform's JWKS endpoint down, the database gone for a
moment or stopped. The person gets a clear page (502 or 503 'try again'), never a 500, and nothing is
half-written."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, update

from lti_tool.launch.models import CacheEntry, LtiUser, ToolSession
from lti_tool.store import memo
from lti_tool.store.db import db, utcnow
from tests.fault_helpers import DatabaseBlip
from tests.fuzz_support import assert_clean_refusal, message_of, row_counts
from tests.lti_helpers import TestPlatform


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


# --- the platform's JWKS endpoint -------------------------------------------------------------


def test_cached_keys_still_verify_while_the_platforms_jwks_is_down(client, platform, jwks_server):
    assert platform.launch(client).status_code == 303
    fetches = jwks_server.fetches
    jwks_server.fail = True
    assert platform.launch(client).status_code == 303
    assert jwks_server.fetches == fetches  # served from the cache, the endpoint was not needed


def test_last_fetched_keys_stand_in_when_the_cache_expired_during_an_outage(client, platform, jwks_server, monkeypatch):
    assert platform.launch(client).status_code == 303
    db.session.execute(update(CacheEntry).where(CacheEntry.key.like("jwks:%")).values(expires_at=utcnow()))
    db.session.commit()
    # ... and this process's copy (store/memo.py) is past its bound too, as it would be by then
    later = time.monotonic() + 3600
    monkeypatch.setattr(memo.time, "monotonic", lambda: later)
    jwks_server.fail = True
    fetches = jwks_server.fetches
    assert platform.launch(client).status_code == 303
    assert jwks_server.fetches == fetches + 1  # it did try the platform first


def test_no_cached_keys_and_the_jwks_down_is_a_clear_502(client, platform, jwks_server):
    jwks_server.fail = True
    before = row_counts()
    resp = platform.launch(client)
    assert resp.status_code == 502
    assert "could not be fetched" in message_of(resp)
    assert row_counts() == before


# --- the database -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,when",
    [(LtiUser, "before_flush"), (ToolSession, "after_flush")],
    ids=["before-insert", "after-insert-before-commit"],
)
def test_database_blip_during_a_launch_is_a_503_and_nothing_half_written(client, platform, model, when):
    before = row_counts()
    with DatabaseBlip(model, when) as blip:
        resp = platform.launch(client)
    assert blip.fired
    assert resp.status_code == 503
    assert int(resp.headers["Retry-After"]) > 0
    assert "try again" in resp.data.decode().lower() and "Nothing was half-saved" in message_of(resp)
    assert "Traceback" not in resp.data.decode()
    assert row_counts() == before
    # The next launch works: the session and the pool recovered.
    assert platform.launch(client).status_code == 303


def test_database_blip_gives_json_to_json_clients(client, platform):
    with DatabaseBlip(LtiUser, "before_flush"):
        state, nonce = platform.login(client)
        resp = client.post(
            "/lti/launch",
            data={"id_token": platform.sign(platform.claims(nonce)), "state": state},
            headers={"Accept": "application/json"},
        )
    assert resp.status_code == 503 and "database" in resp.get_json()["message"]


@contextmanager
def stopped_database(app, backend: str, tmp_path):
    """Points the app at a database that is not there, as after a crash, then back at the live one."""
    dead_url = (
        f"sqlite:///{tmp_path}/no-such-dir/db.sqlite3"
        if backend == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    engines = db._app_engines[app]
    live = engines[None]
    db.session.remove()
    engines[None] = create_engine(dead_url, connect_args={"connect_timeout": 1} if backend != "sqlite" else {})
    try:
        yield
    finally:
        db.session.remove()
        engines[None].dispose()
        engines[None] = live


def test_stopped_database_is_a_503_on_every_page_that_needs_it(app, client, platform, backend, tmp_path):
    state, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    with stopped_database(app, backend, tmp_path):
        for resp in (
            client.post("/lti/launch", data={"id_token": token, "state": state}),
            client.get(
                "/lti/login",
                query_string={
                    "iss": platform.issuer,
                    "login_hint": "x",
                    "target_link_uri": "http://localhost/lti/launch",
                },
            ),
            client.get("/start", headers={"X-Tool-Session": "some-session-id"}),
        ):
            assert resp.status_code == 503, resp.data
            assert resp.headers["Retry-After"] and "Content-Security-Policy" in resp.headers
            assert "try again" in resp.data.decode().lower()
    # Back up: the login made before the outage still completes.
    assert client.post("/lti/launch", data={"id_token": token, "state": state}).status_code == 303


def test_bad_input_during_an_outage_is_still_refused_clearly(app, client, backend, tmp_path):
    """A refusal that needs no database is given as usual, not hidden behind the 503."""
    with stopped_database(app, backend, tmp_path):
        resp = client.post("/lti/launch", data={"state": "x"})
        assert_clean_refusal(resp)
        assert "no 'id_token'" in message_of(resp)

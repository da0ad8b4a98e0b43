"""Rate limits on login, launch and dynamic registration: a clear 429 with Retry-After, per client IP (the
proxy's X-Forwarded-For only when the proxy is trusted), counted in memory or in a shared Redis."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from lti_tool.store.db import db
from tests.conftest import IN_CI, make_test_app

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
LOGIN = {"iss": "https://nobody.example", "login_hint": "x", "target_link_uri": "http://localhost/lti/launch"}


def limited_app(tmp_path, keys_dir, **extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {
        "RATE_LIMIT_ENABLED": True,
        "RATE_LIMIT_LAUNCH": "3/minute",
        "RATE_LIMIT_REGISTER": "2/minute",
        "RATE_LIMIT_VERIFY": "2/minute",
        "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        **extra,
    }
    return make_test_app("sqlite", tmp_path, keys_dir, **config)


@pytest.fixture
def app_limited(tmp_path, keys_dir):
    app = limited_app(tmp_path, keys_dir)
    with app.app_context():
        yield app
        db.session.remove()


def test_login_is_limited_per_client_with_a_clear_429(app_limited):
    client = app_limited.test_client()
    for _ in range(3):
        assert client.get("/lti/login", query_string=LOGIN).status_code == 403  # refused, but counted
    resp = client.get("/lti/login", query_string=LOGIN)
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert b"Too many requests" in resp.data and b"wait a minute" in resp.data
    json_resp = client.get("/lti/login", query_string=LOGIN, headers={"Accept": "application/json"})
    assert json_resp.status_code == 429 and "wait a minute" in json_resp.get_json()["message"]
    assert "Content-Security-Policy" in resp.headers
    # Another client address has its own budget.
    other = client.get("/lti/login", query_string=LOGIN, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 403


def test_launch_and_login_count_separately(app_limited):
    client = app_limited.test_client()
    for _ in range(3):
        client.get("/lti/login", query_string=LOGIN)
    assert client.post("/lti/launch", data={}).status_code == 400  # its own budget: not limited yet
    for _ in range(2):
        client.post("/lti/launch", data={})
    assert client.post("/lti/launch", data={}).status_code == 429


def test_registration_has_its_own_lower_limit(app_limited):
    client = app_limited.test_client()
    for _ in range(2):
        assert client.get("/lti/register").status_code == 400
    assert client.get("/lti/register").status_code == 429
    assert client.get("/lti/register/some-invite").status_code == 429  # one budget for the invite paths too
    assert client.get("/lti/config").status_code == 200  # pages that change nothing stay unlimited


def test_client_ip_comes_from_the_trusted_proxy_only(tmp_path, keys_dir):
    for trust, expect_separate in ((1, True), (0, False)):
        app = limited_app(tmp_path / str(trust), keys_dir, TRUST_PROXY=trust)
        with app.app_context():
            client = app.test_client()
            for i in range(3):
                client.get("/lti/login", query_string=LOGIN, headers={"X-Forwarded-For": f"198.51.100.{i}"})
            fourth = client.get("/lti/login", query_string=LOGIN, headers={"X-Forwarded-For": "198.51.100.99"})
            # Trusted proxy: four different clients, none limited. Untrusted: one address (the proxy's) is.
            assert fourth.status_code == (403 if expect_separate else 429)
            db.session.remove()


def test_a_client_reaching_the_tool_directly_cannot_choose_its_address(tmp_path, keys_dir):
    """TRUST_PROXY with the default trusted proxies (loopback): a client connecting from elsewhere sends a new
    X-Forwarded-For each time, and is still limited on its own address."""
    app = limited_app(tmp_path, keys_dir, TRUST_PROXY=1)
    with app.app_context():
        client = app.test_client()
        direct = {"REMOTE_ADDR": "203.0.113.7"}
        for i in range(3):
            resp = client.get(
                "/lti/login", query_string=LOGIN, headers={"X-Forwarded-For": f"198.51.100.{i}"}, environ_base=direct
            )
            assert resp.status_code == 403
        fourth = client.get(
            "/lti/login", query_string=LOGIN, headers={"X-Forwarded-For": "198.51.100.99"}, environ_base=direct
        )
        assert fourth.status_code == 429
        db.session.remove()


def test_forwarded_headers_are_believed_from_the_configured_proxies(tmp_path, keys_dir):
    app = limited_app(tmp_path, keys_dir, TRUST_PROXY=1, TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1")
    with app.app_context():
        client = app.test_client()
        seen: list[tuple[str, str]] = []

        @app.get("/_test/whoami")
        def whoami() -> str:
            from flask import request

            seen.append((request.remote_addr or "", request.scheme))
            return "ok"

        headers = {"X-Forwarded-For": "198.51.100.5", "X-Forwarded-Proto": "https"}
        client.get("/_test/whoami", headers=headers, environ_base={"REMOTE_ADDR": "10.4.5.6"})
        client.get("/_test/whoami", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.1"})
        client.get("/_test/whoami", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})  # not listed now
        client.get("/_test/whoami", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert seen == [
            ("198.51.100.5", "https"),
            ("198.51.100.5", "https"),
            ("127.0.0.1", "http"),
            ("203.0.113.7", "http"),
        ]
        # Through the proxy, each client has its own budget.
        for i in range(4):
            resp = client.get(
                "/lti/login",
                query_string=LOGIN,
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
                environ_base={"REMOTE_ADDR": "10.4.5.6"},
            )
            assert resp.status_code == 403
        db.session.remove()


def test_a_bad_trusted_proxy_setting_is_a_clear_configuration_error(tmp_path, keys_dir):
    with pytest.raises(SystemExit, match="LTI_TOOL_TRUSTED_PROXIES must list IP addresses"):
        limited_app(tmp_path, keys_dir, TRUST_PROXY=1, TRUSTED_PROXIES="proxy.internal")


def test_bad_limit_setting_is_a_clear_configuration_error(tmp_path, keys_dir):
    with pytest.raises(SystemExit, match="RATE_LIMIT_LAUNCH must be a rate limit"):
        limited_app(tmp_path, keys_dir, RATE_LIMIT_LAUNCH="sixty a minute")


def _redis_reachable() -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return f"{REDIS_URL} did not answer PING"
    except OSError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


def test_limits_are_shared_through_redis_between_processes(tmp_path, keys_dir):
    """Two app instances (as two gunicorn workers) share one budget through Redis."""
    problem = _redis_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true requires Redis for the shared rate limit test: {problem}")
        pytest.skip(problem)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    apps = [
        limited_app(tmp_path / name, keys_dir, RATE_LIMIT_STORAGE_URI=REDIS_URL, RATE_LIMIT_KEY_PREFIX=prefix)
        for name in ("worker1", "worker2")
    ]
    statuses = []
    for i in range(4):
        app = apps[i % 2]
        with app.app_context():
            statuses.append(app.test_client().get("/lti/login", query_string=LOGIN).status_code)
            db.session.remove()
    assert statuses == [403, 403, 403, 429]
    limiter = apps[0].extensions["lti_tool.limiter"]
    assert type(limiter.storage).__name__ == "RedisStorage"
    limiter.reset()


def test_redis_down_does_not_take_launches_down(tmp_path, keys_dir):
    """The unlucky operator: Redis restarts. Requests go on, counted in the process meanwhile."""
    app = limited_app(tmp_path, keys_dir, RATE_LIMIT_STORAGE_URI="redis://127.0.0.1:1")  # nothing listens there
    with app.app_context():
        client = app.test_client()
        statuses = [client.get("/lti/login", query_string=LOGIN).status_code for _ in range(5)]
        assert statuses == [403, 403, 403, 429, 429]
        db.session.remove()


def test_certificate_lookups_are_limited_so_numbers_cannot_be_walked(app_limited):
    """Certificate numbers run in sequence and the public page names the holder: trying many is refused."""
    client = app_limited.test_client()
    for n in (1, 2):
        assert client.get(f"/verify/CMIACR-2026-00000{n}").status_code == 404  # unknown, but counted
    walked = client.get("/verify/CMIACR-2026-000003")
    assert walked.status_code == 429 and b"Too many requests" in walked.data
    assert int(walked.headers["Retry-After"]) > 0
    for n in (1, 2):
        assert client.get(f"/verify/CMIACR-2026-00000{n}.json").status_code == 404
    as_json = client.get("/verify/CMIACR-2026-000003.json", headers={"Accept": "application/json"})
    assert as_json.status_code == 429 and "wait a minute" in as_json.get_json()["message"]
    # Someone else (an employer checking one certificate) is not affected.
    other = client.get("/verify/CMIACR-2026-000001", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 404

"""The launch core end to end through the HTTP endpoints."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lti_tool.launch.models import LtiContext, LtiUser, Membership, ResourceLink
from lti_tool.store.db import db
from tests.lti_helpers import INSTRUCTOR, TestPlatform, demo_launch


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


def test_happy_path_records_user_context_link_and_roles(client, platform):
    resp = platform.launch(client, CLAIM_roles=[INSTRUCTOR], name="Iris Instructor")
    assert resp.status_code == 303
    # Straight to the instructor's landing page (no stop at /start); the state cookie came back, so the
    # session cookie will too: no session id in the address.
    assert urlsplit(resp.location).path == "/grading/roster" and "_s=" not in resp.location
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == "user-1"))
    assert user.issuer == platform.issuer and user.name == "Iris Instructor"
    context = db.session.scalar(select(LtiContext))
    assert context.context_id == "course-1" and context.title == "Course One"
    link = db.session.scalar(select(ResourceLink))
    assert link.resource_link_id == "link-1" and link.context_id == context.id
    membership = db.session.scalar(select(Membership))
    assert membership.roles == [INSTRUCTOR]
    page = client.get("/start", follow_redirects=True)  # instructors land on the course roster
    assert page.status_code == 200
    assert b"Iris Instructor" in page.data and b"Course One" in page.data


def test_session_cookie_is_partitioned_on_localhost_over_http(client, platform):
    # Browsers accept Secure cookies from http://localhost: the demo and a laptop evaluation get the
    # cookie an LMS iframe keeps (CHIPS). Other hosts over http: see tests/test_cookieless_launch.py.
    resp = platform.launch(client)
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("lti_tool_session="))
    assert "HttpOnly" in cookie and "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie


def test_session_cookie_is_samesite_none_secure_over_https_behind_proxy(backend, tmp_path, keys_dir, jwks_server):
    from tests.conftest import make_test_app

    app = make_test_app(backend, tmp_path, keys_dir, TRUST_PROXY=1)
    with app.app_context():
        client = app.test_client()
        platform = TestPlatform(jwks_server)
        headers = {"X-Forwarded-Proto": "https"}
        state, nonce = platform.login(client)
        # The state cookie pylti1p3 set must come back on the launch; copy it into an https request.
        token = platform.sign(platform.claims(nonce))
        resp = client.post(
            "/lti/launch", data={"id_token": token, "state": state}, headers=headers, base_url="https://localhost"
        )
        assert resp.status_code == 303, resp.data
        cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("lti_tool_session="))
        assert "Secure" in cookie and "SameSite=None" in cookie
        db.session.remove()


def test_second_launch_updates_roles_not_duplicates(client, platform):
    platform.launch(client)
    platform.launch(client, CLAIM_roles=[INSTRUCTOR])
    assert len(list(db.session.scalars(select(LtiUser)))) == 1
    assert db.session.scalar(select(Membership)).roles == [INSTRUCTOR]


def test_demo_platform_launch_end_to_end(client):
    resp = demo_launch(client, "demo-learner-ada")
    assert resp.status_code == 303
    page = client.get(resp.location)
    assert b"Ada Mensah" in page.data


def test_pages_without_session_ask_for_a_launch(client):
    resp = client.get("/start")
    assert resp.status_code == 401
    assert b"launch the tool from your course" in resp.data


def test_jwks_endpoint_publishes_signing_key(client):
    body = client.get("/.well-known/jwks.json").get_json()
    assert body["keys"] and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] for k in body["keys"])
    assert "d" not in body["keys"][0]  # never the private part


def test_session_survives_without_cookies_via_token(client, platform):
    """A browser that drops third-party cookies keeps its session through the token in links."""
    resp = platform.launch(client)
    token = client.get_cookie("lti_tool_session").value
    client.delete_cookie("lti_tool_session")
    page = client.get(resp.location, query_string={"_s": token})
    assert page.status_code == 200 and b"Lee Learner" in page.data
    from flask import url_for

    with client.application.test_request_context(f"/start?_s={token}"):
        assert url_for("home.start").endswith(f"?_s={token}")


def test_public_addresses_never_carry_the_session_token(client, platform):
    """Addresses that leave the person's session (a verification link for employers, the launch URL an LMS
    stores from deep linking, the demo LMS) carry no token, even when the page's own links do."""
    platform.launch(client)
    token = client.get_cookie("lti_tool_session").value
    from flask import url_for

    with client.application.test_request_context(f"/start?_s={token}"):
        assert token in url_for("learner.mine")
        for url in (
            url_for("verify.certificate", number="CMIACR-2026-000001"),
            url_for("launch.launch", _external=True),
            url_for("launch.jwks"),
            url_for("demo.gradebook"),
            url_for("static", filename="style.css"),
            url_for("health.healthz"),
        ):
            assert "_s=" not in url and token not in url, url


def test_cookie_sessions_do_not_put_the_token_in_links(client, platform):
    resp = platform.launch(client)
    client.get(resp.location)
    cookie = client.get_cookie("lti_tool_session")
    assert cookie is not None
    with client.application.test_request_context("/start", headers={"Cookie": f"lti_tool_session={cookie.value}"}):
        from flask import url_for

        assert "_s=" not in url_for("home.start")


def test_session_token_is_redacted_from_log_lines(caplog):
    import logging

    from lti_tool.web.observability import RequestIdFilter

    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, '"GET /start?_s=%s HTTP/1.1" 200', ("SECRETTOKEN123",), None
    )
    RequestIdFilter().filter(record)
    assert "SECRETTOKEN123" not in record.getMessage() and "_s=[redacted]" in record.getMessage()

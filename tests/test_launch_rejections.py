"""Every known-bad launch of the 1EdTech certification guide, and our own, is refused with a 4xx,
a message a person can act on, and nothing written."""

from __future__ import annotations

import html
import time

import pytest

from lti_tool.launch.models import Deployment, LtiUser, Registration, ToolSession
from lti_tool.store.db import db
from tests.conftest import table_count
from tests.lti_helpers import DELETE, TestPlatform, new_rsa_key


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


def assert_refused(resp, status: int, *fragments: str) -> None:
    body = html.unescape(resp.data.decode())
    assert resp.status_code == status, body
    for fragment in fragments:
        assert fragment in body, f"{fragment!r} not in page"
    assert table_count(LtiUser) == 0
    assert table_count(ToolSession) == 0


CERT_GUIDE_CASES = [
    # (id, claim overrides, expected status, expected text)
    ("wrong LTI version", {"CLAIM_version": "1.2.0"}, 401, "Incorrect version"),
    ("no LTI version", {"CLAIM_version": DELETE}, 401, "Incorrect version"),
    ("not an LTI message", {"CLAIM_message_type": DELETE}, 401, "not an LTI message"),
    ("unknown message type", {"CLAIM_message_type": "LtiBogusRequest"}, 401, "Unrecognized message type"),
    ("missing aud", {"aud": DELETE}, 401, "no audience"),
    ("missing iss", {"iss": DELETE}, 401, "names no issuer"),
    ("missing sub", {"sub": DELETE}, 401, "Must have a user"),
    ("missing deployment_id", {"CLAIM_deployment_id": DELETE}, 401, "no deployment_id"),
    ("missing roles", {"CLAIM_roles": DELETE}, 401, "Missing Roles Claim"),
    ("missing resource link id", {"CLAIM_resource_link": {"title": "x"}}, 401, "Missing Resource Link Id"),
    ("expired exp", {"iat": lambda now: now - 4000, "exp": lambda now: now - 3600}, 401, "has expired"),
    ("iat in the future", {"iat": lambda now: now + 3600, "exp": lambda now: now + 7200}, 401, "dated in the future"),
    ("iat long ago", {"iat": lambda now: now - 10 * 3600, "exp": lambda now: now + 300}, 401, "too long ago"),
    ("missing exp", {"exp": DELETE}, 401, "'exp'"),
    ("wrong issuer", {"iss": "https://evil.example"}, 403, "no registration for issuer"),
    ("wrong audience", {"aud": "someone-else"}, 403, "client ID"),
    ("several aud without azp", {"aud": ["client-1", "other"]}, 401, "no 'azp'"),
    ("azp not in aud", {"aud": ["client-1", "other"], "azp": "third"}, 401, "not one of its audiences"),
    ("unknown deployment", {"CLAIM_deployment_id": "dep-unknown"}, 403, "is not registered"),
]


@pytest.mark.parametrize("name,overrides,status,text", CERT_GUIDE_CASES, ids=[c[0] for c in CERT_GUIDE_CASES])
def test_bad_payload_refused(client, platform, name, overrides, status, text):
    now = int(time.time())  # times are relative to the moment the test runs, not to collection
    resolved = {k: (v(now) if callable(v) else v) for k, v in overrides.items()}
    assert_refused(platform.launch(client, **resolved), status, text)


def test_aud_list_with_matching_azp_is_accepted(client, platform):
    resp = platform.launch(client, aud=["client-1", "other"], azp="client-1")
    assert resp.status_code == 303


def test_no_kid_refused(client, platform):
    assert_refused(platform.launch(client, sign_kwargs={"kid": DELETE}), 401, "no 'kid'")


def test_unknown_kid_refused_after_one_refetch(client, platform, jwks_server):
    platform.launch(client)  # warms the JWKS cache
    fetches = jwks_server.fetches
    other_pem, _ = new_rsa_key()
    resp = platform.launch(client, sign_kwargs={"key_pem": other_pem, "kid": "not-a-known-kid"})
    assert resp.status_code == 401 and b"no key with kid" in resp.data
    assert jwks_server.fetches == fetches + 1  # exactly one re-fetch


def test_bad_signature_refused(client, platform):
    other_pem, _ = new_rsa_key()
    assert_refused(platform.launch(client, sign_kwargs={"key_pem": other_pem}), 401, "signature")


def test_hs256_with_public_key_refused(client, platform):
    state, nonce = platform.login(client)
    import jwt as pyjwt

    token = pyjwt.encode(
        platform.claims(nonce),
        "a-secret-as-long-as-32-bytes-0123456789",
        algorithm="HS256",
        headers={"kid": platform.jwk["kid"]},
    )
    resp = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert_refused(resp, 401, "RS256")


def test_alg_none_refused(client, platform):
    state, nonce = platform.login(client)
    import jwt as pyjwt

    token = pyjwt.encode(platform.claims(nonce), None, algorithm="none", headers={"kid": platform.jwk["kid"]})
    resp = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert_refused(resp, 401, "RS256")


def test_replayed_id_token_refused(client, platform):
    state, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    assert client.post("/lti/launch", data={"id_token": token, "state": state}).status_code == 303
    again = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert again.status_code == 401 and b"already used" in again.data
    assert table_count(ToolSession) == 1


def test_replay_with_a_fresh_state_is_refused(client, platform):
    """An attacker re-posting a captured id_token with another login's state gets nowhere."""
    state1, nonce1 = platform.login(client)
    token = platform.sign(platform.claims(nonce1))
    assert client.post("/lti/launch", data={"id_token": token, "state": state1}).status_code == 303
    state2, _ = platform.login(client)
    again = client.post("/lti/launch", data={"id_token": token, "state": state2})
    assert again.status_code == 401 and b"nonce does not belong" in again.data


def test_wrong_state_refused(client, platform):
    _, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    assert_refused(
        client.post("/lti/launch", data={"id_token": token, "state": "state-forged"}),
        401,
        "already used or has expired",
    )


def test_missing_state_refused(client, platform):
    _, nonce = platform.login(client)
    token = platform.sign(platform.claims(nonce))
    assert_refused(client.post("/lti/launch", data={"id_token": token}), 400, "no 'state'")


def test_missing_id_token_refused(client, platform):
    state, _ = platform.login(client)
    assert_refused(client.post("/lti/launch", data={"state": state}), 400, "no 'id_token'")


def test_garbage_id_token_refused(client, platform):
    state, _ = platform.login(client)
    assert_refused(client.post("/lti/launch", data={"id_token": "not.a.jwt-at-all", "state": state}), 401)


def test_inactive_deployment_refused(client, platform):
    dep = db.session.query(Deployment).filter_by(deployment_id="dep-1").one()
    dep.active = False
    db.session.commit()
    assert_refused(platform.launch(client), 403, "deactivated")


def test_inactive_registration_refused_at_login(client, platform):
    reg = db.session.get(Registration, platform.registration_id)
    reg.active = False
    db.session.commit()
    resp = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "x",
            "client_id": "client-1",
            "target_link_uri": "http://localhost/lti/launch",
        },
    )
    assert resp.status_code == 403 and b"deactivated" in resp.data


@pytest.mark.parametrize("missing", ["iss", "login_hint", "target_link_uri"])
def test_login_missing_parameters(client, platform, missing):
    query = {"iss": platform.issuer, "login_hint": "x", "target_link_uri": "http://localhost/lti/launch"}
    query.pop(missing)
    resp = client.get("/lti/login", query_string=query)
    assert resp.status_code == 400 and missing.encode() in resp.data


def test_login_for_unknown_issuer(client, platform):
    resp = client.post(
        "/lti/login",
        data={"iss": "https://nobody.example", "login_hint": "x", "target_link_uri": "http://localhost/lti/launch"},
    )
    assert resp.status_code == 403 and b"no registration for issuer" in resp.data


def test_login_target_on_another_site_refused(client, platform):
    resp = client.get(
        "/lti/login",
        query_string={"iss": platform.issuer, "login_hint": "x", "target_link_uri": "https://evil.example/steal"},
    )
    assert resp.status_code == 400 and b"another site" in resp.data


def test_json_clients_get_json_errors(client, platform):
    resp = client.post("/lti/launch", data={}, headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["message"] == "The launch has no 'state' parameter."


def test_clock_skew_leeway_accepts_slightly_early_iat(client, platform):
    resp = platform.launch(client, iat=int(time.time()) + 20)
    assert resp.status_code == 303


def test_jwks_unreachable_gives_clear_error(client, platform, jwks_server):
    jwks_server.fail = True
    resp = platform.launch(client)
    assert resp.status_code == 502 and b"could not be fetched" in resp.data

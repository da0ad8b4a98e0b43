"""Adversarial OIDC logins and launches, generated with hypothesis: malformed, truncated, oversized and
wrongly signed input. Every bad request gets a 4xx with a readable message and writes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto.jwk import JWK
from werkzeug.datastructures import MultiDict

from tests.fuzz_support import (
    FUZZ,
    any_text,
    assert_clean_refusal,
    b64json,
    b64url,
    huge_text,
    json_values,
    jwt_segments,
    nasty_text,
    row_counts,
    tally,
)
from tests.lti_helpers import CLAIM, LEARNER, JwksServer, TestPlatform


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


def fresh_login(client, platform: TestPlatform) -> tuple[str, str]:
    return platform.login(client)


def signed_with_overrides(platform: TestPlatform, nonce: str, overrides: dict) -> str:
    """Correctly RS256-signed by the platform's key, whatever the claims hold (PyJWT's encode would refuse
    some of them; a hostile or broken platform does not)."""
    claims = platform.claims(nonce)
    for name, value in overrides.items():
        claims[name.replace("CLAIM_", CLAIM)] = value
    return jwt.api_jws.PyJWS().encode(
        json.dumps(claims).encode(), platform.private_pem, algorithm="RS256", headers={"kid": platform.jwk["kid"]}
    )


# --- login initiation -------------------------------------------------------------------------

LOGIN_FIELDS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "client_id",
    "lti_message_hint",
    "lti_deployment_id",
    "lti_storage_target",
)


@st.composite
def login_requests(draw, issuer: str, client_id: str):
    good = {
        "iss": issuer,
        "login_hint": "hint",
        "target_link_uri": "http://localhost/lti/launch",
        "client_id": client_id,
        "lti_message_hint": "m",
        "lti_deployment_id": "dep-1",
        "lti_storage_target": "_parent",
    }
    params: list[tuple[str, str]] = []
    for name in LOGIN_FIELDS:
        choice = draw(st.sampled_from(["good", "absent", "nasty", "duplicate"]))
        if choice == "good":
            params.append((name, good[name]))
        elif choice == "nasty":
            params.append((name, draw(nasty_text)))
        elif choice == "duplicate":
            params.extend([(name, draw(nasty_text)), (name, good[name])])
    params.extend(draw(st.lists(st.tuples(any_text, nasty_text), max_size=3)))  # unknown parameters
    method = draw(st.sampled_from(["GET", "POST", "POST-QUERY"]))
    return method, params


def _send_login(client, method: str, params: list[tuple[str, str]]):
    data = MultiDict(params)
    if method == "GET":
        return client.get("/lti/login", query_string=data)
    if method == "POST":
        return client.post("/lti/login", data=data)
    return client.post("/lti/login", query_string=data)  # a POST whose parameters are in the URL


def test_login_fuzz(client, platform):
    @FUZZ
    @given(login_requests(platform.issuer, platform.client_id))
    def check(request):
        tally()
        method, params = request
        before = row_counts()
        resp = _send_login(client, method, params)
        first = {}
        for name, value in params:
            first.setdefault(name, value)
        looks_valid = (
            first.get("iss") == platform.issuer
            and first.get("client_id") in (None, "", platform.client_id)
            and first.get("login_hint")
            and first.get("target_link_uri")
        )
        if resp.status_code in (200, 302):
            # Only a login naming the registered platform may go on, and only to that platform.
            assert looks_valid, (params, resp.status_code)
            if resp.status_code == 302:
                assert resp.location.startswith("https://lms.test/auth?"), resp.location
        else:
            assert_clean_refusal(resp, f"{method} {params!r:.500}")
            if first.get("iss") != platform.issuer:
                assert resp.status_code in (400, 403, 413, 414)
        assert row_counts() == before

    check()


# --- launch: the id_token and the form around it ---------------------------------------------


def test_launch_form_fuzz(client, platform):
    """Whatever a browser posts to /lti/launch without a real login: refused, nothing written."""

    @FUZZ
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["id_token", "state", "lti_storage_proof", "_s", "x"]) | any_text,
                nasty_text | jwt_segments,
            ),
            max_size=6,
        ),
        st.sampled_from(["form", "query", "json"]),
    )
    def check(fields, how):
        tally()
        before = row_counts()
        fields = MultiDict(fields)
        if how == "form":
            resp = client.post("/lti/launch", data=fields)
        elif how == "query":
            resp = client.post("/lti/launch", query_string=fields)
        else:
            resp = client.post("/lti/launch", json=fields.to_dict())
        assert_clean_refusal(resp, f"{how} {fields!r:.300}")
        assert row_counts() == before

    check()


def test_launch_garbage_tokens_after_a_real_login(client, platform):
    """A real login's state, then an id_token whose segments are not base64, not JSON, or JSON of any shape."""

    @FUZZ
    @given(jwt_segments, jwt_segments, jwt_segments, st.integers(min_value=0, max_value=5))
    def check(header, body, signature, dots):
        tally()
        state, _ = fresh_login(client, platform)
        token = ".".join([header, body, signature][: max(dots, 1)] + [""] * max(dots - 3, 0))
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, f"token {token!r:.300}")
        assert row_counts() == before

    check()


def test_launch_garbage_body_under_a_real_header(client, platform):
    """The header names the platform's key, so the body is parsed and the signature checked: any JSON body,
    signed with garbage or unsigned, is refused."""

    @FUZZ
    @given(json_values, st.sampled_from(["", "garbage", "AAAA"]), st.sampled_from(["RS256", "none", "HS256"]))
    def check(body, signature, alg):
        tally()
        state, _ = fresh_login(client, platform)
        header = {"alg": alg, "typ": "JWT", "kid": platform.jwk["kid"]}
        token = f"{b64json(header)}.{b64json(body)}.{signature}"
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, f"body {body!r:.300}")
        assert row_counts() == before

    check()


# Claims that decide who and where: a wrong type or size must be refused, not coerced.
WRONG_SHAPES = {
    "iss": st.one_of(json_values.filter(lambda v: not isinstance(v, str)), huge_text),
    "aud": st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.dictionaries(any_text, any_text, min_size=1),
        st.lists(st.integers(), min_size=1),
        huge_text,
    ),
    "sub": st.one_of(
        st.lists(any_text),
        st.dictionaries(any_text, any_text),
        st.floats(allow_nan=False),
        st.booleans(),
        st.just("s" * 256),
        st.just("\x00"),
        st.just("a\x00b"),
    ),
    "nonce": st.one_of(st.integers(), st.lists(any_text), st.dictionaries(any_text, any_text), huge_text),
    "exp": st.one_of(any_text.filter(lambda s: s.strip() != ""), st.lists(st.integers()), st.none()),
    "iat": st.one_of(any_text.filter(lambda s: s.strip() != ""), st.lists(st.integers()), st.none()),
    "CLAIM_deployment_id": st.one_of(
        st.integers(), st.lists(any_text), st.dictionaries(any_text, any_text), huge_text, st.just("dep-1\x00")
    ),
    "CLAIM_message_type": st.one_of(
        st.integers(), st.lists(any_text, min_size=1), huge_text, st.dictionaries(any_text, any_text, min_size=1)
    ),
    "CLAIM_version": st.one_of(st.integers(), st.floats(allow_nan=False), st.lists(any_text), st.just("1.3")),
    "CLAIM_roles": st.one_of(
        st.just(LEARNER),
        any_text,
        st.integers(),
        st.dictionaries(any_text, any_text),
        st.lists(st.one_of(st.integers(), st.none(), st.lists(any_text)), min_size=1),
        st.just([LEARNER, "x" * 5000]),
    ),
    "CLAIM_context": st.one_of(
        st.lists(json_values),
        any_text,
        st.integers(),
        st.fixed_dictionaries(
            {
                "id": st.one_of(
                    st.lists(any_text),
                    st.dictionaries(any_text, any_text),
                    st.just("c" * 256),
                    st.just("c\x00"),
                    st.floats(),
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "id": st.just("course-1"),
                "title": st.one_of(st.lists(any_text, min_size=1), st.dictionaries(any_text, any_text, min_size=1)),
            }
        ),
    ),
    "CLAIM_resource_link": st.one_of(
        st.lists(json_values),
        any_text,
        st.integers(),
        st.fixed_dictionaries(
            {"id": st.one_of(st.lists(any_text), st.just("r" * 256), st.integers(), st.just("\x00"))}
        ),
    ),
}
OPTIONAL_CLAIMS = {
    "name": json_values,
    "given_name": json_values,
    "family_name": json_values,
    "email": json_values,
    "CLAIM_custom": json_values,
    "CLAIM_launch_presentation": json_values,
    "CLAIM_tool_platform": json_values,
    "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": json_values,
    "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": json_values,
    "CLAIM_lis": json_values,
    "CLAIM_target_link_uri": json_values,
}


def test_well_signed_launch_with_claims_of_the_wrong_shape(client, platform):
    """Signed by the registered platform's own key, so only the claim checks stand between it and the database."""

    @FUZZ
    @given(st.data())
    def check(data):
        tally()
        chosen = data.draw(st.lists(st.sampled_from(sorted(WRONG_SHAPES)), min_size=1, max_size=3, unique=True))
        overrides = {name: data.draw(WRONG_SHAPES[name], label=name) for name in chosen}
        state, nonce = fresh_login(client, platform)
        token = signed_with_overrides(platform, nonce, overrides)
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, f"claims {overrides!r:.500}")
        assert row_counts() == before

    check()


def test_well_signed_launch_with_odd_optional_claims(client, platform):
    """Optional claims of odd shapes are ignored or refused, never a crash; what is stored is plain text."""
    from sqlalchemy import select

    from lti_tool.launch.models import LtiUser, ResourceLink
    from lti_tool.store.db import db

    @FUZZ
    @given(st.data())
    def check(data):
        tally()
        chosen = data.draw(st.lists(st.sampled_from(sorted(OPTIONAL_CLAIMS)), min_size=1, max_size=4, unique=True))
        overrides = {name: data.draw(OPTIONAL_CLAIMS[name], label=name) for name in chosen}
        state, nonce = fresh_login(client, platform)
        token = signed_with_overrides(platform, nonce, overrides)
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        if resp.status_code != 303:
            assert_clean_refusal(resp, f"claims {overrides!r:.500}")
            return
        db.session.expire_all()
        user = db.session.scalar(select(LtiUser).where(LtiUser.sub == "user-1"))
        for field in ("name", "given_name", "family_name", "email"):
            assert isinstance(getattr(user, field), str) and "\x00" not in getattr(user, field)
        link = db.session.scalar(select(ResourceLink))
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in (link.custom or {}).items())

    check()


def test_huge_and_odd_state_values(client, platform):
    @FUZZ
    @given(st.one_of(huge_text, nasty_text))
    def check(state):
        tally()
        _, nonce = fresh_login(client, platform)
        token = platform.sign(platform.claims(nonce))
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, f"state {state!r:.200}")
        assert row_counts() == before

    check()


# --- wrongly signed: the classic JWT attacks, by hand ----------------------------------------


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64json(claims)}"
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _public_pem(platform: TestPlatform) -> bytes:
    return JWK(**platform.jwk).export_to_pem()


@pytest.mark.parametrize("secret_kind", ["pem", "pem-no-newline", "jwk-json", "modulus"])
def test_hs256_signed_with_the_platforms_public_key(client, platform, secret_kind):
    """Algorithm confusion: the attacker signs with HMAC using the public key as the shared secret."""
    pem = _public_pem(platform)
    secret = {
        "pem": pem,
        "pem-no-newline": pem.strip(),
        "jwk-json": json.dumps(platform.jwk).encode(),
        "modulus": platform.jwk["n"].encode(),
    }[secret_kind]
    state, nonce = fresh_login(client, platform)
    before = row_counts()
    resp = client.post(
        "/lti/launch", data={"id_token": _hs256(platform.claims(nonce), secret, platform.jwk["kid"]), "state": state}
    )
    assert_clean_refusal(resp)
    assert resp.status_code == 401 and "RS256" in resp.data.decode()
    assert row_counts() == before


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_token_refused_in_every_spelling(client, platform, alg):
    state, nonce = fresh_login(client, platform)
    token = f"{b64json({'alg': alg, 'kid': platform.jwk['kid']})}.{b64json(platform.claims(nonce))}."
    before = row_counts()
    resp = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert_clean_refusal(resp)
    assert resp.status_code == 401
    assert row_counts() == before


def _ec_key(kid: str) -> tuple[str, dict]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = json.loads(JWK.from_pem(pem.encode()).export_public())
    jwk.update({"kid": kid, "use": "sig"})
    return pem, jwk


@pytest.mark.parametrize(
    "kind", ["ec-signed-es256", "ec-header-rs256", "oct-hs256", "oct-header-rs256", "rsa-with-alg-hs256", "not-a-jwk"]
)
def test_wrong_key_type_under_the_right_kid(app, client, kind):
    """The platform's JWKS holds a key of the wrong type under the kid the token names: refused before any
    signature check could be fooled by it."""
    server = JwksServer()
    try:
        platform = TestPlatform(server)
        kid = platform.jwk["kid"]
        state, nonce = fresh_login(client, platform)
        claims = platform.claims(nonce)
        if kind.startswith("ec"):
            ec_pem, ec_jwk = _ec_key(kid)
            server.keys[:] = [ec_jwk]
            if kind == "ec-signed-es256":
                token = jwt.encode(claims, ec_pem, algorithm="ES256", headers={"kid": kid})
            else:
                token = platform.sign(claims)
        elif kind.startswith("oct"):
            secret = b"s" * 32
            server.keys[:] = [{"kty": "oct", "kid": kid, "k": b64url(secret)}]
            token = _hs256(claims, secret, kid) if kind == "oct-hs256" else platform.sign(claims)
        elif kind == "rsa-with-alg-hs256":
            server.keys[:] = [{**platform.jwk, "alg": "HS256"}]
            token = platform.sign(claims)
        else:
            server.keys[:] = [{"kid": kid, "kty": "RSA", "n": "!!", "e": 3}]
            token = platform.sign(claims)
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, kind)
        assert resp.status_code == 401
        assert row_counts() == before
    finally:
        server.close()


def test_fuzzed_header_algorithms_and_kids(client, platform):
    @FUZZ
    @given(
        st.one_of(
            st.sampled_from(["RS384", "RS512", "PS256", "ES256", "EdDSA", "HS512", "", "rs256", "RS256 "]),
            any_text,
            st.integers(),
            st.none(),
            st.lists(any_text),
        ),
        st.one_of(st.just("right"), any_text, huge_text, st.integers(), st.lists(any_text), st.none()),
    )
    def check(alg, kid):
        tally()
        state, nonce = fresh_login(client, platform)
        header = {"alg": alg, "typ": "JWT", "kid": platform.jwk["kid"] if kid == "right" else kid}
        signing_input = f"{b64json(header)}.{b64json(platform.claims(nonce))}"
        token = signing_input + "." + b64url(b"x" * 256)
        before = row_counts()
        resp = client.post("/lti/launch", data={"id_token": token, "state": state})
        assert_clean_refusal(resp, f"header {header!r:.300}")
        assert row_counts() == before

    check()


def test_a_good_launch_still_passes(client, platform):
    """The control: the same helpers, unmodified, give a working launch."""
    state, nonce = fresh_login(client, platform)
    resp = client.post("/lti/launch", data={"id_token": platform.sign(platform.claims(nonce)), "state": state})
    assert resp.status_code == 303 and urlsplit(resp.location).path == "/start"

"""The verification library: a round trip, and each way a credential must be rejected, with the reason."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json

import jwt
import pytest

from lti_tool.credentials import issuer, status_list, vc_jwt
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.revocation import revoke
from lti_tool.credentials.verify import local_status_fetcher, verify_here, verify_vc_jwt
from lti_tool.launch.keys import ToolKey
from lti_tool.store.db import db
from tests.credential_helpers import award_through_workflow
from tests.lti_helpers import new_rsa_key


@pytest.fixture
def issued(app):
    return credential_for(award_through_workflow())


def _resign(payload: dict, *, key_pem: str | None = None, kid: str | None = None) -> str:
    """Sign an arbitrary payload with the issuer's own key (or another one) under the issuer's kid."""
    key = issuer.signing_key()
    return jwt.encode(
        payload,
        key_pem or key.private_pem,
        algorithm="RS256",
        headers={"kid": kid or issuer.key_url(key.kid), "typ": "JWT"},
    )


def _payload(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_round_trip_is_valid(issued):
    result = verify_here(issued.jwt)
    assert result.valid, result.problems
    assert result.problems == [] and not result.revoked
    assert result.credential == issued.credential and result.kid == issued.kid
    assert any(c.startswith("Signature: verified") for c in result.checks)
    assert any(c.startswith("Status: not revoked") for c in result.checks)


def test_tampered_payload_is_rejected(issued):
    header, payload, signature = issued.jwt.split(".")
    body = _payload(issued.jwt)
    body["credentialSubject"]["creditsEarned"] = 120.0
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    result = verify_here(f"{header}.{forged}.{signature}")
    assert not result.valid
    assert "The signature does not match" in result.problems[0]


def test_signed_with_another_key_under_the_issuer_kid_is_rejected(issued):
    other_pem, _ = new_rsa_key()
    result = verify_here(_resign(_payload(issued.jwt), key_pem=other_pem))
    assert not result.valid and "signature does not match" in result.problems[0]


def test_unknown_key_is_rejected(issued):
    other_pem, _ = new_rsa_key()
    result = verify_here(_resign(_payload(issued.jwt), key_pem=other_pem, kid="https://evil.example/key"))
    assert not result.valid and "not among the issuer's published keys" in result.problems[0]


def test_other_algorithms_and_garbage_are_rejected(issued):
    hs = jwt.encode(_payload(issued.jwt), "s" * 32, algorithm="HS256", headers={"kid": issued.kid})
    assert "only RS256" in verify_here(hs).problems[0]
    assert "not a compact JWT" in verify_here("not a jwt").problems[0]
    unsigned = issued.jwt.rsplit(".", 1)[0] + "."
    assert not verify_here(unsigned).valid


def test_expired_credential_is_rejected(issued):
    payload = _payload(issued.jwt)
    payload["validUntil"] = "2020-01-31T00:00:00Z"
    payload["exp"] = int(dt.datetime(2020, 1, 31, tzinfo=dt.UTC).timestamp())
    payload["validFrom"] = "2019-01-01T00:00:00Z"
    payload["nbf"] = int(dt.datetime(2019, 1, 1, tzinfo=dt.UTC).timestamp())
    result = verify_here(_resign(payload))
    assert not result.valid
    assert result.problems == ["The credential expired on 2020-01-31 00:00 UTC."]


def test_not_yet_valid_is_rejected(issued):
    payload = _payload(issued.jwt)
    future = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    payload["validFrom"] = vc_jwt.format_datetime(future)
    payload["nbf"] = int(future.timestamp())
    result = verify_here(_resign(payload))
    assert not result.valid and result.problems[0].startswith("The credential is not valid before")


def test_valid_until_without_exp_is_rejected(issued):
    payload = _payload(issued.jwt)
    payload["validUntil"] = "2999-01-01T00:00:00Z"
    result = verify_here(_resign(payload))
    assert result.problems == ["The credential has a validUntil but the JWT has no exp claim."]


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("iss", "https://someone-else.example/issuer", "The JWT issuer (iss"),
        ("sub", "urn:uuid:00000000-0000-0000-0000-000000000000", "The JWT subject (sub"),
        ("jti", "urn:uuid:11111111-1111-1111-1111-111111111111", "The JWT id (jti"),
        ("nbf", 0, "The JWT nbf claim does not equal"),
    ],
)
def test_claims_must_match_the_credential(issued, claim, value, reason):
    payload = _payload(issued.jwt)
    payload[claim] = value
    result = verify_here(_resign(payload))
    assert not result.valid
    assert any(p.startswith(reason) for p in result.problems), result.problems


def test_missing_claims_are_rejected(issued):
    payload = _payload(issued.jwt)
    del payload["nbf"], payload["sub"]
    problems = verify_here(_resign(payload)).problems
    assert "The JWT has no nbf claim (it must equal validFrom)." in problems
    assert any(p.startswith("The JWT subject (sub None)") for p in problems)


def test_revoked_credential_is_rejected(issued):
    revoke(issued.award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    result = verify_here(issued.jwt)
    assert not result.valid and result.revoked
    assert result.problems == ["The issuer has revoked this credential."]


def test_vcdm_11_style_vc_claim_is_read(issued):
    """Credentials following VCDM 1.1 carry the credential in a `vc` claim (OB 3.0 verification note)."""
    payload = _payload(issued.jwt)
    claims = {k: payload.pop(k) for k in ("iss", "sub", "nbf", "jti")}
    result = verify_here(_resign({**claims, "vc": payload}))
    assert result.valid, result.problems


def test_status_list_that_cannot_be_fetched_fails_with_reason(issued):
    def broken(url: str) -> str:
        raise ConnectionError("connection refused")

    result = verify_vc_jwt(issued.jwt, issuer.issuer_jwks(), fetch_status_list=broken)
    assert not result.valid and "connection refused" in result.problems[0]
    no_fetch = verify_vc_jwt(issued.jwt, issuer.issuer_jwks())
    assert "could not be checked" in no_fetch.problems[0]


def test_status_list_not_signed_by_the_issuer_is_refused(issued):
    listing = status_list.status_list_credential(1)
    other_pem, _ = new_rsa_key()
    forged = vc_jwt.sign(listing, ToolKey(kid="x", created="0", private_pem=other_pem, public_pem=""), issued.kid)
    result = verify_vc_jwt(issued.jwt, issuer.issuer_jwks(), fetch_status_list=lambda url: forged)
    assert not result.valid and "not signed by the issuer" in result.problems[0]


def test_status_list_served_over_http_reflects_revocation(issued, client):
    """The public endpoint's list, fetched the way a remote verifier does."""

    def over_http(url: str) -> str:
        resp = client.get(url.removeprefix(issuer.base_url()))
        assert resp.status_code == 200 and resp.mimetype == "application/vc+jwt"
        return resp.get_data(as_text=True)

    jwks = client.get("/credentials/issuer/jwks.json").get_json()
    assert verify_vc_jwt(issued.jwt, jwks, fetch_status_list=over_http).valid
    revoke(issued.award, "Awarded in error by the centre", actor_label="test")
    db.session.commit()
    result = verify_vc_jwt(issued.jwt, jwks, fetch_status_list=over_http)
    assert result.revoked and not result.valid
    assert client.get("/credentials/status/2").status_code == 404
    assert client.get("/credentials/status/0").status_code == 404


def test_status_list_document_is_a_signed_bitstring_status_list_credential(issued, client):
    revoke(issued.award, "Awarded in error by the centre", actor_label="test")
    db.session.commit()
    token = client.get("/credentials/status/1").get_data(as_text=True)
    header = jwt.get_unverified_header(token)
    payload = _payload(token)
    assert header["alg"] == "RS256" and header["kid"] == issuer.key_url(issuer.signing_key().kid)
    assert payload["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert payload["iss"] == payload["issuer"] == issuer.issuer_id()
    assert payload["jti"] == payload["id"] == issuer.status_list_url(1)
    subject = payload["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    data = gzip.decompress(base64.urlsafe_b64decode(subject["encodedList"][1:] + "=="))
    assert len(data) * 8 == status_list.LIST_SIZE
    index = issued.status_index
    assert data[index // 8] & (0x80 >> (index % 8))
    assert sum(bin(b).count("1") for b in data) == 1


def test_bitstring_encoding_round_trip():
    encoded = status_list.encode([0, 7, 8, 131_071])
    assert encoded.startswith("u") and "=" not in encoded
    data = status_list.decode(encoded)
    assert [status_list.bit(data, i) for i in (0, 1, 7, 8, 9, 131_071)] == [1, 0, 1, 1, 0, 1]
    assert data[0] == 0b1000_0001
    with pytest.raises(status_list.StatusListError):
        status_list.bit(data, 131_072)
    with pytest.raises(status_list.StatusListError):
        status_list.decode("zABC")
    short = "u" + base64.urlsafe_b64encode(gzip.compress(b"\0" * 10)).decode().rstrip("=")
    with pytest.raises(status_list.StatusListError, match="shorter"):
        status_list.decode(short)


def test_slots_fill_one_list_before_the_next():
    assert status_list.slot_for(1) == (1, 0)
    assert status_list.slot_for(status_list.LIST_SIZE) == (1, status_list.LIST_SIZE - 1)
    assert status_list.slot_for(status_list.LIST_SIZE + 1) == (2, 0)


def test_local_fetcher_only_answers_for_this_tools_lists(app):
    fetch = local_status_fetcher()
    with pytest.raises(ValueError, match="not a status list of this tool"):
        fetch("https://elsewhere.example/credentials/status/1")
    assert local_status_fetcher(lambda url: "from-fallback")("https://elsewhere.example/x") == "from-fallback"

"""Tool keys: generated with mode 0600, rotated with the old key still published, retired on request."""

from __future__ import annotations

import stat

import jwt
import pytest

from lti_tool.launch.keys import KeyStore, KeyStoreError
from lti_tool.launch.platform_keys import jwk_to_pem


def test_first_key_is_generated_private(tmp_path):
    store = KeyStore(tmp_path / "keys")
    key = store.ensure()
    files = list((tmp_path / "keys").glob("tool-*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert store.ensure().kid == key.kid  # no new key on restart


def test_rotation_keeps_old_tokens_verifiable_and_publishes_both(tmp_path):
    store = KeyStore(tmp_path / "keys")
    old = store.ensure()
    token = jwt.encode({"iss": "tool", "n": 1}, old.private_pem, algorithm="RS256", headers={"kid": old.kid})
    new = store.rotate()
    assert store.signing_key().kid == new.kid != old.kid
    published = {k["kid"]: k for k in store.jwks()["keys"]}
    assert set(published) == {old.kid, new.kid}
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, jwk_to_pem(published[header["kid"]]), algorithms=["RS256"])
    assert claims["n"] == 1


def test_retire_removes_old_key_from_jwks_but_never_the_signing_key(tmp_path):
    store = KeyStore(tmp_path / "keys")
    old = store.ensure()
    new = store.rotate()
    with pytest.raises(KeyStoreError, match="signing now"):
        store.retire(new.kid)
    store.retire(old.kid)
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid]
    assert (tmp_path / "keys" / "retired").is_dir()  # kept on disk, not destroyed
    with pytest.raises(KeyStoreError, match="No active key"):
        store.retire("nope")


def test_another_process_rotating_is_seen(tmp_path):
    a = KeyStore(tmp_path / "keys")
    b = KeyStore(tmp_path / "keys")
    a.ensure()
    new = b.rotate()
    assert a.signing_key().kid == new.kid


def test_jwks_route_serves_all_active_keys_after_rotation(client, app):
    from lti_tool.launch.keys import key_store

    before = {k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]}
    key_store().rotate()
    after = {k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]}
    assert before < after and len(after) == len(before) + 1


def test_platform_key_rotation_is_picked_up_by_refetch(client, app):
    """The platform rotates: a launch signed with its new key works (one JWKS re-fetch), and a launch
    signed with the old key still works while the platform still publishes it."""
    from tests.lti_helpers import JwksServer, TestPlatform, new_rsa_key

    server = JwksServer()
    try:
        platform = TestPlatform(server)
        assert platform.launch(client).status_code == 303  # caches the JWKS with the old key
        new_pem, new_jwk = new_rsa_key()
        server.keys.append(new_jwk)
        resp = platform.launch(client, sign_kwargs={"key_pem": new_pem, "kid": new_jwk["kid"]})
        assert resp.status_code == 303, resp.data
        assert platform.launch(client).status_code == 303  # old key, still published
    finally:
        server.close()

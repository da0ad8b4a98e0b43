"""Issued credentials checked with libraries the tool does not sign with, against contexts shipped with the
tests (tests/contexts, never fetched):

- strict JSON-LD: PyLD expansion loses nothing (no undefined term, no relative IRI);
- the embedded Data Integrity proof (eddsa-rdfc-2022): canonicalized here with PyLD, hashed, and the Ed25519
  signature checked with PyNaCl against the key the issuer publishes (the tool signs with `cryptography`);
- the VC-JWT: joserfc (the tool signs with PyJWT);
- the status list: random indexes for new credentials, old slots kept, and revocation flips the right bit,
  decoded here with gzip and base64 alone.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pyld import jsonld
from sqlalchemy import select
from werkzeug.serving import make_server

from lti_tool.credentials import data_integrity, issuer, status_list
from lti_tool.credentials.cli import credential_cli
from lti_tool.credentials.issuance import credential_for, issue_for_award
from lti_tool.credentials.models import IssuedCredential
from lti_tool.credentials.revocation import revoke
from lti_tool.credentials.verify import issuer_key_resolver, verify_credential_json, verify_json_here
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db
from tests.conftest import make_test_app
from tests.credential_helpers import award_through_workflow, learner, ready_for_award

HERE = Path(__file__).parent
CONTEXTS = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-extensions.json",
    "https://w3id.org/security/multikey/v1": "multikey-v1.json",
}
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def loader(url: str, options: Any = None) -> dict[str, Any]:
    if url not in CONTEXTS:  # the test fails rather than fetch anything
        raise AssertionError(f"unexpected context {url}")
    document = json.loads((HERE / "contexts" / CONTEXTS[url]).read_text())
    return {"contextUrl": None, "documentUrl": url, "document": document}


def nquads(document: dict[str, Any]) -> str:
    return jsonld.normalize(
        document, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader}
    )


def assert_strict(document: dict[str, Any]) -> None:
    """Nothing is dropped or left relative: adding a catch-all @vocab changes no triple (it would give every
    undefined term and relative type an IRI), and the expansion holds no relative @id or @type."""
    contexts = document["@context"] if isinstance(document["@context"], list) else [document["@context"]]
    caught = {**document, "@context": [*contexts, {"@vocab": "https://undefined.invalid/#"}]}
    assert nquads(caught) == nquads(document), "a term is not defined by the listed contexts"
    assert "undefined.invalid" not in nquads(caught)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key in ("@id", "@type"):
                values = node.get(key)
                if key == "@type" and "@value" in node:
                    continue
                for value in values if isinstance(values, list) else [values] if values else []:
                    assert value.startswith("_:") or ":" in value.split("/")[0], f"relative {key} {value!r}"
            for value in node.values():
                walk(value)

    walk(jsonld.expand(document, {"documentLoader": loader}))


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + B58.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def published_key(client, method: str) -> VerifyKey:
    """The Ed25519 key behind a verification method URL, as any verifier would find it over HTTP."""
    doc = client.get(method.removeprefix(issuer.base_url())).get_json()
    assert doc["type"] == "Multikey" and doc["id"] == method and doc["controller"] == issuer.issuer_id()
    assert_strict(doc)
    profile = client.get("/credentials/issuer").get_json()
    assert method in [m["id"] for m in profile["assertionMethod"]]
    raw = b58decode(doc["publicKeyMultibase"][1:])
    assert doc["publicKeyMultibase"].startswith("z6Mk") and raw[:2] == b"\xed\x01" and len(raw) == 34
    return VerifyKey(raw[2:])


def check_proof(document: dict[str, Any], key: VerifyKey) -> None:
    """eddsa-rdfc-2022 verification, step by step (raises BadSignatureError when it does not hold)."""
    proof = dict(document["proof"])
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod" and proof["proofValue"].startswith("z")
    signature = b58decode(proof.pop("proofValue")[1:])
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {"@context": unsecured["@context"], **proof}
    data = hashlib.sha256(nquads(config).encode()).digest() + hashlib.sha256(nquads(unsecured).encode()).digest()
    key.verify(data, signature)


@pytest.fixture
def issued(app):
    return credential_for(award_through_workflow())


def test_shipped_contexts_are_the_ones_the_tool_signs_with():
    package = HERE.parent / "lti_tool" / "credentials" / "contexts"
    for name in CONTEXTS.values():
        assert (package / name).read_bytes() == (HERE / "contexts" / name).read_bytes()


def test_credential_is_strict_json_ld(issued):
    assert_strict(issued.credential)
    assert_strict(issued.proofed)


def test_the_strict_check_catches_what_safe_mode_refuses(issued):
    old_style = copy.deepcopy(issued.credential)
    old_style["@context"] = old_style["@context"][:2]  # without the extensions context, as before issue 22
    with pytest.raises(AssertionError, match="not defined"):
        assert_strict(old_style)
    extra = {**issued.credential, "jwks_uri": "https://example.org/jwks"}
    with pytest.raises(AssertionError, match="not defined"):
        assert_strict(extra)


def test_issuer_profile_and_verification_method_are_strict_json_ld(issued, client):
    profile = client.get("/credentials/issuer").get_json()
    assert_strict(profile)
    assert profile["jwks_uri"] == issuer.issuer_jwks_url()
    method = issued.proofed["proof"]["verificationMethod"]
    assert method.startswith(issuer.issuer_id() + "/keys/z6Mk")
    published_key(client, method)


def test_embedded_proof_verifies_with_pynacl(issued, client):
    document = issued.proofed
    assert {k: v for k, v in document.items() if k != "proof"} == issued.credential
    check_proof(document, published_key(client, document["proof"]["verificationMethod"]))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["credentialSubject"].update(licenseNumber="CMIACR-2025-999999"),
        lambda d: d.update(validFrom="2001-01-01T00:00:00Z"),
        lambda d: d["proof"].update(created="2001-01-01T00:00:00Z"),
    ],
    ids=["subject", "validFrom", "proof-options"],
)
def test_a_changed_credential_fails_the_pynacl_check_and_ours(issued, client, change):
    document = copy.deepcopy(issued.proofed)
    change(document)
    key = published_key(client, document["proof"]["verificationMethod"])
    with pytest.raises(BadSignatureError):
        check_proof(document, key)
    result = verify_json_here(document)
    assert not result.valid and any("signature does not match" in p for p in result.problems)


def test_vc_jwt_verifies_with_joserfc(issued, client):
    jwks = client.get("/credentials/issuer/jwks.json").get_json()
    token = jws.deserialize_compact(issued.jwt, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert token.headers() == {"alg": "RS256", "typ": "JWT", "kid": issued.kid}
    payload = json.loads(token.payload)
    assert payload["jti"] == issued.credential["id"] and "proof" not in payload


def test_our_verifier_accepts_the_json_and_reports_revocation(app, issued):
    result = verify_json_here(issued.proofed)
    assert result.valid, result.problems
    assert any(c.startswith("Embedded proof (eddsa-rdfc-2022)") for c in result.checks)
    revoke(issued.award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    result = verify_json_here(issued.proofed)
    assert not result.valid and result.revoked


def test_json_without_a_proof_or_from_elsewhere_is_refused(issued):
    result = verify_json_here(issued.credential)
    assert not result.valid and "no embedded proof" in result.problems[0]
    other = copy.deepcopy(issued.proofed)
    other["issuer"]["id"] = "https://elsewhere.example/issuer"
    result = verify_json_here(other)
    assert not result.valid and "not this tool's issuer" in result.problems[0]


# ---- status list ---------------------------------------------------------------------------------------


def _bit(client, url: str, index: int) -> int:
    token = client.get(url.removeprefix(issuer.base_url())).get_data(as_text=True)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    encoded = payload["credentialSubject"]["encodedList"]
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    return (bits[index // 8] >> (7 - index % 8)) & 1


def test_new_credentials_draw_random_indexes(app, monkeypatch):
    drawn = iter([90_001, 17])
    monkeypatch.setattr(status_list.secrets, "randbelow", lambda n: next(drawn) if n == status_list.LIST_SIZE else 0)
    a = credential_for(award_through_workflow(number="N-1"))
    b = credential_for(award_through_workflow(user=learner(sub="other", name="Ben Carter"), number="N-2"))
    assert (a.status_list, a.status_index) == (1, 90_001) and (b.status_list, b.status_index) == (1, 17)
    status = a.credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusListIndex"] == "90001"
    assert status["statusListCredential"] == issuer.status_list_url(1)


def test_a_taken_index_is_drawn_again_and_old_slots_are_kept(app, client, monkeypatch):
    # A credential issued before random indexes: it keeps the sequential slot its row got.
    _, old_award = ready_for_award(number="OLD-1")
    legacy = issue_for_award(old_award)
    legacy.status_index = 0
    db.session.commit()
    drawn = iter([0, 0, 5])  # the first two picks collide with the old slot
    monkeypatch.setattr(status_list.secrets, "randbelow", lambda n: next(drawn))
    new = credential_for(award_through_workflow(user=learner(sub="b", name="Ben Carter"), number="N-2"))
    assert (new.status_list, new.status_index) == (1, 5)
    assert db.session.get(IssuedCredential, legacy.id).status_index == 0
    url = issuer.status_list_url(1)
    assert _bit(client, url, 0) == 0 and _bit(client, url, 5) == 0
    revoke(new.award, "Awarded in error by the centre", actor_label="test")
    db.session.commit()
    assert _bit(client, url, 5) == 1 and _bit(client, url, 0) == 0


def test_a_slot_lost_to_a_concurrent_issuer_is_retried(app, monkeypatch):
    first = credential_for(award_through_workflow(number="N-1"))
    taken = (first.status_list, first.status_index)
    picks = iter([taken, (1, (taken[1] + 1) % status_list.LIST_SIZE)])
    seen: list[list[tuple[int, int]]] = []

    def race(avoid=()):
        seen.append(list(avoid))
        return next(picks)  # as if another process took the slot between our check and our insert

    monkeypatch.setattr(status_list, "random_slot", race)
    second = credential_for(award_through_workflow(user=learner(sub="b", name="Ben Carter"), number="N-2"))
    assert second.status_index == (taken[1] + 1) % status_list.LIST_SIZE
    assert seen == [[], [taken]]
    assert len(list(db.session.scalars(select(IssuedCredential.id)))) == 2


def test_a_full_list_opens_the_next(app, monkeypatch):
    award_through_workflow(number="N-1")
    monkeypatch.setattr(status_list, "LIST_FILL", 1)
    second = credential_for(award_through_workflow(user=learner(sub="b", name="Ben Carter"), number="N-2"))
    assert second.status_list == 2


# ---- where learners and verifiers get it -----------------------------------------------------------------


def test_cli_verifies_the_json_download(app, issued, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(issued.proofed))
    result = runner.invoke(credential_cli, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok: Embedded proof (eddsa-rdfc-2022)" in result.output and "VALID" in result.output
    tampered = copy.deepcopy(issued.proofed)
    tampered["name"] = "Something else"
    path.write_text(json.dumps(tampered))
    result = runner.invoke(credential_cli, ["verify", str(path)])
    assert result.exit_code != 0 and "signature does not match" in result.output


def test_verification_record_checks_both_proofs(issued, client):
    record = client.get(f"/verify/{issued.award.certificate_number}.json").get_json()
    assert record["status"] == "valid" and record["signature"]["valid"]
    assert record["signature"]["embedded_proof"]["valid"]
    assert any(c.startswith("Signature: verified") for c in record["signature"]["checks"])
    assert any(c.startswith("Embedded proof") for c in record["signature"]["checks"])


def test_a_broken_embedded_proof_shows_on_the_verification_page(issued, client):
    broken = copy.deepcopy(issued.proofed)
    broken["proof"]["proofValue"] = "z" + "1" * 80
    issued.proofed = broken
    db.session.commit()
    record = client.get(f"/verify/{issued.award.certificate_number}.json").get_json()
    assert record["status"] == "not_verified" and not record["signature"]["embedded_proof"]["valid"]


def test_cli_adds_proofs_to_older_credentials_and_rotates_both_keys(app, client):
    runner = app.test_cli_runner()
    old = credential_for(award_through_workflow(number="OLD-1"))
    old.credential = {**old.credential, "@context": old.credential["@context"][:2]}
    old.proofed = None
    db.session.commit()
    result = runner.invoke(credential_cli, ["add-proofs"])
    assert result.exit_code == 0 and "Embedded proofs added: 1; refused: 0." in result.output
    db.session.expire_all()
    old = credential_for(old.award)
    first_method = old.proofed["proof"]["verificationMethod"]
    check_proof(old.proofed, published_key(client, first_method))
    assert runner.invoke(credential_cli, ["add-proofs"]).output.strip() == "Embedded proofs added: 0; refused: 0."
    result = runner.invoke(credential_cli, ["rotate-key"])
    assert result.exit_code == 0 and "New embedded-proof key" in result.output
    new = credential_for(award_through_workflow(user=learner(sub="b", name="Ben Carter"), number="NEW-1"))
    second_method = new.proofed["proof"]["verificationMethod"]
    assert second_method != first_method
    # both keys stay published: what was signed before still verifies, with PyNaCl and with ours
    check_proof(old.proofed, published_key(client, first_method))
    check_proof(new.proofed, published_key(client, second_method))
    assert verify_json_here(old.proofed).valid and verify_json_here(new.proofed).valid
    listed = runner.invoke(credential_cli, ["keys"]).output
    assert f"{first_method}\t" in listed and f"{second_method}\t" in listed and "signing embedded proofs" in listed


# ---- another issuer's credential: finding its key over HTTP ---------------------------------------------


def test_resolver_accepts_only_keys_the_issuer_lists(issued, client):
    method = issued.proofed["proof"]["verificationMethod"]

    def served(url: str):
        return client.get(url.removeprefix(issuer.base_url())).get_json()

    resolve = issuer_key_resolver(issuer.issuer_id(), served)
    assert len(resolve(method)) == 32
    other = issuer_key_resolver("https://elsewhere.example/issuer", served)
    with pytest.raises(data_integrity.ProofError, match="not controlled by the issuer"):
        other(method)

    def unlisted(url: str):
        doc = served(url)
        return {**doc, "assertionMethod": []} if url == issuer.issuer_id() else doc

    with pytest.raises(data_integrity.ProofError, match="does not list"):
        issuer_key_resolver(issuer.issuer_id(), unlisted)(method)
    result = verify_credential_json(issued.proofed, resolve, issuer.issuer_jwks(), fetch_status_list=None)
    assert result.kid == method and any("could not be checked" in p for p in result.problems)  # no status fetcher


def test_verification_page_says_both_signatures_were_checked(issued, client):
    html = client.get(f"/verify/{issued.award.certificate_number}").get_data(as_text=True)
    assert "signatures were checked just now: the certificate is authentic" in " ".join(html.split())
    assert "Embedded proof (eddsa-rdfc-2022): verified with the issuer&#39;s key" in html


def test_status_list_as_json_ld_carries_an_embedded_proof(issued, client):
    url = issued.credential["credentialStatus"]["statusListCredential"]
    path = url.removeprefix(issuer.base_url())
    as_jwt = client.get(path)  # what VC-JWT verifiers (and ours) get, as before
    assert as_jwt.mimetype == "application/vc+jwt" and as_jwt.get_data(as_text=True).count(".") == 2
    resp = client.get(path, headers={"Accept": "application/ld+json, application/json"})
    assert resp.mimetype == "application/json" and resp.headers["Vary"] == "Accept"
    listing = resp.get_json()
    assert listing["id"] == url and listing["issuer"] == issuer.issuer_id()
    assert_strict(listing)
    check_proof(listing, published_key(client, listing["proof"]["verificationMethod"]))
    index = issued.status_index
    bits = lambda doc: gzip.decompress(base64.urlsafe_b64decode(doc[1:] + "=" * (-len(doc[1:]) % 4)))  # noqa: E731
    assert (bits(listing["credentialSubject"]["encodedList"])[index // 8] >> (7 - index % 8)) & 1 == 0
    revoke(issued.award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    listing = client.get(path, headers={"Accept": "application/ld+json"}).get_json()
    check_proof(listing, published_key(client, listing["proof"]["verificationMethod"]))
    assert (bits(listing["credentialSubject"]["encodedList"])[index // 8] >> (7 - index % 8)) & 1 == 1


def test_cli_verifies_another_issuers_json_over_http(tmp_path):
    """Another installation's credential: the key, the issuer profile (assertionMethod, jwks_uri) and the status
    list are fetched over HTTP from the issuer, as any verifier would."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("issuer", "verifier"):
        (tmp_path / name).mkdir()
    issuer_app = make_test_app(
        "sqlite", tmp_path / "issuer", tmp_path / "issuer-keys", DEMO_BASE_URL=f"http://127.0.0.1:{port}"
    )
    with issuer_app.app_context():
        award = award_through_workflow()
        document, award_id = credential_for(award).proofed, award.id
        db.session.remove()
    server = make_server("127.0.0.1", port, issuer_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        verifier_app = make_test_app("sqlite", tmp_path / "verifier", tmp_path / "verifier-keys")
        with verifier_app.app_context():
            assert issuer.issuer_id() != document["issuer"]["id"]
            runner = verifier_app.test_cli_runner()
            path = tmp_path / "certificate.json"
            path.write_text(json.dumps(document))
            result = runner.invoke(credential_cli, ["verify", str(path)])
            assert result.exit_code == 0, result.output
            assert f"verified with the issuer's key http://127.0.0.1:{port}/" in result.output
            assert "ok: Status: not revoked" in result.output
            db.session.remove()
        with issuer_app.app_context():
            revoke(db.session.get(Award, award_id), "Evidence found to be plagiarised", actor_label="test")
            db.session.commit()
            db.session.remove()
        with verifier_app.app_context():
            result = verifier_app.test_cli_runner().invoke(credential_cli, ["verify", str(path)])
            assert result.exit_code != 0 and "The issuer has revoked this credential." in result.output
            db.session.remove()
    finally:
        server.shutdown()
        thread.join(10)

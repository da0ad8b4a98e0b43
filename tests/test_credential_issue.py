"""Issuing the signed credential when a portfolio is awarded."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.credentials import issuer
from lti_tool.credentials.issuance import credential_for, issue_for_award
from lti_tool.credentials.models import IssuedCredential
from lti_tool.launch.keys import key_store
from lti_tool.portfolio import workflow
from lti_tool.store.db import db
from tests.conftest import table_count
from tests.credential_helpers import EMAIL, LMS_ISSUER, LMS_SUB, award_through_workflow, learner, ready_for_award


def test_award_transition_issues_a_signed_credential(app):
    award = award_through_workflow()
    issued = credential_for(award)
    assert issued is not None and issued.jwt.count(".") == 2
    header = jwt.get_unverified_header(issued.jwt)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": issued.kid}
    assert issued.kid.startswith(issuer.issuer_id() + "/keys/")
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credential.issued")))
    assert len(events) == 1 and events[0].after["certificate_number"] == award.certificate_number


def test_jwt_claims_follow_the_ob3_vc_jwt_rules(app):
    award = award_through_workflow()
    issued = credential_for(award)
    payload = jwt.decode(issued.jwt, options={"verify_signature": False})
    credential = issued.credential
    assert "vc" not in payload  # VCDM 2.0: the payload is the credential itself
    assert payload["iss"] == credential["issuer"]["id"] == issuer.issuer_id()
    assert payload["sub"] == credential["credentialSubject"]["id"]
    assert payload["jti"] == credential["id"] and credential["id"].startswith("urn:uuid:")
    midnight = dt.datetime.combine(award.awarded_on, dt.time.min, dt.UTC)
    assert payload["nbf"] == int(midnight.timestamp())
    assert credential["validFrom"] == f"{award.awarded_on.isoformat()}T00:00:00Z"
    assert "exp" not in payload and "validUntil" not in credential  # awards are for life
    assert {k: v for k, v in payload.items() if k not in ("iss", "sub", "nbf", "jti")} == credential


def test_credential_content(app):
    award = award_through_workflow()
    credential = credential_for(award).credential
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["type"] == ["Profile"] and credential["issuer"]["name"]
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    assert subject["creditsEarned"] == 12.0 and subject["licenseNumber"] == award.certificate_number
    achievement = subject["achievement"]
    assert achievement["achievementType"] == "Certification"
    assert achievement["humanCode"] == "TESTCM" and achievement["version"] == "1"
    assert achievement["creditsAvailable"] == 12.0
    assert "10 notional learning hours" in achievement["description"]
    assert "not a semester" in achievement["description"] and "10 notional learning hours" in credential["description"]
    assert "CM1 Risk-based monitoring" in achievement["criteria"]["narrative"]
    targets = {a["targetCode"]: a for a in achievement["alignment"] if "targetCode" in a}
    assert targets["ED5"]["targetFramework"].startswith("ISCED 2011")
    assert targets["0919"]["targetFramework"].startswith("ISCED-F 2013")
    assert targets["CM1"]["targetName"] == "Risk-based monitoring" and "CM2" in targets
    assert any(a["targetName"] == "Joint Task Force core competencies" for a in achievement["alignment"])
    results = {r["resultDescription"].rsplit("#", 1)[1]: r for r in subject["result"]}
    assert results["outcome"]["status"] == "Completed" and results["cpd"]["value"] == "120"
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    assert status["statusListCredential"] == issuer.status_list_url(1)
    assert status["id"] == f"{status['statusListCredential']}#{status['statusListIndex']}"


def test_subject_is_a_pseudonym_with_a_hashed_name_and_nothing_from_the_lms(app):
    award = award_through_workflow()
    issued = credential_for(award)
    subject = issued.credential["credentialSubject"]
    identity = subject["identifier"][0]
    assert identity["identityType"] == "name" and identity["hashed"] is True
    expected = hashlib.sha256(("Ada Mensah" + identity["salt"]).encode()).hexdigest()
    assert identity["identityHash"] == f"sha256${expected}"
    text = json.dumps(issued.credential) + issued.jwt
    for secret in (EMAIL, LMS_SUB, LMS_ISSUER, "deployment-42", "client-x", "Ada Mensah"):
        assert secret not in text


def test_issuing_is_idempotent(app):
    award = award_through_workflow()
    first = credential_for(award)
    again = issue_for_award(award)
    db.session.commit()
    assert again.id == first.id and table_count(IssuedCredential) == 1


def test_each_credential_gets_its_own_status_slot(app):
    a = award_through_workflow(number="N-1")
    b = award_through_workflow(user=learner(sub="other", name="Ben Carter"), number="N-2")
    slots = {(credential_for(x).status_list, credential_for(x).status_index) for x in (a, b)}
    # Distinct slots in the first list; the indexes are random (tests/test_credential_proofs.py checks how).
    assert len(slots) == 2 and {lst for lst, _ in slots} == {1}


def test_other_transitions_issue_nothing(app):
    portfolio, _ = ready_for_award()
    workflow.transition(portfolio, workflow.SENT_BACK, duty="independent_verifier", rationale="Check unit 2")
    db.session.commit()
    assert table_count(IssuedCredential) == 0


def test_issuer_key_is_dedicated_private_and_published_apart_from_the_lti_keys(app, client):
    award_through_workflow()
    keys = issuer.issuer_key_store().active_keys()
    files = sorted(Path(app.config["KEYS_DIR"]).glob("issuer-*.pem"))
    assert keys and files
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    lti_kids = {k.kid for k in key_store().active_keys()}
    assert not lti_kids & {k.kid for k in keys}
    issuer_jwks = client.get("/credentials/issuer/jwks.json").get_json()
    assert [k["kid"] for k in issuer_jwks["keys"]] == [issuer.key_url(k.kid) for k in keys]
    assert all("d" not in k for k in issuer_jwks["keys"])
    lti_jwks = client.get("/.well-known/jwks.json").get_json()
    assert not {k["kid"] for k in lti_jwks["keys"]} & {k.kid for k in keys}
    # each kid URL dereferences to its public JWK, as OB 3.0 asks
    kid_url = issuer_jwks["keys"][-1]["kid"]
    one = client.get(kid_url.removeprefix(issuer.base_url()))
    assert one.status_code == 200 and one.get_json() == issuer_jwks["keys"][-1]
    assert client.get("/credentials/issuer/keys/nope").status_code == 404


def test_issuer_profile_is_served_at_its_id(client):
    resp = client.get("/credentials/issuer")
    body = resp.get_json()
    assert body["id"] == issuer.issuer_id() and body["type"] == ["Profile"]
    assert body["jwks_uri"] == issuer.issuer_jwks_url()
    assert body["@context"][-1]["jwks_uri"]["@id"].endswith("#jwks_uri")  # defined, for strict JSON-LD


def test_achievement_is_served_at_its_id(app, client):
    award = award_through_workflow()
    achievement = credential_for(award).credential["credentialSubject"]["achievement"]
    resp = client.get(achievement["id"].removeprefix(issuer.base_url()))
    assert resp.status_code == 200 and resp.get_json()["name"] == achievement["name"]
    assert client.get("/credentials/achievements/CMIACR/v9").status_code == 404


@pytest.mark.parametrize("field", ["name", "given_name"])
def test_learner_name_never_falls_back_to_email(app, field):
    from lti_tool.credentials.content import learner_name

    user = learner(sub="nameless", name="", email="hidden@example.org")
    assert learner_name(user) == ""
    setattr(user, field, "Zoe")
    assert learner_name(user) == "Zoe"


def test_isced_labels():
    from lti_tool.credentials.content import isced_field_label, isced_level_label

    assert isced_level_label("ED5") == isced_level_label("5") == "ISCED 2011 level 5: Short-cycle tertiary education"
    assert isced_level_label("ED9") == "ISCED 2011 level ED9"
    assert isced_field_label("0919") == "ISCED-F 2013 0919 Health not elsewhere classified"
    assert isced_field_label("0413") == "ISCED-F 2013 0413"

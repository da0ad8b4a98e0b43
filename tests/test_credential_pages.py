"""Public verification pages, learner downloads and the printable certificate, admin revocation: what each
shows, and who is refused."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.credentials import issuer, share
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.revocation import revoke
from lti_tool.credentials.share import handoff_url
from lti_tool.credentials.verify import verify_json_here
from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant
from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.store.db import db
from lti_tool.web import dates
from tests.credential_helpers import EMAIL, LMS_ISSUER, LMS_SUB, award_through_workflow
from tests.lti_helpers import demo_launch

NUMBER = "CMIACR-2025-000123"


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


def _launched(app, sub: str, *, admin: bool = False):
    client = app.test_client()
    assert demo_launch(client, sub).status_code == 303
    if admin:
        db.session.add(StaffGrant(user_id=_user(sub).id, role=TOOL_ADMIN, granted_by="test"))
        db.session.commit()
    return client


@pytest.fixture
def ada(app):
    """Ada, launched from the demo LMS, holding an award."""
    client = _launched(app, "demo-learner-ada")
    award = award_through_workflow(user=_user("demo-learner-ada"), number=NUMBER)
    return client, award


# ---- public verification -------------------------------------------------------------------------------


def test_verification_page_shows_a_valid_award(client):
    award_through_workflow(number=NUMBER)
    resp = client.get(f"/verify/{NUMBER}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Valid: this certificate was awarded and has not been revoked." in html
    for shown in (
        "Ada Mensah",
        "Qualified Clinical Research Central Monitor",
        "TESTCM",
        "12 learning credits",
        "120 notional learning hours",
        "120",
        NUMBER,
        "Signature: verified",
        "not revoked",
    ):
        assert shown in html, shown


def test_verification_shows_no_personal_or_lms_data(client):
    award = award_through_workflow(number=NUMBER)
    issued = credential_for(award)
    page = client.get(f"/verify/{NUMBER}").get_data(as_text=True)
    data = client.get(f"/verify/{NUMBER}.json").get_data(as_text=True)
    for secret in (
        EMAIL,
        LMS_SUB,
        LMS_ISSUER,
        "deployment-42",
        "client-x",
        "link-0",
        issued.subject_id,
        issued.credential_id,
        "Example LMS",
        "Portfolio",
    ):
        assert secret not in page, secret
        assert secret not in data, secret


def test_verification_json(client):
    award_through_workflow(number=NUMBER)
    resp = client.get(f"/verify/{NUMBER}.json")
    body = resp.get_json()
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
    assert body["status"] == "valid" and body["learner_name"] == "Ada Mensah"
    assert body["certification"]["code"] == "TESTCM" and body["credits"] == 12 and body["cpd_points"] == 120
    assert body["signature"]["valid"] is True and body["revoked_on"] is None
    assert set(body) == {
        "certificate_number",
        "status",
        "status_text",
        "learner_name",
        "certification",
        "credits",
        "notional_hours",
        "cpd_points",
        "credit_note",
        "awarded_on",
        "revoked_on",
        "revocation_reason",
        "issuer",
        "signature",
        "verify_url",
    }


def test_revoked_award_shows_date_and_reason(client):
    award = award_through_workflow(number=NUMBER)
    revoke(award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    html = client.get(f"/verify/{NUMBER}").get_data(as_text=True)
    assert "Revoked: this certificate is no longer valid." in html
    assert f"Revoked on {dates.when(award.revoked_at, time=False)} by" in html
    assert "Evidence found to be plagiarised" in html and "The issuer has revoked this credential." in html
    body = client.get(f"/verify/{NUMBER}.json").get_json()
    assert body["status"] == "revoked" and body["revocation_reason"] == "Evidence found to be plagiarised"
    assert body["signature"]["revoked"] is True


def test_unknown_number_is_a_clear_404(client):
    resp = client.get("/verify/NOPE-0001")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert "Certificate not found" in html and "No certificate with this number was issued here." in html
    json_resp = client.get("/verify/NOPE-0001.json")
    assert json_resp.status_code == 404 and json_resp.get_json()["status"] == "unknown"
    assert client.get("/verify/" + "X" * 300).status_code == 404


def test_award_without_signed_credential_is_shown_from_the_record(client):
    award = award_through_workflow(number=NUMBER)
    db.session.delete(credential_for(award))
    db.session.commit()
    body = client.get(f"/verify/{NUMBER}.json").get_json()
    assert body["status"] == "valid" and body["signature"]["checked"] is False


def test_lookup_form_redirects_to_the_certificate(client):
    form = client.get("/verify")
    assert form.status_code == 200 and 'name="number"' in form.get_data(as_text=True)
    resp = client.get("/verify", query_string={"number": f"  {NUMBER} "})
    assert resp.status_code == 303 and resp.location.endswith(f"/verify/{NUMBER}")


def test_number_with_a_dot_and_json_suffix_routes(client):
    award_through_workflow(number="A.B-1")
    assert client.get("/verify/A.B-1").status_code == 200
    assert client.get("/verify/A.B-1.json").get_json()["certificate_number"] == "A.B-1"


# ---- learner downloads and the printable certificate ---------------------------------------------------


def test_owner_downloads_json_and_jwt(ada):
    client, award = ada
    issued = credential_for(award)
    resp = client.get(f"/awards/{NUMBER}/credential.jwt")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == issued.jwt
    assert resp.mimetype == "text/plain"  # OB 3.0 document formats: a VC-JWT SHOULD be served as text/plain
    assert resp.headers["Content-Disposition"] == f'attachment; filename="certificate-{NUMBER}.jwt"'
    resp = client.get(f"/awards/{NUMBER}/credential.json")
    # For wallets: the credential with its embedded Data Integrity proof
    assert resp.status_code == 200 and resp.get_json() == issued.proofed
    assert {k: v for k, v in resp.get_json().items() if k != "proof"} == issued.credential
    assert resp.headers["Content-Disposition"] == f'attachment; filename="certificate-{NUMBER}.json"'


def test_my_certificates_page_links_the_downloads(ada):
    client, _ = ada
    html = client.get("/awards").get_data(as_text=True)
    assert f"/awards/{NUMBER}/credential.jwt" in html and f"/awards/{NUMBER}/certificate" in html
    assert f"/verify/{NUMBER}" in html


def test_printable_certificate(ada):
    client, award = ada
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    for shown in (
        "Ada Mensah",
        "Qualified Clinical Research Central Monitor",
        "12 (120 notional learning hours)",
        "CPD points",
        award.awarded_on.isoformat(),
        NUMBER,
        "certificate.css",
    ):
        assert shown in html, shown
    url = issuer.verify_url(NUMBER)
    assert url in html
    qr = segno.make(url, error="m").svg_inline(scale=4, border=2, title="QR code of the verification address")
    assert qr in html and qr.startswith("<svg")
    assert "demo-learner-ada" not in html and "@demo-academy.example" not in html


def test_printable_certificate_of_a_revoked_award_says_so(ada):
    client, award = ada
    revoke(award, "Awarded in error by the centre", actor_label="test")
    db.session.commit()
    assert "REVOKED on" in client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)


@pytest.mark.parametrize("path", ["credential.json", "credential.jwt", "certificate"])
def test_another_learner_is_refused(app, ada, path):
    ben = _launched(app, "demo-learner-ben")
    resp = ben.get(f"/awards/{NUMBER}/{path}")
    assert resp.status_code == 403
    assert "eyJ" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("path", ["credential.json", "credential.jwt", "certificate"])
def test_no_session_is_refused(app, ada, path):
    resp = app.test_client().get(f"/awards/{NUMBER}/{path}")
    assert resp.status_code == 401


def test_tool_admin_may_download(app, ada):
    admin = _launched(app, "demo-admin-alex", admin=True)
    assert admin.get(f"/awards/{NUMBER}/credential.jwt").status_code == 200


def test_download_of_unknown_number_is_404(ada):
    client, _ = ada
    assert client.get("/awards/NOPE/credential.jwt").status_code == 404


def test_download_issues_a_missing_credential_once(ada):
    client, award = ada
    db.session.delete(credential_for(award))
    db.session.commit()
    first = client.get(f"/awards/{NUMBER}/credential.jwt").get_data(as_text=True)
    assert first == client.get(f"/awards/{NUMBER}/credential.jwt").get_data(as_text=True)
    assert credential_for(award).jwt == first


# ---- revocation by a tool administrator -----------------------------------------------------------------


def _csrf(client, path: str) -> dict[str, str]:
    html = client.get(path).get_data(as_text=True)
    return dict(re.findall(r'name="(csrf_token|_s)" value="([^"]+)"', html))


def test_admin_revokes_with_a_reason(app, ada):
    _, award = ada
    admin = _launched(app, "demo-admin-alex", admin=True)
    assert NUMBER in admin.get("/admin/credentials").get_data(as_text=True)
    path = f"/admin/credentials/{NUMBER}"
    token = _csrf(admin, path)
    # The reason first: a confirmation step says what will happen, and nothing is revoked yet.
    resp = admin.post(path, data={**token, "reason": "Evidence found to be plagiarised"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Confirm the revocation" in html and "This cannot be undone" in html
    assert 'name="confirm" value="revoke"' in html and "Evidence found to be plagiarised" in html
    db.session.refresh(award)
    assert award.revoked_at is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "award.revoked")) is None
    resp = admin.post(path, data={**token, "reason": "Evidence found to be plagiarised", "confirm": "revoke"})
    assert resp.status_code == 303
    db.session.refresh(award)
    assert award.revoked_at is not None and award.revocation_reason == "Evidence found to be plagiarised"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "award.revoked"))
    assert event.actor_id == _user("demo-admin-alex").id and event.rationale == award.revocation_reason
    assert event.role == "tool_admin"
    assert "Revoked: this certificate is no longer valid." in admin.get(f"/verify/{NUMBER}").get_data(as_text=True)


def test_revocation_needs_a_reason_and_keeps_what_was_typed(app, ada):
    _, award = ada
    admin = _launched(app, "demo-admin-alex", admin=True)
    path = f"/admin/credentials/{NUMBER}"
    resp = admin.post(path, data={**_csrf(admin, path), "reason": "  short "})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "at least 10 characters" in html and "  short </textarea>" in html
    db.session.refresh(award)
    assert award.revoked_at is None


def test_revoking_twice_is_refused(app, ada):
    _, award = ada
    admin = _launched(app, "demo-admin-alex", admin=True)
    path = f"/admin/credentials/{NUMBER}"
    token = _csrf(admin, path)
    admin.post(path, data={**token, "reason": "Evidence found to be plagiarised", "confirm": "revoke"})
    resp = admin.post(path, data={**token, "reason": "Another reason entirely", "confirm": "revoke"})
    assert resp.status_code == 409
    assert admin.post(path, data={**token, "reason": "Another reason entirely"}).status_code == 409
    db.session.refresh(award)
    assert award.revocation_reason == "Evidence found to be plagiarised"


def test_revocation_without_csrf_is_refused(app, ada):
    _, award = ada
    admin = _launched(app, "demo-admin-alex", admin=True)
    resp = admin.post(f"/admin/credentials/{NUMBER}", data={"reason": "Evidence found to be plagiarised"})
    assert resp.status_code == 400
    db.session.refresh(award)
    assert award.revoked_at is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_learner_cannot_revoke_or_list(app, ada, method):
    client, award = ada
    path = f"/admin/credentials/{NUMBER}"
    sess = db.session.scalar(select(ToolSession).where(ToolSession.user_id == award.portfolio.user_id))
    data = {"csrf_token": sess.csrf_token, "_s": sess.id, "reason": "I want to revoke it myself"}
    resp = client.post(path, data=data) if method == "post" else client.get(path)
    assert resp.status_code == 403
    assert client.get("/admin/credentials").status_code == 403
    db.session.refresh(award)
    assert award.revoked_at is None


# ---- the award page: share, LinkedIn, wallet -----------------------------------------------------------


def test_award_page_offers_linkedin_share_link_and_wallet(ada):
    client, award = ada
    resp = client.get(f"/awards/{NUMBER}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    verify_url = issuer.verify_url(NUMBER)
    # the share link sits in a read-only field (works without JavaScript); the copy button is revealed by JS
    assert re.search(rf'<input id="share-link" type="text" readonly value="{re.escape(verify_url)}"', html)
    assert 'data-target="share-link" hidden' in html and "award_share.js" in html
    linkedin = re.search(r'href="(https://www\.linkedin\.com/profile/add\?[^"]+)"', html).group(1)
    query = parse_qs(urlsplit(linkedin.replace("&amp;", "&")).query)
    assert query == {
        "startTask": ["CERTIFICATION_NAME"],
        "name": ["Qualified Clinical Research Central Monitor"],
        "organizationName": [client.application.config["ISSUER_NAME"]],
        "issueYear": [str(award.awarded_on.year)],
        "issueMonth": [str(award.awarded_on.month)],
        "certUrl": [verify_url],
        "certId": [NUMBER],
    }
    wallet_url = re.search(r'<input id="wallet-link" type="text" readonly value="([^"]+)"', html).group(1)
    assert wallet_url.startswith(issuer.base_url() + "/credentials/wallet/")
    qr = segno.make(wallet_url, error="m").svg_inline(scale=4, border=2, title="QR code of the wallet link")
    assert qr in html
    assert f"/awards/{NUMBER}/credential.json" in html and f"/awards/{NUMBER}/credential.jwt" in html
    assert EMAIL not in html and LMS_SUB not in html
    assert f'/awards/{NUMBER}"' in client.get("/awards").get_data(as_text=True)  # linked from My certificates


def test_wallet_link_hands_over_the_credential_with_its_proof(ada, app):
    client, award = ada
    html = client.get(f"/awards/{NUMBER}").get_data(as_text=True)
    wallet_url = re.search(r'id="wallet-link" type="text" readonly value="([^"]+)"', html).group(1)
    wallet = app.test_client()  # the wallet app: no session, no cookie
    resp = wallet.get(wallet_url.removeprefix(issuer.base_url()))
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.get_json() == credential_for(award).proofed and resp.get_json()["proof"]["proofValue"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_wallet_links_that_are_forged_expired_or_revoked_are_refused(ada, app, monkeypatch):
    client, award = ada
    path = handoff_url(NUMBER).removeprefix(issuer.base_url())
    wallet = app.test_client()
    forged = wallet.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert forged.status_code == 404 and "not a wallet link" in forged.get_json()["error"]
    assert wallet.get("/credentials/wallet/" + "x" * 40).status_code == 404
    monkeypatch.setattr(share, "HANDOFF_SECONDS", -1)
    expired = wallet.get(path)
    assert expired.status_code == 410 and "expired" in expired.get_json()["error"]
    monkeypatch.setattr(share, "HANDOFF_SECONDS", 3600)
    revoke(award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    resp = wallet.get(path)
    assert resp.status_code == 410 and "revoked" in resp.get_json()["error"]
    html = client.get(f"/awards/{NUMBER}").get_data(as_text=True)
    assert "Revoked on" in html and "wallet-link" not in html and "linkedin.com" not in html


def test_a_credential_from_before_embedded_proofs_gets_one_on_first_view(ada, app):
    client, award = ada
    issued = credential_for(award)
    # As issued before: no extensions context (so not strict JSON-LD), no embedded proof; the JWT stays.
    issued.credential = {**issued.credential, "@context": issued.credential["@context"][:2]}
    issued.proofed = None
    jwt_before = issued.jwt
    db.session.commit()
    html = client.get(f"/awards/{NUMBER}").get_data(as_text=True)
    assert 'id="wallet-link"' in html
    db.session.expire_all()
    issued = credential_for(award)
    assert issued.jwt == jwt_before and len(issued.credential["@context"]) == 2
    assert issued.proofed["@context"][-1] == "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
    assert {k: v for k, v in issued.proofed.items() if k not in ("proof", "@context")} == {
        k: v for k, v in issued.credential.items() if k != "@context"
    }
    assert verify_json_here(issued.proofed).valid
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credential.proof_added"))
    assert len(list(events)) == 1
    client.get(f"/awards/{NUMBER}")  # once only
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credential.proof_added"))
    assert len(list(events)) == 1


def test_a_credential_that_cannot_take_an_embedded_proof_offers_the_jwt(ada, app):
    client, award = ada
    issued = credential_for(award)
    # Not strict JSON-LD even with today's contexts (a term no context defines): it cannot be signed as JSON-LD.
    issued.credential = {**issued.credential, "homepage": "https://example.org"}
    issued.proofed = None
    db.session.commit()
    html = client.get(f"/awards/{NUMBER}").get_data(as_text=True)
    assert "wallet-link" not in html and "issued before the tool added the embedded signature" in html
    assert credential_for(award).proofed is None
    resp = app.test_client().get(handoff_url(NUMBER).removeprefix(issuer.base_url()))
    assert resp.status_code == 404
    assert client.get(f"/awards/{NUMBER}/credential.json").get_json() == credential_for(award).credential

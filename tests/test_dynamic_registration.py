"""LTI Dynamic Registration end to end against a Moodle 4.x-like platform on a loopback HTTP server."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.audit.trail import AuditEvent
from lti_tool.identity.partners import Partner
from lti_tool.launch.invites import RegistrationInvite, create_invite
from lti_tool.launch.models import Registration
from lti_tool.store.db import db, utcnow
from tests.conftest import make_test_app
from tests.moodle_stub import TOOL_CONFIG, MoodleStub
from tests.registration_helpers import RegisteredPlatform, dynamic_register, error_text

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@pytest.fixture
def reg_app(backend, tmp_path, keys_dir):
    # Plain http is allowed here only because the stub platform listens on loopback without TLS.
    app = make_test_app(backend, tmp_path, keys_dir, REGISTRATION_ALLOW_LOCAL=True)
    with app.app_context():
        yield app
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


@pytest.fixture
def client(reg_app):
    return reg_app.test_client()


@pytest.fixture
def moodle():
    stub = MoodleStub()
    yield stub
    stub.close()


def new_registration() -> Registration:
    return db.session.scalar(select(Registration).where(Registration.issuer.like("http://127.0.0.1:%")))


def test_full_registration_posts_what_moodle_needs_and_records_client_and_deployment(client, moodle):
    token = moodle.new_token(client_id="moodle-client-42")
    resp = dynamic_register(client, moodle, token=token)
    assert resp.status_code == 200, error_text(resp)
    html = resp.data.decode()
    assert "(window.opener || window.parent).postMessage(message, '*')" in html
    assert "window.parent.postMessage(message, '*')" in html
    assert "org.imsglobal.lti.close" in html
    assert "moodle-client-42" in html and "waiting for a tool administrator" in html

    posted = moodle.registered["moodle-client-42"]
    assert posted["application_type"] == "web"
    assert posted["response_types"] == ["id_token"]
    assert posted["grant_types"] == ["implicit", "client_credentials"]
    assert posted["initiate_login_uri"] == "http://localhost/lti/login"
    assert posted["redirect_uris"] == ["http://localhost/lti/launch"]
    assert posted["jwks_uri"] == "http://localhost/.well-known/jwks.json"
    assert posted["token_endpoint_auth_method"] == "private_key_jwt"
    assert posted["client_name"] and posted["logo_uri"].endswith("/static/logo.svg")
    assert set(posted["scope"].split()) == {
        AGS + "lineitem",
        AGS + "lineitem.readonly",
        AGS + "result.readonly",
        AGS + "score",
        NRPS,
    }
    tool = posted[TOOL_CONFIG]
    assert tool["domain"] == "localhost" and tool["target_link_uri"] == "http://localhost/lti/launch"
    assert {"sub", "iss", "name", "email"} <= set(tool["claims"])
    messages = {m["type"]: m for m in tool["messages"]}
    assert set(messages) == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    assert messages["LtiDeepLinkingRequest"]["target_link_uri"] == "http://localhost/lti/launch"
    # The logo it names is served.
    assert client.get("/static/logo.svg").status_code == 200

    reg = new_registration()
    assert (reg.issuer, reg.client_id, reg.active) == (moodle.issuer, "moodle-client-42", False)
    assert reg.auth_login_url == moodle.issuer + "/mod/lti/auth.php"
    assert reg.auth_token_url == moodle.issuer + "/mod/lti/token.php"
    assert reg.key_set_url == moodle.issuer + "/mod/lti/certs.php"
    assert [d.deployment_id for d in reg.deployments] == ["7"]
    assert reg.deployments[0].partner_id is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "registration.dynamic"))
    assert event.subject_id == str(reg.id) and event.after["active"] is False
    # Canvas wants the registration token on the configuration request too.
    assert moodle.config_requests[-1]["Authorization"] == f"Bearer {token}"


def test_registration_without_invite_is_inactive_and_its_launches_are_refused(client, moodle):
    token = moodle.new_token(client_id="c-inactive")
    assert dynamic_register(client, moodle, token=token).status_code == 200
    platform = RegisteredPlatform(moodle, "c-inactive", "7")
    resp = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "x",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": "c-inactive",
        },
    )
    assert resp.status_code == 403 and "deactivated" in error_text(resp)

    # A tool admin activates it: the same platform's launch now goes through, verified with its JWKS.
    reg = new_registration()
    reg.active = True
    db.session.commit()
    resp = platform.launch(client)
    assert resp.status_code == 303, error_text(resp)


def test_invite_makes_registration_active_for_its_partner_and_is_single_use(client, moodle):
    partner = Partner(slug="acme", name="Acme Academy")
    db.session.add(partner)
    db.session.flush()
    invite, secret = create_invite(Actor(label="test"), partner=partner, hours=2)
    db.session.commit()
    path = f"/lti/register/{secret}"

    resp = dynamic_register(client, moodle, token=moodle.new_token(client_id="c-invited"), path=path)
    assert resp.status_code == 200, error_text(resp)
    assert "Acme Academy" in resp.data.decode()
    reg = new_registration()
    assert reg.active and reg.deployments[0].partner_id == partner.id
    db.session.refresh(invite)
    assert invite.used_at is not None and invite.registration_id == reg.id
    assert invite.token_hash != secret and secret not in str(invite.__dict__)  # only a hash is stored

    resp = RegisteredPlatform(moodle, "c-invited", "7").launch(client)
    assert resp.status_code == 303, error_text(resp)

    # Second use of the same invite link: refused before anything is sent to the platform.
    again = dynamic_register(client, moodle, token=moodle.new_token(client_id="c-second"), path=path)
    assert again.status_code == 410 and "already used" in error_text(again)
    assert "c-second" not in moodle.registered


def test_expired_revoked_and_unknown_invites_are_refused(client, moodle):
    invite, secret = create_invite(Actor(label="test"), hours=1)
    invite.expires_at = utcnow() - dt.timedelta(minutes=1)
    revoked, revoked_secret = create_invite(Actor(label="test"), hours=1)
    revoked.revoked_at = utcnow()
    db.session.commit()
    for path, status, words in (
        (f"/lti/register/{secret}", 410, "expired"),
        (f"/lti/register/{revoked_secret}", 410, "revoked"),
        ("/lti/register/not-a-real-invite", 404, "not one the tool issued"),
    ):
        resp = dynamic_register(client, moodle, path=path)
        assert resp.status_code == status and words in error_text(resp)
    assert moodle.registered == {}
    assert db.session.scalar(select(RegistrationInvite).where(RegistrationInvite.id == invite.id)).used_at is None


def test_reused_registration_token_shows_the_platforms_refusal(client, moodle):
    token = moodle.new_token()
    assert dynamic_register(client, moodle, token=token).status_code == 200
    resp = dynamic_register(client, moodle, token=token)
    assert resp.status_code == 400
    text = error_text(resp)
    assert "HTTP 401" in text and "token_already_used" in text
    assert len(list(db.session.scalars(select(Registration).where(Registration.issuer == moodle.issuer)))) == 1


def test_missing_registration_token_is_refused_by_the_platform(client, moodle):
    resp = dynamic_register(client, moodle, token="")
    assert resp.status_code == 400 and "missing_registration_token" in error_text(resp)
    assert new_registration() is None


def test_issuer_mismatch_is_refused_before_registering(client, moodle):
    moodle.config_overrides["issuer"] = "http://moodle.elsewhere.example"
    resp = dynamic_register(client, moodle)
    assert resp.status_code == 400
    assert "names the issuer 'http://moodle.elsewhere.example'" in error_text(resp)
    assert moodle.registered == {} and new_registration() is None


def test_issuer_that_is_only_a_prefix_of_another_path_is_refused(client):
    stub = MoodleStub(path_prefix="/moodle")
    try:
        # The configuration at /moodle2/... claims issuer /moodle: same host, but not under the issuer.
        resp = dynamic_register(client, stub, config_url=stub.base + "/moodle2/.well-known/openid-configuration")
        assert resp.status_code == 400 and "names the issuer" in error_text(resp)
        # Under its own issuer path it works (Moodle installed in a sub-directory).
        ok = dynamic_register(client, stub)
        assert ok.status_code == 200, error_text(ok)
        assert new_registration().issuer == stub.base + "/moodle"
    finally:
        stub.close()


def test_unreachable_configuration(client, moodle):
    url = moodle.openid_configuration_url
    moodle.close()
    resp = dynamic_register(client, moodle, config_url=url)
    assert resp.status_code == 400 and "no usable answer" in error_text(resp)
    assert "Error" not in error_text(resp)  # no exception class: it would let anyone probe internal ports


def test_configuration_that_is_not_json(client, moodle):
    moodle.config_raw = b"<html>Moodle login page</html>"
    resp = dynamic_register(client, moodle)
    assert resp.status_code == 400 and "is not JSON" in error_text(resp)


def test_configuration_missing_endpoints_or_lti_configuration(client, moodle):
    moodle.config_overrides.update(registration_endpoint=None, jwks_uri=None)
    resp = dynamic_register(client, moodle)
    assert resp.status_code == 400 and "lacks jwks_uri, registration_endpoint" in error_text(resp)
    moodle.config_overrides.clear()
    moodle.config_overrides["https://purl.imsglobal.org/spec/lti-platform-configuration"] = None
    resp = dynamic_register(client, moodle)
    assert resp.status_code == 400 and "no LTI platform configuration" in error_text(resp)


def test_missing_parameters(client):
    resp = client.get("/lti/register")
    assert resp.status_code == 400 and "openid_configuration" in error_text(resp)
    resp = client.post("/lti/register", data={"registration_token": "x"})
    assert resp.status_code == 400


def test_registering_again_under_the_same_client_id_updates_in_place(client, moodle):
    """Moodle's "Update" of a tool it already has re-registers under the same client ID (and deployment)."""
    assert dynamic_register(client, moodle, token=moodle.new_token(client_id="same")).status_code == 200
    reg = new_registration()
    reg.active = True  # a tool admin activated it; launches were made
    reg.key_set = {"keys": []}
    db.session.commit()
    first_id, deployments = reg.id, [d.deployment_id for d in reg.deployments]
    moodle.registered.clear()  # Moodle accepts a new registration token for its existing tool
    moodle.next_type_id = 7  # ... and keeps its type id: the same deployment ID
    moodle.config_overrides["jwks_uri"] = moodle.issuer + "/mod/lti/certs.php?rotated=1"
    resp = dynamic_register(client, moodle, token=moodle.new_token(client_id="same"))
    html = resp.data.decode()
    assert resp.status_code == 200, error_text(resp)
    assert "registration is updated" in html and "updated in place" in html and "Nothing needs removing" in html
    assert "certs.php?rotated=1" in html and "duplicate" not in html
    db.session.expire_all()
    regs = list(db.session.scalars(select(Registration).where(Registration.issuer == moodle.issuer)))
    assert [r.id for r in regs] == [first_id]
    reg = regs[0]
    assert reg.key_set_url == moodle.issuer + "/mod/lti/certs.php?rotated=1" and reg.key_set is None
    assert reg.active and [d.deployment_id for d in reg.deployments] == deployments
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "registration.dynamic_update"))
    assert event.before["key_set_url"] == moodle.issuer + "/mod/lti/certs.php"
    assert event.after["key_set_url"].endswith("rotated=1") and AGS + "score" in event.after["scopes_granted"]

    # A new deployment ID (another tool type under the same client) is added, nothing removed.
    moodle.registered.clear()
    assert dynamic_register(client, moodle, token=moodle.new_token(client_id="same")).status_code == 200
    db.session.expire_all()
    assert [d.deployment_id for d in new_registration().deployments] == [*deployments, "8"]


def test_a_real_conflict_is_409_with_advice_that_is_true(client, moodle, monkeypatch):
    from lti_tool.launch import dynamic_registration

    assert dynamic_register(client, moodle, token=moodle.new_token(client_id="same")).status_code == 200
    moodle.registered.clear()
    # Another registration of the same client ID is recorded while this one is in flight.
    monkeypatch.setattr(dynamic_registration, "find_registration", lambda issuer, client_id: None)
    resp = dynamic_register(client, moodle, token=moodle.new_token(client_id="same"))
    text = error_text(resp)
    assert resp.status_code == 409 and "already exists" in text and "ran at the same time" in text
    assert "Nothing needs removing" in resp.data.decode() and "duplicate tool" not in resp.data.decode()
    assert len(list(db.session.scalars(select(Registration).where(Registration.issuer == moodle.issuer)))) == 1


def test_plain_http_platform_refused_unless_allowed(backend, tmp_path, keys_dir, moodle):
    app = make_test_app(backend, tmp_path, keys_dir)
    with app.app_context():
        resp = dynamic_register(app.test_client(), moodle)
        assert resp.status_code == 400 and "is not an https URL" in error_text(resp)
        db.session.remove()


def test_local_addresses_are_refused_unless_allowed(backend, tmp_path, keys_dir):
    # Anyone can open the registration page: it must not make the tool call its own machine, its cloud's
    # metadata service or (unless configured) a private network, and its answer must not tell these apart.
    app = make_test_app(backend, tmp_path, keys_dir)
    with app.app_context():
        client = app.test_client()
        for host in (
            "127.0.0.1:9",
            "localhost:9",
            "169.254.169.254",
            "[fd00:ec2::254]",
            "100.100.100.200",
            "100.64.1.1",
            "[fe80::1]",
            "[fd12::1]",
            "10.0.0.1",
            "192.168.0.1",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",
            "224.0.0.1",
        ):
            url = f"https://{host}/.well-known/openid-configuration"
            resp = client.get("/lti/register", query_string={"openid_configuration": url})
            text = error_text(resp)
            assert resp.status_code == 400 and "no usable answer" in text, (url, text)
            assert "Error" not in text and "refused connection" not in text.lower(), text
        db.session.remove()

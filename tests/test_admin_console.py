"""The admin console: only tool admins, every action audited, refusals that say what to do instead."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.admin.nav import NAV
from lti_tool.audit.trail import AuditEvent
from lti_tool.identity.partners import Partner
from lti_tool.identity.staff import TOOL_ADMIN
from lti_tool.launch.invites import RegistrationInvite, hash_token
from lti_tool.launch.keys import key_store
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db
from tests.conftest import make_test_app
from tests.registration_helpers import error_text, launch_as, post

PAGES = [
    "/admin/",
    "/admin/registrations",
    "/admin/registrations/new",
    "/admin/partners",
    "/admin/keys",
    "/admin/invites",
]


def add_registration(
    issuer: str = "https://lms.example", client_id: str = "c1", deployments: tuple = ("d1",), active: bool = True
) -> Registration:
    reg = Registration(
        issuer=issuer,
        client_id=client_id,
        name="Example LMS",
        auth_login_url=issuer + "/auth",
        auth_token_url=issuer + "/token",
        key_set_url=issuer + "/jwks",
        active=active,
    )
    reg.deployments = [Deployment(deployment_id=d) for d in deployments]
    db.session.add(reg)
    db.session.commit()
    return reg


def last_event(action: str) -> AuditEvent:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc()))


def assert_audited(action: str, admin_sess, subject_id: str | None = None) -> AuditEvent:
    event = last_event(action)
    assert event is not None, f"no {action} event"
    assert event.actor_id == admin_sess.user_id and event.role == TOOL_ADMIN
    if subject_id is not None:
        assert event.subject_id == subject_id
    return event


@pytest.fixture
def admin(client):
    return launch_as(client, "demo-admin-alex", tool_admin=True)


def test_anonymous_is_asked_to_launch(client):
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 401, path
    assert client.post("/admin/keys/rotate").status_code == 401


@pytest.mark.parametrize("who", ["demo-learner-ada", "demo-instructor-iris", "demo-admin-alex"])
def test_people_without_the_tool_admin_grant_are_refused(client, who):
    # demo-admin-alex is an LMS administrator, which alone does not make anyone a tool administrator
    # (the demo grants Alex the role; take it away to test the LMS role by itself).
    sess = launch_as(client, who)
    from lti_tool.identity.staff import StaffGrant

    for grant in db.session.scalars(select(StaffGrant).where(StaffGrant.user_id == sess.user_id)):
        db.session.delete(grant)
    db.session.commit()
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert "Only tool administrators" in error_text(resp)
    reg = add_registration(active=False)
    before = len(key_store().active_keys())
    assert post(client, sess, f"/admin/registrations/{reg.id}/activate").status_code == 403
    assert post(client, sess, "/admin/keys/rotate").status_code == 403
    db.session.refresh(reg)
    assert reg.active is False and len(key_store().active_keys()) == before
    assert "Administration" not in client.get("/start").data.decode()


def test_admin_sees_every_page_and_the_header_link(client, admin):
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, path
    html = client.get("/start", follow_redirects=True).data.decode()
    assert 'href="/admin/"' in html
    nav = client.get("/admin/").data.decode()
    assert 'href="/grading/jobs"' in nav  # the grade-sync page exists, so the nav links it


def test_nav_links_the_other_admin_pages(client):
    launch_as(client, "demo-admin-alex", tool_admin=True)
    html = client.get("/admin/").data.decode()
    assert '<a href="/staff/admin/">Staff roles</a>' in html
    assert '<a href="/grading/jobs">Grade sync</a>' in html


def test_post_without_csrf_token_is_refused(client, admin):
    reg = add_registration(active=False)
    resp = client.post(f"/admin/registrations/{reg.id}/activate")
    assert resp.status_code == 400
    db.session.refresh(reg)
    assert reg.active is False


def test_activate_and_deactivate_registration_and_deployment(client, admin):
    reg = add_registration(active=False)
    resp = post(client, admin, f"/admin/registrations/{reg.id}/activate")
    assert resp.status_code == 303
    assert "launches from it are accepted" in client.get(resp.location).data.decode()
    db.session.refresh(reg)
    assert reg.active
    assert_audited("registration.activate", admin, str(reg.id))

    dep = reg.deployments[0]
    assert post(client, admin, f"/admin/deployments/{dep.id}/deactivate").status_code == 303
    db.session.refresh(dep)
    assert dep.active is False
    assert_audited("deployment.deactivate", admin, str(dep.id))
    assert post(client, admin, f"/admin/registrations/{reg.id}/deactivate").status_code == 303
    db.session.refresh(reg)
    assert reg.active is False


def test_delete_registration_needs_confirmation(client, admin):
    reg = add_registration()
    page = client.get(f"/admin/registrations/{reg.id}/delete")
    assert page.status_code == 200 and "Yes, delete" in page.data.decode()
    assert db.session.get(Registration, reg.id) is not None  # the GET changed nothing
    resp = post(client, admin, f"/admin/registrations/{reg.id}/delete")
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Registration, reg.id) is None
    event = assert_audited("registration.delete", admin, str(reg.id))
    assert event.before["client_id"] == "c1"


def test_registration_with_launch_records_cannot_be_deleted(client, admin):
    # The admin's own launch came through the demo registration: it has courses, placements and sessions.
    demo = db.session.get(Deployment, admin.deployment_id).registration
    page = client.get(f"/admin/registrations/{demo.id}/delete").data.decode()
    assert "cannot be deleted" in page and "Deactivate instead" in page and "Yes, delete" not in page
    resp = post(client, admin, f"/admin/registrations/{demo.id}/delete")
    assert resp.status_code == 409
    assert "cannot be deleted" in error_text(resp) and "Deactivate it instead" in resp.data.decode()
    db.session.expire_all()
    assert db.session.get(Registration, demo.id) is not None
    resp = post(client, admin, f"/admin/deployments/{admin.deployment_id}/delete")
    assert resp.status_code == 409
    assert last_event("registration.delete") is None and last_event("deployment.delete") is None


def test_add_and_delete_deployment(client, admin):
    reg = add_registration(deployments=())
    partner = Partner(slug="acme", name="Acme Academy")
    db.session.add(partner)
    db.session.commit()
    resp = post(
        client, admin, f"/admin/registrations/{reg.id}/deployments", deployment_id="42", partner_id=str(partner.id)
    )
    assert resp.status_code == 303
    dep = db.session.scalar(select(Deployment).where(Deployment.registration_id == reg.id))
    assert dep.deployment_id == "42" and dep.partner_id == partner.id
    assert_audited("deployment.create", admin, str(dep.id))
    dup = post(client, admin, f"/admin/registrations/{reg.id}/deployments", deployment_id="42")
    assert dup.status_code == 409 and "already registered" in error_text(dup)
    assert client.get(f"/admin/deployments/{dep.id}/delete").status_code == 200
    assert post(client, admin, f"/admin/deployments/{dep.id}/delete").status_code == 303
    db.session.expire_all()
    assert db.session.get(Deployment, dep.id) is None


def test_manual_registration_form(client, admin):
    form = {
        "name": "Acme Open edX",
        "issuer": "https://courses.acme.example",
        "client_id": "block-1",
        "login_url": "https://courses.acme.example/api/lti_consumer/v1/launch/",
        "token_url": "https://courses.acme.example/api/lti_consumer/v1/token/abc",
        "jwks_url": "https://courses.acme.example/api/lti_consumer/v1/public_keysets/abc",
        "deployment_ids": "1",
        "active": "1",
    }
    bad = post(client, admin, "/admin/registrations/new", **{**form, "token_url": "not a url"})
    assert bad.status_code == 400
    html = bad.data.decode()
    assert "is not an http(s) URL" in html and 'value="block-1"' in html  # nothing typed is lost
    assert db.session.scalar(select(Registration).where(Registration.client_id == "block-1")) is None

    assert post(client, admin, "/admin/registrations/new", **form).status_code == 303
    reg = db.session.scalar(select(Registration).where(Registration.client_id == "block-1"))
    assert reg.active and [d.deployment_id for d in reg.deployments] == ["1"]
    assert_audited("registration.create", admin, str(reg.id))

    dup = post(client, admin, "/admin/registrations/new", **form)
    assert dup.status_code == 409 and "already exists" in dup.data.decode()


def test_partners_create_attach_detach(client, admin):
    reg = add_registration()
    dep = reg.deployments[0]
    assert (
        post(client, admin, "/admin/partners", slug="acme-academy", name="Acme Academy", kind="academy").status_code
        == 303
    )
    partner = db.session.scalar(select(Partner).where(Partner.slug == "acme-academy"))
    assert_audited("partner.created", admin, str(partner.id))
    for bad in (
        {"slug": "Acme Academy!", "name": "x"},
        {"slug": "a", "name": "x"},
        {"slug": "acme-", "name": "x"},
        {"slug": "acme-academy", "name": "Again"},
    ):
        resp = post(client, admin, "/admin/partners", kind="academy", **bad)
        assert resp.status_code in (400, 409) and "flash-error" in resp.data.decode()

    assert post(client, admin, f"/admin/partners/{partner.id}/attach", deployment_id=str(dep.id)).status_code == 303
    db.session.refresh(dep)
    assert dep.partner_id == partner.id
    event = assert_audited("deployment.partner", admin, str(dep.id))
    assert event.after == {"partner": "acme-academy"}
    page = client.get("/admin/partners").data.decode()
    assert re.search(r"Acme Academy.*Example LMS — deployment <code>d1</code>", page, re.S)

    assert post(client, admin, f"/admin/deployments/{dep.id}/detach").status_code == 303
    db.session.refresh(dep)
    assert dep.partner_id is None


def test_invites_create_list_revoke(client, admin):
    partner = Partner(slug="acme", name="Acme Academy")
    db.session.add(partner)
    db.session.commit()
    resp = post(client, admin, "/admin/invites", partner_id=str(partner.id), hours="24", note="for Acme's Moodle")
    assert resp.status_code == 200
    url = re.search(r'id="invite-url" readonly value="([^"]+)"', resp.data.decode()).group(1)
    assert url.startswith("http://localhost/lti/register/")
    token = url.rsplit("/", 1)[1]
    invite = db.session.scalar(select(RegistrationInvite))
    assert invite.token_hash == hash_token(token) and invite.partner_id == partner.id
    assert_audited("invite.create", admin, str(invite.id))
    listing = client.get("/admin/invites").data.decode()
    assert "for Acme&#39;s Moodle" in listing and token not in listing

    assert post(client, admin, "/admin/invites", hours="0").status_code == 400
    assert post(client, admin, "/admin/invites", hours="many").status_code == 400

    # Revoking asks for confirmation first; only confirm=yes revokes.
    resp = post(client, admin, f"/admin/invites/{invite.id}/revoke")
    assert resp.status_code == 200 and b"Yes, revoke the invite" in resp.data
    db.session.refresh(invite)
    assert invite.status() == "open"
    assert post(client, admin, f"/admin/invites/{invite.id}/revoke", confirm="yes").status_code == 303
    db.session.refresh(invite)
    assert invite.status() == "revoked"
    assert_audited("invite.revoke", admin, str(invite.id))
    assert post(client, admin, f"/admin/invites/{invite.id}/revoke", confirm="yes").status_code == 409
    resp = client.get(f"/lti/register/{token}", query_string={"openid_configuration": "https://x.example/c"})
    assert resp.status_code == 410


@pytest.fixture
def own_keys_client(backend, tmp_path):
    # Rotation writes key files: give this test its own key directory, not the session's shared one.
    app = make_test_app(backend, tmp_path, tmp_path / "own-keys")
    with app.app_context():
        yield app.test_client()
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


def test_keys_rotate_and_retire_from_the_page(own_keys_client):
    client = own_keys_client
    admin = launch_as(client, "demo-admin-alex", tool_admin=True)
    store = key_store()
    first = store.signing_key()
    assert post(client, admin, "/admin/keys/rotate").status_code == 303
    second = store.signing_key()
    assert second.kid != first.kid
    jwks = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert jwks == {first.kid, second.kid}
    assert_audited("key.rotate", admin, second.kid)
    page = client.get("/admin/keys").data.decode()
    assert f"/admin/keys/{first.kid}/retire" in page and f"/admin/keys/{second.kid}/retire" not in page

    # The signing key cannot be retired: the confirmation page says so and the POST is refused.
    confirm = client.get(f"/admin/keys/{second.kid}/retire").data.decode()
    assert "cannot be retired" in confirm and "Yes, retire it" not in confirm
    refused = post(client, admin, f"/admin/keys/{second.kid}/retire")
    assert refused.status_code == 409 and "Rotate first" in error_text(refused)

    assert "Yes, retire it" in client.get(f"/admin/keys/{first.kid}/retire").data.decode()
    assert post(client, admin, f"/admin/keys/{first.kid}/retire").status_code == 303
    jwks = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert jwks == {second.kid}
    assert_audited("key.retire", admin, first.kid)
    assert client.get(f"/admin/keys/{first.kid}/retire").status_code == 404


def test_unknown_ids_are_404(client, admin):
    assert post(client, admin, "/admin/registrations/999999/activate").status_code == 404
    assert client.get("/admin/deployments/999999/delete").status_code == 404
    assert post(client, admin, "/admin/partners/999999/attach", deployment_id="1").status_code == 404


def test_console_works_without_cookies_via_the_session_token(app, client, admin):
    # In an LMS iframe the browser may drop the tool's third-party cookie: links and forms carry `_s`.
    cookieless = app.test_client(use_cookies=False)
    page = cookieless.get("/admin/registrations", query_string={"_s": admin.id})
    assert page.status_code == 200
    html = page.data.decode()
    assert f'href="/admin/partners?_s={admin.id}"' in html
    reg = add_registration(active=False)
    resp = cookieless.post(
        f"/admin/registrations/{reg.id}/activate?_s={admin.id}", data={"csrf_token": admin.csrf_token}
    )
    assert resp.status_code == 303 and f"_s={admin.id}" in resp.location
    # With the cookie, links carry no token.
    assert 'href="/admin/partners"' in client.get("/admin/registrations").data.decode()


def test_every_admin_page_shows_the_whole_menu(client):
    """The menu is the same on every administration page, the other modules' pages included (issue 17)."""
    launch_as(client, "demo-admin-alex", tool_admin=True)
    for path in (
        "/admin/",
        "/admin/partners",
        "/staff/admin/",
        "/grading/jobs",
        "/admin/credentials",
        "/staff/sampling",
    ):
        html = client.get(path).data.decode()
        menu = html[html.index('<nav class="admin-nav"') : html.index("</nav>", html.index('<nav class="admin-nav"'))]
        for item in NAV:
            assert f">{item.label}</a>" in menu, f"{path}: {item.label}"
        assert menu.count('aria-current="page"') == 1, path

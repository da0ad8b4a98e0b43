"""Staff roles: the `lti-tool staff` CLI, pending grants applied at launch, the demo's staff, and the
tool administrator's page. Every grant and revocation is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from lti_tool.admin.staff_cli import staff_cli
from lti_tool.audit.trail import AuditEvent
from lti_tool.demo_platform.setup import demo_issuer
from lti_tool.identity import staff
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from tests import assessment_factories as f
from tests.lti_helpers import TestPlatform, demo_launch


def _cli(app, *args):
    return app.test_cli_runner().invoke(staff_cli, list(args))


def _grants(person: LtiUser) -> list[staff.StaffGrant]:
    return list(db.session.scalars(select(staff.StaffGrant).where(staff.StaffGrant.user_id == person.id)))


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_grant_needs_a_launched_user(app):
    result = _cli(app, "grant", "--issuer", "https://nowhere", "--sub", "ghost", "--role", "assessor")
    assert result.exit_code == 1
    assert "has launched the tool yet" in result.output and "--pending" in result.output
    assert "Traceback" not in result.output
    assert not db.session.scalars(select(staff.StaffGrant)).first()


def test_grant_list_and_revoke(app):
    person = f.user("Sam Assessor")
    f.partner("acme")
    db.session.commit()
    ok = _cli(
        app,
        "grant",
        "--issuer",
        person.issuer,
        "--sub",
        person.sub,
        "--role",
        "assessor",
        "--partner",
        "acme",
        "--certification",
        "CMIACR",
    )
    assert ok.exit_code == 0, ok.output
    assert "Granted Assessor (partner acme, certification CMIACR) to Sam Assessor" in ok.output
    grant = _grants(person)[0]
    assert grant.certification_code == "CMIACR" and grant.granted_by.startswith("cli:")
    event = _events("staff.role_granted")[-1]
    assert event.subject_id == str(person.id) and event.after["role"] == "assessor" and event.role == "operator"

    dup = _cli(
        app,
        "grant",
        "--issuer",
        person.issuer,
        "--sub",
        person.sub,
        "--role",
        "assessor",
        "--partner",
        "acme",
        "--certification",
        "CMIACR",
    )
    assert dup.exit_code == 1 and "already holds" in dup.output
    bad_partner = _cli(
        app, "grant", "--issuer", person.issuer, "--sub", person.sub, "--role", "assessor", "--partner", "nope"
    )
    assert bad_partner.exit_code == 1 and "No partner with the slug 'nope'" in bad_partner.output
    bad_role = _cli(app, "grant", "--issuer", person.issuer, "--sub", person.sub, "--role", "wizard")
    assert bad_role.exit_code == 2

    listing = _cli(app, "list")
    assert f"[{grant.id}] Sam Assessor" in listing.output and "Assessor (partner acme" in listing.output

    revoked = _cli(
        app,
        "revoke",
        "--issuer",
        person.issuer,
        "--sub",
        person.sub,
        "--role",
        "assessor",
        "--reason",
        "Left the centre",
    )
    assert revoked.exit_code == 0, revoked.output
    assert not _grants(person)
    event = _events("staff.role_revoked")[-1]
    assert event.before["grant_id"] == grant.id and event.rationale == "Left the centre"
    again = _cli(app, "revoke", "--id", str(grant.id))
    assert again.exit_code == 1 and "No grant with id" in again.output


def test_revoke_asks_which_when_several_match(app):
    person = f.user("Vera")
    acme, other = f.partner("acme"), f.partner("other")
    f.grant(person, staff.INTERNAL_VERIFIER, acme)
    f.grant(person, staff.INTERNAL_VERIFIER, other)
    db.session.commit()
    result = _cli(app, "revoke", "--issuer", person.issuer, "--sub", person.sub, "--role", "internal_verifier")
    assert result.exit_code == 1 and "Several grants match" in result.output
    result = _cli(
        app,
        "revoke",
        "--issuer",
        person.issuer,
        "--sub",
        person.sub,
        "--role",
        "internal_verifier",
        "--partner",
        "other",
    )
    assert result.exit_code == 0
    assert [g.partner_id for g in _grants(person)] == [acme.id]


def test_tool_admin_only_for_lms_administrators_and_unscoped(app):
    plain = f.user("Plain Instructor", [lti_roles.INSTRUCTOR])
    admin = f.user("LMS Admin", [lti_roles.INSTITUTION_ADMIN])
    f.partner("acme")
    db.session.commit()
    refused = _cli(app, "grant", "--issuer", plain.issuer, "--sub", plain.sub, "--role", "tool_admin")
    assert refused.exit_code == 1 and "administrator in their LMS" in refused.output
    scoped = _cli(
        app, "grant", "--issuer", admin.issuer, "--sub", admin.sub, "--role", "tool_admin", "--partner", "acme"
    )
    assert scoped.exit_code == 1 and "cannot be limited" in scoped.output
    ok = _cli(app, "grant", "--issuer", admin.issuer, "--sub", admin.sub, "--role", "tool_admin")
    assert ok.exit_code == 0, ok.output
    assert staff.is_tool_admin(admin.id) and not staff.is_tool_admin(plain.id)


def test_pending_grant_is_applied_at_first_launch(app, client, jwks_server):
    platform = TestPlatform(jwks_server)
    result = _cli(
        app, "grant", "--issuer", platform.issuer, "--sub", "user-1", "--role", "independent_verifier", "--pending"
    )
    assert result.exit_code == 0 and "applied when user-1 first launches" in result.output
    admin_pending = _cli(
        app, "grant", "--issuer", platform.issuer, "--sub", "user-1", "--role", "tool_admin", "--pending"
    )
    assert admin_pending.exit_code == 0
    assert "waiting for first launch" in _cli(app, "list").output

    platform.launch(client, CLAIM_roles=[lti_roles.INSTRUCTOR])
    person = db.session.scalar(select(LtiUser).where(LtiUser.sub == "user-1"))
    assert [g.role for g in _grants(person)] == [staff.INDEPENDENT_VERIFIER]
    # Not an LMS administrator at this launch: the admin grant waits, and says why.
    waiting = db.session.scalar(
        select(staff.PendingStaffGrant).where(
            staff.PendingStaffGrant.sub == "user-1", staff.PendingStaffGrant.role == "tool_admin"
        )
    )
    assert waiting.applied_at is None and "administrator" in waiting.note
    platform.launch(client, CLAIM_roles=[lti_roles.INSTRUCTOR, lti_roles.INSTITUTION_ADMIN])
    assert sorted(g.role for g in _grants(person)) == [staff.INDEPENDENT_VERIFIER, staff.TOOL_ADMIN]
    applied = _events("staff.role_granted")
    assert len(applied) == 2 and all(e.role == "system" and "pending grant" in e.actor_label for e in applied)
    # Applied once: a third launch adds nothing.
    platform.launch(client)
    assert len(_grants(person)) == 2


def test_revoke_cancels_a_pending_grant(app):
    _cli(app, "grant", "--issuer", "https://x", "--sub", "later", "--role", "assessor", "--pending")
    result = _cli(app, "revoke", "--issuer", "https://x", "--sub", "later", "--role", "assessor")
    assert result.exit_code == 0 and "Cancelled 1 pending" in result.output
    assert not db.session.scalars(select(staff.PendingStaffGrant).where(staff.PendingStaffGrant.sub == "later")).first()


def test_demo_staff_get_their_roles_at_launch_and_eli_is_not_attached(app, client):
    academy = db.session.scalar(select(Partner).where(Partner.slug == "demo-academy"))
    for sub in ("demo-assessor-sam", "demo-verifier-vera", "demo-verifier-eli", "demo-admin-alex", "demo-learner-ada"):
        demo_launch(client, sub)
    by_sub = {u.sub: u for u in db.session.scalars(select(LtiUser).where(LtiUser.issuer == demo_issuer()))}
    roles = {sub: [(g.role, g.home_partner_id) for g in _grants(u)] for sub, u in by_sub.items()}
    assert roles["demo-assessor-sam"] == [(staff.ASSESSOR, None)]
    assert roles["demo-verifier-vera"] == [(staff.INTERNAL_VERIFIER, academy.id)]
    assert roles["demo-verifier-eli"] == [(staff.INDEPENDENT_VERIFIER, None)]
    assert roles["demo-admin-alex"] == [(staff.TOOL_ADMIN, None)]
    assert roles["demo-learner-ada"] == []


def test_demo_setup_does_not_regrant_a_revoked_role(app, client):
    from lti_tool.demo_platform.setup import ensure_demo_platform

    demo_launch(client, "demo-assessor-sam")
    sam = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-assessor-sam"))
    _cli(app, "revoke", "--issuer", sam.issuer, "--sub", sam.sub, "--role", "assessor")
    ensure_demo_platform(app)  # what every restart does
    demo_launch(client, "demo-assessor-sam")
    assert not _grants(sam)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_admin_page_grants_and_revokes(app, client):
    demo_launch(client, "demo-verifier-eli")
    demo_launch(client, "demo-admin-alex")
    eli = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-verifier-eli"))
    alex = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-admin-alex"))
    page = client.get("/staff/admin/")
    assert page.status_code == 200 and b"Eli Brandt" in page.data
    csrf = _csrf(page.data.decode())
    resp = client.post(
        "/staff/admin/grant",
        data={"csrf_token": csrf, "user_id": eli.id, "role": "assessor", "certification_code": "CMIACR"},
    )
    assert resp.status_code == 303
    assert [(g.role, g.certification_code) for g in _grants(eli)][-1] == (staff.ASSESSOR, "CMIACR")
    event = _events("staff.role_granted")[-1]
    assert event.actor_id == alex.id and event.role == staff.TOOL_ADMIN
    # Eli is no LMS administrator: refused with a message beside the form, which keeps who and what was chosen.
    resp = client.post("/staff/admin/grant", data={"csrf_token": csrf, "user_id": eli.id, "role": "tool_admin"})
    grant_section = resp.data.decode().split('id="grant-title"')[1].split('id="pending-title"')[0]
    assert resp.status_code == 400 and not staff.is_tool_admin(eli.id)
    assert 'id="grant-error"' in grant_section and "administrator in their LMS" in grant_section
    assert f'<option value="{eli.id}" selected>' in grant_section
    assert '<option value="tool_admin" selected>' in grant_section
    # The same role twice: said in words, without the tool's internal number of the grant.
    resp = client.post(
        "/staff/admin/grant",
        data={"csrf_token": csrf, "user_id": eli.id, "role": "assessor", "certification_code": "CMIACR"},
    )
    page = resp.data.decode()
    assert resp.status_code == 400 and "Eli Brandt already holds this role with this scope." in page
    assert "(grant " not in page
    # Without the CSRF token: refused.
    assert client.post("/staff/admin/grant", data={"user_id": eli.id, "role": "assessor"}).status_code == 400
    grant = next(g for g in _grants(eli) if g.role == staff.ASSESSOR)
    # The first post asks for confirmation (what happens, the reason); only confirm=yes revokes.
    resp = client.post(f"/staff/admin/revoke/{grant.id}", data={"csrf_token": csrf, "reason": "Mistake"})
    page = resp.data.decode()
    assert resp.status_code == 200 and "Yes, revoke the role" in page and "Mistake" in page
    assert grant.id in [g.id for g in _grants(eli)] and not _events("staff.role_revoked")
    resp = client.post(
        f"/staff/admin/revoke/{grant.id}", data={"csrf_token": csrf, "reason": "Mistake", "confirm": "yes"}
    )
    assert resp.status_code == 303 and grant.id not in [g.id for g in _grants(eli)]
    assert _events("staff.role_revoked")[-1].rationale == "Mistake"
    own = next(g for g in _grants(alex) if g.role == staff.TOOL_ADMIN)
    assert client.post(f"/staff/admin/revoke/{own.id}", data={"csrf_token": csrf}).status_code == 409


def test_admin_page_is_for_tool_admins_only(app, client):
    demo_launch(client, "demo-assessor-sam")
    assert client.get("/staff/admin/").status_code == 403
    demo_launch(client, "demo-learner-ada")
    assert client.get("/staff/admin/").status_code == 403
    page = client.post("/staff/admin/grant", data={"csrf_token": "x"})
    assert page.status_code in (400, 403)


def test_admin_page_pending_grant_then_launch(app, client, jwks_server):
    platform = TestPlatform(jwks_server)
    demo_launch(client, "demo-admin-alex")
    csrf = _csrf(client.get("/staff/admin/").data.decode())
    resp = client.post(
        "/staff/admin/pending",
        data={
            "csrf_token": csrf,
            "issuer": platform.issuer,
            "sub": "user-1",
            "role": "assessor",
            "certification_code": "CMIACR",
        },
        follow_redirects=True,
    )
    assert b"will be granted to user-1 at their first launch" in resp.data
    # Refused: said beside the form (at the foot of a long page, far from the messages at its top), which
    # keeps what was typed and chosen.
    refused = client.post(
        "/staff/admin/pending",
        data={"csrf_token": csrf, "issuer": "", "sub": "x", "role": "internal_verifier"},
    )
    page = refused.data.decode()
    assert refused.status_code == 400
    pending_section = page.split('id="pending-title"')[1]
    assert 'id="pending-error"' in pending_section and "autofocus" in pending_section
    assert "Give the person&#39;s platform issuer and their subject" in pending_section
    assert 'name="sub" required value="x"' in pending_section
    assert '<option value="internal_verifier" selected>' in pending_section
    assert 'id="grant-error"' not in page
    assert len(staff_grants_open(platform.issuer)) == 1
    # Cancelled and re-added, then applied at launch.
    row = staff_grants_open(platform.issuer)[0]
    assert b"Yes, cancel it" in client.post(f"/staff/admin/pending/{row.id}/cancel", data={"csrf_token": csrf}).data
    assert len(staff_grants_open(platform.issuer)) == 1  # not before it is confirmed
    resp = client.post(f"/staff/admin/pending/{row.id}/cancel", data={"csrf_token": csrf, "confirm": "yes"})
    assert resp.status_code == 303
    assert not staff_grants_open(platform.issuer) and _events("staff.pending_cancelled")
    client.post(
        "/staff/admin/pending",
        data={"csrf_token": csrf, "issuer": platform.issuer, "sub": "user-1", "role": "assessor"},
    )
    platform.launch(client.application.test_client())
    person = db.session.scalar(select(LtiUser).where(LtiUser.sub == "user-1"))
    assert [g.role for g in _grants(person)] == [staff.ASSESSOR]
    # Now launched: the page says to grant directly.
    resp = client.post(
        "/staff/admin/pending",
        data={"csrf_token": csrf, "issuer": platform.issuer, "sub": "user-1", "role": "internal_verifier"},
        follow_redirects=True,
    )
    assert b"already launched" in resp.data


def staff_grants_open(issuer):
    from lti_tool.identity.grants import open_pending_grants

    return open_pending_grants(issuer)

"""The external quality assurer: read-only access to portfolios, decisions, sampling reports and packs within
the grant, nothing outside it, every view and download in the audit trail; sampling for EQA; the pack list
with progress and the download."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from sqlalchemy import func, select

from lti_tool.audit.trail import AuditEvent
from lti_tool.eqa import jobs, sampling
from lti_tool.eqa.models import QUEUED, READY, PackJob
from lti_tool.eqa.views import land_eqa
from lti_tool.identity import access as identity_access
from lti_tool.identity import staff
from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio import access, workflow
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT
from lti_tool.store.db import db, utcnow
from tests import assessment_factories as af
from tests.conftest import make_test_app
from tests.eqa_helpers import add_evidence, eqa_world, judged, pdf_bytes
from tests.registration_helpers import demo_launch


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_access_rules_follow_the_grant(sqlite_app):
    world = eqa_world()
    mine, other = world.w.portfolio, world.other_portfolio
    assert access.eqa_may_view(world.eqa.id, mine)
    assert not access.eqa_may_view(world.eqa.id, other)
    assert access.eqa_may_view(world.w.admin.id, other)  # tool administrators see everything
    # Other staff roles are no EQA role, and the EQA role is no staff role (it never reaches the acting pages).
    assert not access.eqa_may_view(world.w.assessor.id, mine)
    assert not access.staff_can_view(world.eqa.id, mine)
    scoped = set(db.session.scalars(sampling.matching(world.eqa.id, sampling.Criteria())))
    assert scoped == {mine.id}
    # A grant limited to a certification as well: another certification's portfolio is outside it.
    cert_limited = af.user("Cora Cert")
    af.grant(cert_limited, staff.EXTERNAL_QUALITY_ASSURER, world.w.partner, code="OTHER")
    db.session.commit()
    assert not access.eqa_may_view(cert_limited.id, mine)
    assert list(db.session.scalars(sampling.matching(cert_limited.id, sampling.Criteria()))) == []
    # Figures: within the grant only.
    assert identity_access.eqa_covers_scope(world.eqa.id, world.w.partner.id, None)
    assert identity_access.eqa_covers_scope(world.eqa.id, world.w.partner.id, "CMIACR")
    assert not identity_access.eqa_covers_scope(world.eqa.id, None, None)
    assert not identity_access.eqa_covers_scope(world.eqa.id, world.w.other_partner.id, None)


def test_eqa_reads_a_portfolio_in_grant_and_each_view_is_audited(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    p = world.w.portfolio
    resp = client.get(f"/eqa/portfolios/{p.id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for expected in ("Lee Learner", "Clear plan, well evidenced", "Vera Internal", "Confirmed after reading the plan."):
        assert expected in html
    # Why the decision was sampled: kept in English, read in the reader's language.
    assert "new assessor: 0 of the first 5 decisions verified" in html
    viewed = _events("eqa.portfolio_viewed")
    assert [(e.actor_id, e.subject_id, e.role) for e in viewed] == [
        (world.eqa.id, str(p.id), staff.EXTERNAL_QUALITY_ASSURER)
    ]
    spanish = client.get(f"/eqa/portfolios/{p.id}", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "evaluador/a nuevo/a: 0 de sus primeras 5 decisiones verificadas" in spanish

    sha = p.submissions[0].snapshot["evidence"][0]["files"][0]["sha256"]
    resp = client.get(f"/eqa/portfolios/{p.id}/attempts/1/files/{sha}")
    assert resp.status_code == 200 and resp.data == pdf_bytes("acme-plan-secret")
    assert "attachment" in resp.headers["Content-Disposition"]
    assert _events("eqa.evidence_downloaded")[0].after["sha256"] == sha


def test_nothing_outside_the_grant_and_refusals_record_nothing(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    other = world.other_portfolio
    sha = other.submissions[0].snapshot["evidence"][0]["files"][0]["sha256"]
    before = _count()
    assert client.get(f"/eqa/portfolios/{other.id}").status_code == 403
    assert client.get(f"/eqa/portfolios/{other.id}/attempts/1/files/{sha}").status_code == 403
    other_partner = world.w.other_partner.id
    assert client.get(f"/eqa/sampling?partner={other_partner}").status_code == 403
    assert client.get("/eqa/sampling?partner=").status_code == 403  # every partner is more than the grant
    assert client.get("/eqa/portfolios/999999").status_code == 404
    assert _count() == before
    # The acting staff pages are not theirs: read-only means no queue, no judging page, no staff record.
    assert client.get("/staff/").status_code == 403
    assert client.get(f"/staff/portfolios/{world.w.portfolio.id}").status_code == 403
    assert client.get(f"/staff/portfolios/{world.w.portfolio.id}/assess").status_code == 403
    # The portfolio list never shows what is outside the grant.
    html = client.get("/eqa/").get_data(as_text=True)
    assert "Lee Learner" in html and "Olga Other" not in html
    # People without the role are refused the EQA pages altogether.
    assessor = sqlite_app.test_client()
    af.sign_in(assessor, world.w.assessor)
    assert assessor.get("/eqa/").status_code == 403
    assert assessor.get(f"/eqa/portfolios/{world.w.portfolio.id}").status_code == 403


def test_sampling_report_within_the_grant(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    resp = client.get("/eqa/sampling")  # one grant: its partner is the default scope
    assert resp.status_code == 200 and "Sam Assessor" in resp.get_data(as_text=True)
    event = _events("eqa.sampling_report_viewed")[0]
    assert event.after == {"certification": None, "partner_id": world.w.partner.id}
    assert client.get(f"/eqa/sampling?partner={world.w.partner.id}&certification=CMIACR").status_code == 200


def test_sampling_report_counts_only_the_partner(sqlite_app):
    from lti_tool.portfolio.review.reports import assessor_lines

    world = eqa_world()
    judged(world.w, world.other_portfolio, workflow.REFERRED)  # Sam decides at the other partner too
    everywhere = {line.assessor: line.decisions for line in assessor_lines()}
    acme_only = {line.assessor: line.decisions for line in assessor_lines(partner_id=world.w.partner.id)}
    assert everywhere["Sam Assessor"] == 2 and acme_only["Sam Assessor"] == 1


def test_sample_filters_and_random_share(sqlite_app):
    world = eqa_world()
    w = world.w
    # More portfolios at acme: two referred, one still submitted (no decision).
    extra = []
    for name in ("Ann One", "Bob Two", "Cid Three"):
        learner = af.user(name)
        row = af.portfolio(learner, w.cert, w.partner, with_file=False)
        add_evidence(row, f"Plan of {name}", pdf_bytes(name))
        af.submit(row)
        extra.append(row)
    db.session.commit()
    judged(w, extra[0], workflow.REFERRED)
    judged(w, extra[1], workflow.REFERRED)

    def ids(**kw: object) -> list[int]:
        return sampling.draw(world.eqa.id, sampling.Criteria(**kw))  # type: ignore[arg-type]

    awarded, referred = w.portfolio.id, {extra[0].id, extra[1].id}
    assert set(ids()) == {awarded, *referred, extra[2].id}
    assert ids(outcome=sampling.AWARDED) == [awarded]
    assert set(ids(outcome=NOT_YET_COMPETENT)) == referred
    assert ids(outcome=COMPETENT) == [awarded]
    assert set(ids(assessor_id=w.assessor.id)) == {awarded, *referred}
    assert ids(assessor_id=w.assessor2.id) == []
    today = dt.date.today()
    assert set(ids(decided_from=today, decided_to=today)) == {awarded, *referred}
    assert ids(decided_to=today - dt.timedelta(days=1)) == []
    assert ids(partner_id=w.other_partner.id) == []  # outside the grant, whatever the filter says
    # A random share, reproducible from its seed.
    half = ids(share_percent=50, seed=7)
    assert len(half) == 2 and set(half) <= {awarded, *referred, extra[2].id}
    assert ids(share_percent=50, seed=7) == half
    assert len(ids(share_percent=1, seed=1)) == 1  # at least one


def test_sample_pack_from_the_pages_queued_ready_downloaded_expired(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    sess = af.sign_in(client, world.eqa)
    resp = client.post(
        "/eqa/packs",
        data={"csrf_token": sess.csrf_token, "outcome": "awarded", "share": "100", "partner": str(world.w.partner.id)},
    )
    assert resp.status_code == 303
    job = db.session.scalar(select(PackJob))
    assert job.state == QUEUED and job.portfolio_ids == [world.w.portfolio.id]
    assert job.criteria["outcome"] == "awarded" and isinstance(job.criteria["seed"], int)
    assert _events("eqa.pack_requested")[0].actor_id == world.eqa.id
    page = client.get("/eqa/packs").get_data(as_text=True)
    assert "Waiting to be built" in page and 'http-equiv="refresh"' in page

    # Not ready yet: no download.
    assert client.get(f"/eqa/packs/{job.id}/download").status_code == 409
    assert jobs.process_queue("test") == 1
    db.session.refresh(job)
    assert job.state == READY
    page = client.get("/eqa/packs").get_data(as_text=True)
    assert "Download ZIP" in page and 'http-equiv="refresh"' not in page

    resp = client.get(f"/eqa/packs/{job.id}/download")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        sample = zf.read("sample.json")
    assert b'"outcome": "awarded"' in sample
    downloaded = _events("eqa.pack_downloaded")
    assert len(downloaded) == 1 and downloaded[0].after["sha256"] == job.sha256

    # Someone else's pack: refused, even to another EQA with the same grant.
    colleague = af.user("Cal Colleague")
    af.grant(colleague, staff.EXTERNAL_QUALITY_ASSURER, world.w.partner)
    db.session.commit()
    other_client = sqlite_app.test_client()
    af.sign_in(other_client, colleague)
    assert other_client.get(f"/eqa/packs/{job.id}/download").status_code == 403

    # Expired: housekeeping deletes the file, the page says so and the download is gone.
    job.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    from lti_tool.housekeeping import purge_expired

    assert purge_expired()["pack_files"] == 1
    assert "Expired" in client.get("/eqa/packs").get_data(as_text=True)
    assert client.get(f"/eqa/packs/{job.id}/download").status_code == 410


def test_a_revoked_grant_ends_the_download(sqlite_app):
    world = eqa_world()
    client = sqlite_app.test_client()
    sess = af.sign_in(client, world.eqa)
    assert (
        client.post(f"/eqa/portfolios/{world.w.portfolio.id}/pack", data={"csrf_token": sess.csrf_token}).status_code
        == 303
    )
    jobs.process_queue("test")
    job = db.session.scalar(select(PackJob))
    grant = db.session.scalar(select(staff.StaffGrant).where(staff.StaffGrant.user_id == world.eqa.id))
    grant.partner_id = world.w.other_partner.id
    db.session.commit()
    before = _count()
    assert client.get(f"/eqa/packs/{job.id}/download").status_code == 403
    assert _count() == before


@pytest.mark.parametrize(
    "query",
    [
        "decided_from=yesterday",
        "share=0",
        "share=101",
        "outcome=maybe",
        "decided_from=2025-02-01&decided_to=2025-01-01",
    ],
)
def test_bad_filters_are_a_clear_422(sqlite_app, query):
    world = eqa_world()
    client = sqlite_app.test_client()
    af.sign_in(client, world.eqa)
    assert client.get(f"/eqa/?{query}").status_code == 422


def test_an_eqa_lands_on_the_eqa_pages(sqlite_app):
    world = eqa_world()
    dep = af.deployment(None)
    from lti_tool.launch.session import start_session

    sess = start_session(user=world.eqa, deployment=dep, roles=[lti_roles.TEACHING_ASSISTANT])
    db.session.commit()
    with sqlite_app.test_request_context():
        resp = land_eqa(sess)
        assert resp is not None and resp.location.endswith("/eqa/")
        # Someone with work queues as well lands on the queues (the staff landing), a learner never here.
        af.grant(world.eqa, staff.ASSESSOR, world.w.partner)
        assert land_eqa(sess) is None
        learner_sess = start_session(user=world.w.learner, deployment=dep, roles=[lti_roles.LEARNER])
        db.session.commit()
        assert land_eqa(learner_sess) is None


def test_a_tool_administrator_grants_the_role_in_the_console(sqlite_app):
    world = eqa_world()
    person = af.user("Rita Regulator")
    db.session.commit()
    client = sqlite_app.test_client()
    sess = af.sign_in(client, world.w.admin, [lti_roles.INSTITUTION_ADMIN])
    assert "External quality assurer (read-only)" in client.get("/staff/admin/").get_data(as_text=True)
    resp = client.post(
        "/staff/admin/grant",
        data={
            "csrf_token": sess.csrf_token,
            "user_id": str(person.id),
            "role": staff.EXTERNAL_QUALITY_ASSURER,
            "partner_id": str(world.w.partner.id),
        },
    )
    assert resp.status_code == 303
    [grant] = identity_access.eqa_grants(person.id)
    assert grant.partner_id == world.w.partner.id
    assert access.eqa_may_view(person.id, world.w.portfolio)
    assert not access.eqa_may_view(person.id, world.other_portfolio)
    assert _events("staff.role_granted")[-1].after["role"] == staff.EXTERNAL_QUALITY_ASSURER


def test_the_demo_has_an_external_quality_assurer_who_lands_on_the_eqa_pages(backend, tmp_path, keys_dir):
    """`make run`: a new user tries the role as Erin, from the demo course, with no setup."""
    app = make_test_app(backend, tmp_path, keys_dir, DEMO_CATALOGUE=True)
    with app.app_context():
        client = app.test_client()
        landed = demo_launch(client, "demo-eqa-erin")
        assert landed.status_code == 303 and landed.location.endswith("/eqa/")
        page = client.get(landed.location)
        assert page.status_code == 200 and b"Read-only" in page.data and b"Erin Walsh" in page.data
        # Read-only: no staff queue, no judging, no admin console.
        assert client.get("/staff/").status_code in (403, 404)
        assert client.get("/admin/").status_code == 403
        db.session.remove()

"""Instructor roster (NRPS), deep linking, the admin's grade job page and the command line."""

from __future__ import annotations

import re

import jwt
import pytest
from sqlalchemy import select

from lti_tool.admin.registration_cli import deployment_cli
from lti_tool.audit.trail import AuditEvent
from lti_tool.demo_platform.models import DemoDeepLink
from lti_tool.grading.cli import grading_cli
from lti_tool.grading.models import DELIVERED, FAILED, PENDING
from lti_tool.grading.outbox import enqueue_for_state
from lti_tool.grading.services import fetch_members
from lti_tool.identity.partners import Partner
from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant
from lti_tool.launch.models import Deployment, LtiContext, LtiUser, ResourceLink, ToolSession
from lti_tool.launch.roles import INSTRUCTOR
from lti_tool.portfolio.catalogue.models import PartnerOffering
from lti_tool.store.db import db
from tests.grading_helpers import award, jobs, live_app, make_certification, make_portfolio, submit
from tests.lti_helpers import TestPlatform, demo_launch

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
# Refusals and wiring that do not depend on the database backend run on SQLite only (keeps the suite fast).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


def _csrf(page: bytes) -> dict[str, str]:
    """The hidden form fields a page's POST forms carry (CSRF token and session token)."""
    fields = dict(re.findall(r'name="(csrf_token|_s)" value="([^"]+)"', page.decode()))
    assert fields, "the page has no form"
    return fields


def _session_auth(client) -> dict[str, str]:
    sess = db.session.get(ToolSession, client.get_cookie("lti_tool_session").value)
    return {"csrf_token": sess.csrf_token}


# --- roster ---------------------------------------------------------------------------------------------


def test_roster_merges_the_paged_lms_roster_with_portfolios(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir) as (app, base):
        client = app.test_client()
        cert = make_certification()
        demo_launch(client, "demo-learner-ada")
        link = db.session.scalar(select(ResourceLink))
        portfolio = make_portfolio(_user("demo-learner-ada"), link, cert)
        enqueue_for_state(portfolio)
        submit(portfolio)
        award(portfolio, "CMIACR-000777", credits=12)
        db.session.commit()
        context = db.session.scalar(select(LtiContext))
        # Two members a page: the tool must follow the platform's rel="next" links.
        context.nrps_url = f"{base}/demo/nrps/demo-course-cm101/memberships?limit=2"
        db.session.commit()
        members = fetch_members(context.deployment.registration, context.nrps_url)
        assert len(members) == 8 and len({m["user_id"] for m in members}) == 8  # every demo person

        instructor = app.test_client()
        resp = demo_launch(instructor, "demo-instructor-iris")
        page = instructor.get(resp.location, follow_redirects=True)
        assert page.status_code == 200 and page.request.path == "/grading/roster"
        html = page.data.decode()
        assert "Learners (2)" in html
        ada = html[html.index("Ada Mensah") : html.index("Ben Carter")]
        assert "Awarded" in ada and "CMIACR-000777" in ada and "12 credits, 120 CPD points" in ada
        assert "Sending" in ada  # its scores are still in the outbox
        ben = html[html.index("Ben Carter") :]
        assert "Not started" in ben  # in the LMS roster, never launched
        assert "Iris Novak" not in html.split("Learners (2)")[1].split("<h2>Staff")[0]  # instructors are not learners
        assert "not linked to a certification" not in html


def test_roster_without_nrps_lists_portfolios_and_says_why(client):
    cert = make_certification()
    demo_launch(client, "demo-learner-ada")
    make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), cert)
    db.session.commit()
    instructor = client.application.test_client()
    demo_launch(instructor, "demo-instructor-iris")
    context = db.session.scalar(select(LtiContext))
    context.nrps_url = None
    db.session.commit()
    html = instructor.get("/grading/roster").data.decode()
    assert "did not offer its course roster" in html and "Ada Mensah" in html and "Ben Carter" not in html


@SQLITE_ONLY
def test_roster_survives_an_unreachable_platform(client):
    demo_launch(client, "demo-instructor-iris")
    context = db.session.scalar(select(LtiContext))
    context.nrps_url = "http://127.0.0.1:9/nrps"  # nothing listens there
    db.session.commit()
    page = client.get("/grading/roster")
    assert page.status_code == 200 and b"could not be fetched just now" in page.data


@SQLITE_ONLY
def test_learners_may_not_see_the_roster(client):
    demo_launch(client, "demo-learner-ada")
    resp = client.get("/grading/roster")
    assert resp.status_code == 403 and b"instructors" in resp.data


@SQLITE_ONLY
def test_roster_requires_a_session(client):
    assert client.get("/grading/roster").status_code == 401


@pytest.fixture
def lms(app, jwks_server):
    return TestPlatform(jwks_server)


def test_instructor_is_told_when_the_activity_names_no_certification(client, lms):
    lms.launch(client, CLAIM_roles=[INSTRUCTOR])
    html = client.get("/start", follow_redirects=True).data.decode()
    assert "This activity is not linked to a certification yet" in html
    assert "certification=CODE" in html and "lti-tool deployment default" in html

    make_certification("CMIACR")
    runner = client.application.test_cli_runner()
    result = runner.invoke(
        deployment_cli,
        [
            "default",
            "--issuer",
            lms.issuer,
            "--client-id",
            lms.client_id,
            "--deployment-id",
            lms.deployment_id,
            "--certification",
            "CMIACR",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        db.session.scalar(select(Deployment).where(Deployment.deployment_id == "dep-1")).default_certification_code
        == "CMIACR"
    )
    html = client.get("/grading/roster").data.decode()
    assert "not linked to a certification" not in html and "Qualified CMIACR professional (CMIACR" in html
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deployment.default_certification"))


@SQLITE_ONLY
def test_instructor_is_told_when_the_certification_is_unknown(client, lms):
    lms.launch(client, CLAIM_roles=[INSTRUCTOR], CLAIM_custom={"certification": "NOPE"})
    html = client.get("/grading/roster").data.decode()
    assert "Unknown certification" in html and "NOPE" in html


@SQLITE_ONLY
def test_deployment_default_command_refusals(client, lms):
    runner = client.application.test_cli_runner()
    args = ["default", "--issuer", lms.issuer, "--client-id", lms.client_id, "--deployment-id", lms.deployment_id]
    unknown = runner.invoke(deployment_cli, [*args, "--certification", "NOPE"])
    assert unknown.exit_code != 0 and "no certification 'NOPE'" in unknown.output
    neither = runner.invoke(deployment_cli, args)
    assert neither.exit_code != 0 and "--certification CODE or --clear" in neither.output
    missing = runner.invoke(
        deployment_cli,
        ["default", "--issuer", lms.issuer, "--client-id", lms.client_id, "--deployment-id", "nope", "--clear"],
    )
    assert missing.exit_code != 0 and "No deployment 'nope'" in missing.output
    assert "Traceback" not in unknown.output + neither.output + missing.output
    make_certification("CMIACR")
    assert runner.invoke(deployment_cli, [*args, "--certification", "CMIACR"]).exit_code == 0
    cleared = runner.invoke(deployment_cli, [*args, "--clear"])
    assert cleared.exit_code == 0 and db.session.scalar(select(Deployment)).default_certification_code is None


# --- deep linking ---------------------------------------------------------------------------------------


def _deep_link_page(client, user: str = "demo-instructor-iris"):
    resp = demo_launch(client, user, deep_link=True)
    return client.get(resp.location, follow_redirects=True)


def test_deep_linking_returns_signed_links_with_line_items(client):
    make_certification("CMIACR", credits=12, units=("U1", "U2"))
    make_certification("CRAIACR", credits=8, units=("R1",))
    partner = db.session.scalar(select(Partner))
    db.session.add(PartnerOffering(partner_id=partner.id, certification_code="CMIACR", unit_codes="U2"))
    db.session.commit()
    page = _deep_link_page(client)
    assert page.status_code == 200 and page.request.path == "/grading/deep-link"
    html = page.data.decode()
    # The partner offers one pathway of CMIACR (unit U2 only); other certifications are not offered.
    assert 'value="CMIACR/U2"' in html and 'value="CMIACR/U1"' not in html and "CRAIACR" not in html
    assert 'value="CMIACR"' not in html and "has not chosen" not in html

    resp = client.post("/grading/deep-link", data={"choice": ["CMIACR/U2"], **_csrf(page.data)})
    assert resp.status_code == 200
    html = resp.data.decode()
    action = re.search(r'action="([^"]+)"', html).group(1)
    token = re.search(r'name="JWT" value="([^"]+)"', html).group(1)
    assert action == "http://localhost/demo/deep_link_return"

    jwks = client.get("/.well-known/jwks.json").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK({k["kid"]: k for k in jwks["keys"]}[kid])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="http://localhost/demo")
    assert claims["iss"] == "demo-tool-client"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "demo-deployment-1"
    assert claims[DL + "data"]  # the platform's opaque data comes back
    assert claims[DL + "msg"] == "Added 1 accreditation activity."
    [item] = claims[DL + "content_items"]
    assert item == {
        "type": "ltiResourceLink",
        "title": "Unit U2 of CMIACR (CMIACR unit U2)",
        "url": "http://localhost/lti/launch",
        "custom": {"certification": "CMIACR", "unit": "U2"},
        "lineItem": {
            "scoreMaximum": 100,
            "label": "Unit U2 of CMIACR (CMIACR unit U2)",
            "resourceId": "CMIACR/U2",
            "tag": "accreditation",
        },
    }
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deep_link.returned"))

    returned = client.post(action.replace("http://localhost", ""), data={"JWT": token})
    assert returned.status_code == 200 and b"received 1 item" in returned.data
    assert db.session.scalar(select(DemoDeepLink)).items == [item]


def test_deep_linking_without_offerings_lists_every_certification(client):
    make_certification("CMIACR", units=("U1",))
    make_certification("CRAIACR", units=("R1",))
    make_certification("CRAIACR", units=("R1", "R2"), version=2)
    page = _deep_link_page(client)
    html = page.data.decode()
    assert "has not chosen which certifications it offers" in html
    assert 'value="CMIACR"' in html and 'value="CRAIACR/R2"' in html  # the latest version only
    resp = client.post("/grading/deep-link", data={"choice": ["CMIACR", "CRAIACR"], **_csrf(page.data)})
    token = re.search(r'name="JWT" value="([^"]+)"', resp.data.decode()).group(1)
    items = jwt.decode(token, options={"verify_signature": False})[DL + "content_items"]
    assert [i["custom"] for i in items] == [{"certification": "CMIACR"}, {"certification": "CRAIACR"}]


@SQLITE_ONLY
def test_deep_linking_refusals(client):
    make_certification("CMIACR")
    learner = client.application.test_client()
    resp = _deep_link_page(learner, "demo-learner-ada")
    assert resp.status_code == 403 and b"instructors" in resp.data

    page = _deep_link_page(client)
    auth = _csrf(page.data)
    assert client.post("/grading/deep-link", data={"choice": "CMIACR"}).status_code == 400  # no CSRF token
    bad = client.post("/grading/deep-link", data={"choice": "EVIL", **auth})
    assert bad.status_code == 400 and b"not one offered" in bad.data
    none = client.post("/grading/deep-link", data=auth)
    assert none.status_code == 400 and b"at least one" in none.data

    normal = client.application.test_client()
    demo_launch(normal, "demo-instructor-iris")
    assert normal.get("/grading/deep-link").status_code == 400  # not a deep-linking launch


# --- admin page and CLI ---------------------------------------------------------------------------------


def _admin(client, partner_id: int | None = None) -> LtiUser:
    demo_launch(client, "demo-admin-alex")
    alex = _user("demo-admin-alex")
    # The demo makes Alex a tool admin for everything; replace that with the grant under test.
    for grant in db.session.scalars(select(StaffGrant).where(StaffGrant.user_id == alex.id)):
        db.session.delete(grant)
    db.session.add(StaffGrant(user_id=alex.id, role=TOOL_ADMIN, partner_id=partner_id))
    db.session.commit()
    return alex


def _failed_job(client):
    cert = make_certification()
    learner = client.application.test_client()
    demo_launch(learner, "demo-learner-ada")
    enqueue_for_state(make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), cert))
    db.session.commit()
    job = jobs()[0]
    job.status, job.attempts, job.last_status = FAILED, 1, 400
    job.last_error = 'POST .../scores answered HTTP 400: {"error": "invalid_request"}'
    db.session.commit()
    return job


def test_admin_sees_failed_jobs_and_retries_them(client):
    job = _failed_job(client)
    _admin(client)
    page = client.get("/grading/jobs?status=failed")
    assert page.status_code == 200
    assert b"invalid_request" in page.data and b"Failed (1)" in page.data
    resp = client.post(f"/grading/jobs/{job.id}/retry", data={"status": "failed", **_csrf(page.data)})
    assert resp.status_code == 303 and resp.location.endswith("/grading/jobs?status=failed")
    db.session.expire_all()
    assert jobs()[0].status == PENDING and jobs()[0].attempts == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "grading.job_retried"))
    assert event.actor_label == "Alex Reyes" and event.before == {"status": "failed"}
    jobs()[0].status = DELIVERED
    db.session.commit()
    again = client.post(f"/grading/jobs/{job.id}/retry", data=_csrf(page.data))
    assert again.status_code == 409
    assert client.get("/grading/jobs?status=bogus").status_code == 400


def test_a_tool_admin_grant_limited_to_a_partner_grants_nothing(client):
    """Tool administrators are tool-wide (granting refuses limits); a limited row made otherwise is inert."""
    job = _failed_job(client)
    other = Partner(slug="other", name="Other Academy")
    db.session.add(other)
    db.session.commit()
    _admin(client, partner_id=other.id)
    page = client.get("/grading/jobs")
    assert page.status_code == 403 and b"invalid_request" not in page.data
    assert client.post(f"/grading/jobs/{job.id}/retry", data=_session_auth(client)).status_code == 403
    db.session.expire_all()
    assert jobs()[0].status == FAILED


def test_only_tool_admins_see_grade_jobs(client):
    _failed_job(client)
    demo_launch(client, "demo-instructor-iris")
    assert client.get("/grading/jobs").status_code == 403
    assert client.post("/grading/jobs/1/retry", data=_session_auth(client)).status_code == 403


def test_cli_lists_and_retries_jobs(client):
    job = _failed_job(client)
    runner = client.application.test_cli_runner()
    listed = runner.invoke(grading_cli, ["jobs", "--status", "failed"])
    assert listed.exit_code == 0 and f"[{job.id}] failed" in listed.output and "invalid_request" in listed.output
    delivered = runner.invoke(grading_cli, ["jobs", "--status", "delivered"])
    assert "No grade jobs with status delivered." in delivered.output
    retried = runner.invoke(grading_cli, ["retry", str(job.id)])
    assert retried.exit_code == 0 and "1 job(s) queued" in retried.output
    db.session.expire_all()
    assert jobs()[0].status == PENDING
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "grading.job_retried"))
    assert event.actor_label.startswith("cli:")
    missing = runner.invoke(grading_cli, ["retry", "999"])
    assert missing.exit_code != 0 and "No grade job 999" in missing.output
    assert runner.invoke(grading_cli, ["retry"]).exit_code != 0
    jobs()[0].status = DELIVERED
    db.session.commit()
    refused = runner.invoke(grading_cli, ["retry", str(job.id)])
    assert refused.exit_code != 0 and "only failed or pending" in refused.output and "Traceback" not in refused.output


def test_worker_command_once_delivers_what_is_due(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir) as (app, _):
        client = app.test_client()
        demo_launch(client, "demo-learner-ada")
        enqueue_for_state(
            make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), make_certification())
        )
        db.session.commit()
        result = app.test_cli_runner().invoke(grading_cli, ["worker", "--once"])
        assert result.exit_code == 0 and "Delivered 1, to retry later 0, failed 0." in result.output
        db.session.expire_all()
        assert jobs()[0].status == DELIVERED


@SQLITE_ONLY
def test_home_sends_learners_to_their_page_not_the_roster(client):
    resp = demo_launch(client, "demo-learner-ada")
    page = client.get(resp.location)
    assert page.status_code == 200 and b"Ada Mensah" in page.data and b"Learners (" not in page.data


@SQLITE_ONLY
@pytest.mark.parametrize("enabled", [True, False])
def test_serve_starts_the_background_worker_unless_turned_off(app, monkeypatch, enabled):
    from lti_tool import commands
    from lti_tool.commands import serve
    from lti_tool.grading.worker import THREAD_NAME
    from lti_tool.web.background import workers_named

    served = []
    monkeypatch.setattr(
        commands, "run_simple", lambda host, port, application, **kw: served.append((port, application))
    )
    app.config["GRADING_WORKER_THREAD"] = enabled
    before = set(workers_named(THREAD_NAME))
    result = app.test_cli_runner().invoke(serve)
    assert result.exit_code == 0, result.output
    assert served == [(app.config["PORT"], app)]
    started = [t for t in workers_named(THREAD_NAME) if t not in before]
    for thread in started:
        thread.stop()
    assert len(started) == (1 if enabled else 0)
    assert ("Grade delivery runs in the background" in result.output) is enabled


@SQLITE_ONLY
def test_an_expired_deep_linking_request_says_to_start_again(client):
    from lti_tool.launch.models import CacheEntry

    page = _deep_link_page(client)
    assert page.status_code == 200
    db.session.query(CacheEntry).delete()  # the launch data and the tool's copy have expired
    db.session.commit()
    resp = client.get("/grading/deep-link")
    assert resp.status_code == 410 and b"has expired" in resp.data


@SQLITE_ONLY
def test_demo_outage_switch_fails_the_next_service_calls(client):
    assert client.post("/demo/outage", data={"count": "2", "status": "418"}).status_code == 400
    assert client.post("/demo/outage", data={"count": "x"}).status_code == 400
    assert client.post("/demo/outage", data={"count": "2", "status": "503"}).status_code == 303
    assert [client.post("/demo/token").status_code for _ in range(3)] == [503, 503, 400]
    assert client.get("/demo/gradebook").status_code == 200  # pages are never part of the outage
    client.post("/demo/outage", data={"count": "1", "status": "429"})
    busy = client.get("/demo/nrps/demo-course-cm101/memberships")
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "30"

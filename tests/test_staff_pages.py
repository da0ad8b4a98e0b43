"""Staff and appeal pages over HTTP: dispatch after launch, queues and filters, the assessment and
verification forms, appeals, and every refusal (learners, unscoped staff, involved staff)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio import workflow
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Assessment, Award
from lti_tool.store.db import db
from tests import assessment_factories as f
from tests.lti_helpers import demo_launch


def _as(client, person, roles=None):
    return f.sign_in(client, person, roles)


def _form(sess, **data):
    # Decisions are confirmed with the declaration (tests of the confirmation step leave it out).
    return {"csrf_token": sess.csrf_token, "declaration": "accepted", **data}


def _judgement_form(sess, ids, action, met=True, feedback="Seen in the plan", **extra):
    data = _form(sess, action=action, summary="Overall fine", **extra)
    for i, cid in enumerate(ids):
        ok = met if isinstance(met, bool) else met[i]
        data[f"met-{cid}"] = "met" if ok else "not_met"
        data[f"feedback-{cid}"] = feedback
    return data


def _count(html: str, queue: str) -> int:
    return int(re.search(rf'data-queue="{queue}">(\d+)<', html).group(1))


def test_launch_sends_staff_to_their_queues_and_learners_to_start(app, client):
    resp = demo_launch(client, "demo-assessor-sam")
    assert "/staff/" in resp.location  # the launch sends staff straight to their queues
    home = client.get(resp.location)
    assert home.status_code == 200 and b"Awaiting assessment" in home.data
    assert b"Awaiting independent verification" not in home.data  # Sam has no verifier role
    resp = demo_launch(client, "demo-learner-ada")
    assert client.get(resp.location).status_code == 200
    assert client.get("/staff/").status_code == 403


def test_queues_filter_order_and_scope(app, client):
    w = f.world()
    older = f.portfolio(f.user("Older Learner"), w.cert, w.partner)
    f.submit(older)
    older.state_changed_at -= dt.timedelta(days=3)
    other_cert = f.certification("CMOTHER")
    elsewhere = f.portfolio(f.user("Elsewhere Learner"), other_cert, w.other_partner)
    f.submit(elsewhere)
    db.session.commit()

    _as(client, w.assessor)
    home = client.get("/staff/").data.decode()
    assert _count(home, "assessment") == 3 and _count(home, "sent_back") == 0
    assert _count(client.get("/staff/?certification=CMOTHER").data.decode(), "assessment") == 1
    assert _count(client.get(f"/staff/?partner={w.partner.id}").data.decode(), "assessment") == 2
    page = client.get(f"/staff/queue/assessment?partner={w.partner.id}").data.decode()
    assert page.index("Older Learner") < page.index("Lee Learner") and "Elsewhere Learner" not in page

    # Sue's grant is limited to CMIACR: the other certification is not in her queue.
    _as(client, w.assessor2)
    assert _count(client.get("/staff/").data.decode(), "assessment") == 2
    # An assessor limited to another partner sees nothing of acme and may not open its assessment page.
    outsider = f.user("Out Sider")
    f.grant(outsider, staff.ASSESSOR, w.other_partner)
    db.session.commit()
    _as(client, outsider)
    assert _count(client.get("/staff/").data.decode(), "assessment") == 1
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/assess").status_code == 403
    assert client.get(f"/staff/portfolios/{w.portfolio.id}").status_code == 403
    assert client.get("/staff/queue/verification_2").status_code == 404  # not a queue for an assessor
    assert client.get("/staff/queue/nope").status_code == 404


def test_learners_and_strangers_cannot_open_staff_pages(app, client):
    w = f.world()
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/assess").status_code == 401
    sess = _as(client, w.learner, [lti_roles.LEARNER])
    for url in (
        f"/staff/portfolios/{w.portfolio.id}/assess",
        f"/staff/portfolios/{w.portfolio.id}/verify",
        f"/staff/portfolios/{w.portfolio.id}",
        "/staff/",
    ):
        assert client.get(url).status_code in (403, 409), url
    resp = client.post(
        f"/staff/portfolios/{w.portfolio.id}/assess", data=_judgement_form(sess, w.criteria_ids(), "competent")
    )
    assert resp.status_code == 403
    assert w.portfolio.state == workflow.SUBMITTED
    assert client.get("/staff/portfolios/999999/assess").status_code == 404


def test_full_path_over_http(app, client):
    w = f.world()
    ids = w.criteria_ids()
    sess = _as(client, w.assessor)
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/assess")
    html = page.data.decode()
    assert page.status_code == 200
    assert "1.1.1" in html and "The learner can do 1.1" in html and "Monitoring plan.pdf" in html
    assert "sha256" in html and 'name="csrf_token"' in html
    # Draft with one criterion.
    resp = client.post(
        f"/staff/portfolios/{w.portfolio.id}/assess",
        data={
            **_form(sess, action="save", summary="Draft summary"),
            f"met-{ids[0]}": "met",
            f"feedback-{ids[0]}": "Clear monitoring plan",
        },
    )
    assert resp.status_code == 303
    assert "Clear monitoring plan" in client.get(f"/staff/portfolios/{w.portfolio.id}/assess").data.decode()
    assert "Draft in progress by Sam Assessor" in client.get("/staff/queue/assessment").data.decode()
    # Competent with a criterion not yet met: refused, the form comes back with what was typed.
    resp = client.post(
        f"/staff/portfolios/{w.portfolio.id}/assess",
        data=_judgement_form(sess, ids, "competent", met=[True, False, True, True], feedback="Typed text kept"),
    )
    assert resp.status_code == 422
    assert b"Competent needs every criterion met" in resp.data and b"Typed text kept" in resp.data
    assert w.portfolio.state == workflow.SUBMITTED
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/assess", data=_judgement_form(sess, ids, "competent"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.VERIFICATION_1
    assert len(list(db.session.scalars(select(Assessment)))) == 1  # the draft became the decision

    # The assessor cannot reach the verification page even with a verifier grant.
    f.grant(w.assessor, staff.INTERNAL_VERIFIER)
    db.session.commit()
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/verify").status_code == 403
    assert (
        client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="agree")).status_code == 403
    )

    sess = _as(client, w.iv)
    home = client.get("/staff/").data.decode()
    assert _count(home, "verification_1") == 1
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/verify").data.decode()
    assert "Verification step 1" in page and "Sampled for internal verification" in page and "new assessor" in page
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="disagree"))
    assert resp.status_code == 422 and b"rationale" in resp.data
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="agree"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.VERIFICATION_2

    # An independent verifier attached to acme: refused. Eli (attached elsewhere): confirms.
    insider = f.user("In Sider")
    f.grant(insider, staff.INDEPENDENT_VERIFIER, home=w.partner)
    db.session.commit()
    insider_sess = _as(client, insider)
    assert _count(client.get("/staff/").data.decode(), "verification_2") == 0
    assert (
        client.post(
            f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(insider_sess, outcome="confirm")
        ).status_code
        == 403
    )
    sess = _as(client, w.ev)
    assert _count(client.get("/staff/").data.decode(), "verification_2") == 1
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="confirm"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.AWARDED
    award = db.session.scalar(select(Award))
    record = client.get(f"/staff/portfolios/{w.portfolio.id}").data.decode()
    assert award.certificate_number in record and "Verification step 2: Confirmed" in record
    # Nothing further to verify.
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/verify").status_code == 409


def test_send_back_over_http_reaches_the_assessor_queue(app, client):
    w = f.world()
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), "All met", rng=f.NeverSample())
    db.session.commit()
    sess = _as(client, w.iv)
    resp = client.post(
        f"/staff/portfolios/{w.portfolio.id}/verify",
        data=_form(sess, outcome="disagree", rationale="Witness was not present"),
    )
    assert resp.status_code == 303
    _as(client, w.assessor)
    assert _count(client.get("/staff/").data.decode(), "sent_back") == 1
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/assess").data.decode()
    assert "sent your decision back" in page and "Witness was not present" in page
    assert "checked" in page  # the form starts from the decision sent back


def test_appeal_over_http(app, client):
    w = f.world()
    assessing.decide(
        w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()), "Add the escalation record"
    )
    db.session.commit()
    url = f"/appeals/portfolio/{w.portfolio.id}"
    # Someone else may not see the learner's appeal page.
    _as(client, w.assessor)
    assert client.get(url).status_code == 404
    sess = f.sign_in(client, w.learner, [lti_roles.LEARNER], dep=f.deployment(w.portfolio.partner))
    page = client.get(url).data.decode()
    assert "Missing the escalation record" in page and "Lodge the appeal" in page
    resp = client.post(url, data=_form(sess, grounds=""))
    assert resp.status_code == 422 and b"grounds" in resp.data
    resp = client.post(url, data=_form(sess, grounds="The record is in item 1"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.APPEALED
    assert "Your appeal is being decided" in client.get(url).data.decode()

    # The assessor is involved: no appeal in the queue, the page refuses.
    f.grant(w.assessor, staff.TOOL_ADMIN)
    db.session.commit()
    _as(client, w.assessor)
    assert _count(client.get("/staff/").data.decode(), "appeals") == 0
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/appeal").status_code == 403
    sess = _as(client, w.admin)
    assert _count(client.get("/staff/").data.decode(), "appeals") == 1
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/appeal").data.decode()
    assert "The record is in item 1" in page and "Not yet competent" in page
    assert (
        client.post(f"/staff/portfolios/{w.portfolio.id}/appeal", data=_form(sess, outcome="uphold")).status_code == 422
    )
    # The decision is confirmed with the declaration before it is recorded (and cannot be undone).
    first = {"csrf_token": sess.csrf_token, "outcome": "uphold", "rationale": "The record is there"}
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/appeal", data=first)
    assert resp.status_code == 200 and b"Confirm and record" in resp.data and b"assessed afresh" in resp.data
    db.session.expire_all()
    assert w.portfolio.state == workflow.APPEALED
    confirm = {**first, "step": "confirm"}
    assert client.post(f"/staff/portfolios/{w.portfolio.id}/appeal", data=confirm).status_code == 422
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/appeal", data={**confirm, "declaration": "accepted"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.SUBMITTED
    # Back in the assessment queue, but not for the original assessor.
    _as(client, w.assessor)
    assert _count(client.get("/staff/").data.decode(), "assessment") == 0
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/assess").status_code == 403
    _as(client, w.assessor2)
    assert _count(client.get("/staff/").data.decode(), "assessment") == 1


def test_appeal_out_of_time_over_http(app, client):
    w = f.world()
    decision = assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()))
    decision.decided_at -= dt.timedelta(days=29)
    db.session.commit()
    sess = f.sign_in(client, w.learner, [lti_roles.LEARNER], dep=f.deployment(w.portfolio.partner))
    page = client.get(f"/appeals/portfolio/{w.portfolio.id}").data.decode()
    assert "28-day period" in page and "Lodge the appeal" not in page
    resp = client.post(f"/appeals/portfolio/{w.portfolio.id}", data=_form(sess, grounds="Late"))
    assert resp.status_code == 409
    db.session.expire_all()
    assert w.portfolio.state == workflow.REFERRED


def test_posts_need_the_csrf_token(app, client):
    w = f.world()
    _as(client, w.assessor)
    resp = client.post(f"/staff/portfolios/{w.portfolio.id}/assess", data={"action": "save"})
    assert resp.status_code == 400


def test_separation_of_duties_over_http(app, client):
    w = f.world()
    # The learner, also an assessor, may not assess their own portfolio.
    f.grant(w.learner, staff.ASSESSOR)
    db.session.commit()
    sess = _as(client, w.learner)
    assert _count(client.get("/staff/").data.decode(), "assessment") == 0
    assert client.get(f"/staff/portfolios/{w.portfolio.id}/assess").status_code == 403
    assert (
        client.post(
            f"/staff/portfolios/{w.portfolio.id}/assess", data=_judgement_form(sess, w.criteria_ids(), "competent")
        ).status_code
        == 403
    )
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), rng=f.NeverSample())
    db.session.commit()
    # The step-1 verifier, also an independent verifier, may not do step 2 of the same decision.
    f.grant(w.iv, staff.INDEPENDENT_VERIFIER)
    db.session.commit()
    sess = _as(client, w.iv)
    assert (
        client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="agree")).status_code == 303
    )
    home = client.get("/staff/").data.decode()
    assert _count(home, "verification_2") == 0
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/verify")
    assert page.status_code == 403 and b"internal verifier" in page.data
    assert (
        client.post(f"/staff/portfolios/{w.portfolio.id}/verify", data=_form(sess, outcome="confirm")).status_code
        == 403
    )
    db.session.expire_all()
    assert w.portfolio.state == workflow.VERIFICATION_2
    assert db.session.scalar(select(Award)) is None


def test_pages_work_without_the_cookie(app, client):
    """Browsers that block the tool's cookie in the LMS iframe: the session token travels in links and forms."""
    w = f.world()
    sess = f.sign_in(client, w.assessor)
    client.delete_cookie("lti_tool_session", domain="localhost")
    assert client.get("/staff/").status_code == 401
    home = client.get(f"/staff/?_s={sess.id}").data.decode()
    assert f"/staff/queue/assessment?_s={sess.id}" in home
    page = client.get(f"/staff/portfolios/{w.portfolio.id}/assess?_s={sess.id}").data.decode()
    assert f'name="_s" value="{sess.id}"' in page
    resp = client.post(
        f"/staff/portfolios/{w.portfolio.id}/assess",
        data={**_form(sess, action="save", summary="No cookie"), "_s": sess.id},
    )
    assert resp.status_code == 303 and f"_s={sess.id}" in resp.location

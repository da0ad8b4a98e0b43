"""Staff oversight (issue 17): caseloads set by tool administrators (limits enforced on claims and
reassignments, audited), queue filters (claimed by me / unclaimed, overdue) with my caseload first, the
sampling plan edited in the web (confirmed, audited), coverage over time in the sampling report, and each
portfolio's audit trail with the chain checked."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from lti_tool.audit.trail import AuditEvent
from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio.review import appeals, reports, sampling
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment
from lti_tool.portfolio.review.verification_models import KIND_DIM, UNIT_DIM, SamplingCoverage, SamplingDecision
from lti_tool.store.db import db
from tests import assessment_factories as f

ADMIN_ROLES = [lti_roles.INSTITUTION_ADMIN]


def _post(client, sess, url, **data):
    return client.post(url, data={"csrf_token": sess.csrf_token, **data})


def _events(prefix: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.action.like(prefix + "%")).order_by(AuditEvent.id))
    )


def _submitted(w: f.World, name: str) -> int:
    row = f.portfolio(f.user(name), w.cert, w.partner)
    f.submit(row)
    db.session.commit()
    return row.id


def test_caseload_limits_claims_and_reassignments(app, client):
    w = f.world()
    second = _submitted(w, "Second Learner")
    admin = f.sign_in(client, w.admin, ADMIN_ROLES)
    page = client.get("/staff/caseloads").data.decode()
    assert "Sam Assessor" in page and "Eli Independent" in page and "Caseload limit for Sam Assessor" in page
    assert _post(client, admin, f"/staff/caseloads/{w.assessor.id}", max_items="x").status_code == 422
    assert _post(client, admin, f"/staff/caseloads/{w.assessor.id}", max_items="99999").status_code == 422
    assert _post(client, admin, "/staff/caseloads/999999", max_items="3").status_code == 404
    assert _post(client, admin, f"/staff/caseloads/{w.assessor.id}", max_items="1").status_code == 303
    event = _events("caseload.")[-1]
    assert event.before == {"max_items": None} and event.after == {"max_items": 1}
    assert event.subject_id == str(w.assessor.id) and event.actor_id == w.admin.id

    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"/staff/caseloads/{w.assessor.id}", max_items="9").status_code == 403
    assert _post(client, sam, f"/staff/queue/assessment/{w.portfolio.id}/claim").status_code == 303
    resp = _post(client, sam, f"/staff/queue/assessment/{second}/claim")
    assert resp.status_code == 409 and b"Your caseload is full: holding 1 of a limit of 1" in resp.data
    # Full: the admin cannot give Sam more either; Sue has no limit.
    admin = f.sign_in(client, w.admin, ADMIN_ROLES)
    resp = _post(client, admin, f"/staff/queue/assessment/{second}/reassign", user_id=str(w.assessor.id))
    assert resp.status_code == 409 and b"caseload is full: holding 1 of a limit of 1" in resp.data
    page = client.get("/staff/caseloads").data.decode()
    assert f'data-holding="{w.assessor.id}">1 of 1' in page and "Full" in page
    # Removing the limit frees Sam to take more; audited as well.
    assert _post(client, admin, f"/staff/caseloads/{w.assessor.id}", max_items="").status_code == 303
    assert _events("caseload.")[-1].after == {"max_items": None}
    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"/staff/queue/assessment/{second}/claim").status_code == 303


def test_queue_filters_claimed_overdue_and_my_caseload_first(app, client):
    w = f.world()
    old = _submitted(w, "Olga Oldest")
    mine = _submitted(w, "Mia Mine")
    db.session.execute(
        update(f.Portfolio)
        .where(f.Portfolio.id == old)
        .values(state_changed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=30))
    )
    db.session.commit()
    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"/staff/queue/assessment/{mine}/claim").status_code == 303
    page = client.get("/staff/queue/assessment").data.decode()
    # Mine first, then oldest first.
    assert page.index("Mia Mine") < page.index("Olga Oldest") < page.index("Lee Learner")
    page = client.get("/staff/queue/assessment?claimed=me").data.decode()
    assert "Mia Mine" in page and "Olga Oldest" not in page and "Lee Learner" not in page
    page = client.get("/staff/queue/assessment?claimed=none").data.decode()
    assert "Mia Mine" not in page and "Olga Oldest" in page and "Lee Learner" in page
    page = client.get("/staff/queue/assessment?overdue=1").data.decode()
    assert "Olga Oldest" in page and "Mia Mine" not in page and "Lee Learner" not in page
    assert 'name="overdue" value="1"' in page and "Clear filters" in page
    assert client.get("/staff/queue/assessment?claimed=them").status_code == 400
    home = client.get("/staff/?overdue=1").data.decode()
    assert 'data-queue="assessment">1<' in home and "overdue=1" in home
    # Another assessor: Sam's claim is not theirs.
    f.sign_in(client, w.assessor2)
    assert "Nothing waiting for you here matches" in client.get("/staff/queue/assessment?claimed=me").data.decode()


def test_sampling_plan_edited_with_confirmation_and_audited(app, client):
    w = f.world()
    code = w.cert.code
    sam = f.sign_in(client, w.assessor)
    assert client.get(f"/staff/sampling/plan?certification={code}").status_code == 403
    admin = f.sign_in(client, w.admin, ADMIN_ROLES)
    page = client.get(f"/staff/sampling/plan?certification={code}").data.decode()
    assert "follows the default plan" in page and 'value="25.0"' in page
    assert client.get("/staff/sampling/plan?certification=NOPE").status_code == 404
    form = {"certification": code, "new_assessor_threshold": "3", "share_percent": "40", "coverage_decisions": "8"}
    form["coverage_days"] = "60"
    resp = _post(client, admin, "/staff/sampling/plan", **form)
    assert resp.status_code == 200 and b"Confirm the new plan" in resp.data and b"Save this plan" in resp.data
    assert sampling.policy_for(code) == sampling.Policy() and not _events("sampling.")  # nothing saved yet
    bad = _post(client, admin, "/staff/sampling/plan", **{**form, "share_percent": "140"})
    assert bad.status_code == 422 and b"percentage from 0 to 100" in bad.data
    assert bad.data.count(b"percentage from 0 to 100") == 1  # beside the form, not again in the layout
    bad = _post(client, admin, "/staff/sampling/plan", **{**form, "coverage_days": "0", "confirm": "save"})
    assert bad.status_code == 422 and sampling.policy_for(code) == sampling.Policy()
    assert _post(client, admin, "/staff/sampling/plan", **form, confirm="save").status_code == 303
    assert sampling.policy_for(code) == sampling.Policy(3, 0.4, 8, 60)
    (event,) = _events("sampling.policy_set")
    assert event.before["share"] == 0.25 and event.after["share"] == 0.4 and event.actor_id == w.admin.id
    assert "has its own plan" in client.get(f"/staff/sampling/plan?certification={code}").data.decode()
    del sam


def test_coverage_over_time_by_quarter_and_month(app, client):
    w = f.world()
    now = dt.datetime(2026, 11, 20)

    def decision(when: dt.datetime, sampled: bool, *dims: tuple[str, str]) -> None:
        judged = Assessment(submission_id=w.portfolio.submissions[-1].id, assessor_id=w.assessor.id)
        db.session.add(judged)
        db.session.flush()
        db.session.add(
            SamplingDecision(
                assessment_id=judged.id,
                assessor_id=w.assessor.id,
                certification_code=w.cert.code,
                sampled=sampled,
                reasons=[],
                draw=0.5,
                policy={},
                created_at=when,
                coverage=[SamplingCoverage(dimension=d, value=v) for d, v in dims],
            )
        )

    decision(dt.datetime(2026, 11, 2), True, (UNIT_DIM, "U1"), (KIND_DIM, "observation"))
    decision(dt.datetime(2026, 10, 5), False, (UNIT_DIM, "U1"), (UNIT_DIM, "U2"))
    decision(dt.datetime(2026, 8, 1), False, (UNIT_DIM, "U2"))
    decision(dt.datetime(2024, 1, 1), True, (UNIT_DIM, "U9"))  # long before the periods shown
    db.session.commit()
    report = reports.coverage_over_time(w.cert.code, "quarter", now=now)
    assert report.periods == ["2026 Q1", "2026 Q2", "2026 Q3", "2026 Q4"]
    rows = {r.value: r for r in report.rows}
    assert set(rows) == {"U1", "U2", "observation"} and report.rows[-1].value == "observation"
    assert [(c.decisions, c.sampled) for c in rows["U1"].cells] == [(0, 0), (0, 0), (0, 0), (2, 1)]
    assert [c.gap for c in rows["U2"].cells] == [False, False, True, True]
    months = reports.coverage_over_time(None, "month", now=now)
    assert months.periods[-2:] == ["Oct 2026", "Nov 2026"] and len(months.periods) == 6
    assert [(c.decisions, c.sampled) for c in {r.value: r for r in months.rows}["U1"].cells[-2:]] == [(1, 0), (1, 1)]

    admin = f.sign_in(client, w.admin, ADMIN_ROLES)
    page = client.get("/staff/sampling?by=month").data.decode()
    assert "Coverage of units and evidence kinds over time" in page and "Sampling plan per certification" in page
    assert client.get("/staff/sampling?by=year").status_code == 400
    del admin


def test_portfolio_audit_trail_with_the_chain_checked(app, client):
    w = f.world()
    pid = w.portfolio.id
    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"/staff/queue/assessment/{pid}/claim").status_code == 303
    page = client.get(f"/staff/portfolios/{pid}/trail").data.decode()
    assert "Chain verified" in page and "work.claimed" in page and "by Sam Assessor" in page
    assert f"/staff/portfolios/{pid}/trail" in client.get(f"/staff/portfolios/{pid}").data.decode()
    # Who may not view the portfolio as staff may not read its trail.
    f.sign_in(client, w.learner, [lti_roles.LEARNER])
    assert client.get(f"/staff/portfolios/{pid}/trail").status_code == 403
    outsider = f.user("Out Sider")
    f.grant(outsider, "assessor", w.other_partner)
    db.session.commit()
    f.sign_in(client, outsider)
    assert client.get(f"/staff/portfolios/{pid}/trail").status_code == 403
    # An altered event is reported, not hidden.
    claimed = _events("work.claimed")[-1]
    db.session.execute(update(AuditEvent).where(AuditEvent.id == claimed.id).values(actor_label="Someone Else"))
    db.session.commit()
    f.sign_in(client, w.admin, ADMIN_ROLES)
    page = client.get(f"/staff/portfolios/{pid}/trail").data.decode()
    assert "The chain does not hold for 1 of these events" in page
    assert f"Event {claimed.id}: its content does not match its hash" in page


def test_appeals_are_claimed_like_other_work(app, client):
    w = f.world()
    pid = w.portfolio.id
    assessing.decide(pid, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()), "More evidence")
    db.session.commit()
    appeals.lodge(pid, w.learner, "The evidence was in item 1")
    db.session.commit()
    base = f"/staff/queue/appeals/{pid}"
    # The assessor who made the decision appealed may not take it; another assessor may.
    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"{base}/claim").status_code == 403
    sue = f.sign_in(client, w.assessor2)
    page = client.get("/staff/queue/appeals").data.decode()
    assert "Claim the portfolio of Lee Learner" in page
    assert _post(client, sue, f"{base}/claim").status_code == 303
    assert "<strong>You</strong>" in client.get("/staff/queue/appeals?claimed=me").data.decode()
    # A tool administrator sees who holds it and gives it to the internal verifier (not involved either).
    admin = f.sign_in(client, w.admin, ADMIN_ROLES)
    assert "Sue Assessor" in client.get("/staff/queue/appeals?all=1").data.decode()
    assert _post(client, admin, f"{base}/reassign", user_id=str(w.assessor.id)).status_code == 422
    assert _post(client, admin, f"{base}/reassign", user_id=str(w.iv.id)).status_code == 303
    assert [e.after["queue"] for e in _events("work.") if e.after] == ["appeals", "appeals"]

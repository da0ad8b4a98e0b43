"""Claiming work in the staff queues (issue 17): claim, see who holds it, release, a tool administrator
reassigns; search by learner name or certificate number; the overdue flag against the service level."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import COMPETENT
from lti_tool.store.db import db
from tests import assessment_factories as f


def _post(client, sess, url, **data):
    return client.post(url, data={"csrf_token": sess.csrf_token, **data})


def test_claim_release_and_reassign(app, client):
    w = f.world()
    pid = w.portfolio.id
    base = f"/staff/queue/assessment/{pid}"

    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"{base}/claim").status_code == 303
    assert _post(client, sam, f"{base}/claim").status_code == 303  # again: still theirs
    page = client.get("/staff/queue/assessment").data.decode()
    assert "<strong>You</strong>" in page and "Release the portfolio of Lee Learner" in page

    # Another assessor sees who holds it, may neither take it nor give it back.
    sue = f.sign_in(client, w.assessor2)
    page = client.get("/staff/queue/assessment").data.decode()
    assert "Sam Assessor" in page and "Claim the portfolio of" not in page
    resp = _post(client, sue, f"{base}/claim")
    assert resp.status_code == 409 and b"Sam Assessor has claimed this already" in resp.data
    assert _post(client, sue, f"{base}/release").status_code == 403
    assert _post(client, sue, f"{base}/reassign", user_id=str(w.assessor2.id)).status_code == 403

    # A tool administrator sees every item and gives it to Sue; not to someone it does not wait for.
    admin = f.sign_in(client, w.admin, [lti_roles.INSTITUTION_ADMIN])
    assert client.get("/staff/queue/assessment").status_code == 404  # not an admin's own queue
    page = client.get("/staff/queue/assessment?all=1").data.decode()
    assert "Lee Learner" in page and "Sam Assessor" in page and "Give it to" in page
    resp = _post(client, admin, f"{base}/reassign", user_id=str(w.ev.id))
    assert resp.status_code == 422 and b"Eli Independent cannot take this work" in resp.data
    assert _post(client, admin, f"{base}/reassign", user_id="999999").status_code == 404
    assert _post(client, admin, f"{base}/reassign", user_id="x").status_code == 404
    assert _post(client, admin, f"{base}/reassign", user_id=str(w.assessor2.id), all="1").status_code == 303
    assert "Sue Assessor" in client.get("/staff/queue/assessment?all=1").data.decode()
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("work.%")))]
    assert actions == ["work.claimed", "work.claimed", "work.reassigned"]

    # Sue releases it; anyone it waits for can claim it again.
    sue = f.sign_in(client, w.assessor2)
    assert _post(client, sue, f"{base}/release").status_code == 303
    assert "Claim the portfolio of Lee Learner" in client.get("/staff/queue/assessment").data.decode()


def test_who_may_not_claim(app, client):
    w = f.world()
    pid = w.portfolio.id
    learner = f.sign_in(client, w.learner, [lti_roles.LEARNER], dep=f.deployment(w.partner))
    assert _post(client, learner, f"/staff/queue/assessment/{pid}/claim").status_code == 403
    iv = f.sign_in(client, w.iv)
    assert _post(client, iv, f"/staff/queue/assessment/{pid}/claim").status_code == 404  # not their queue
    sam = f.sign_in(client, w.assessor)
    assert _post(client, sam, f"/staff/queue/appeals/{pid}/claim").status_code == 403  # no appeal waiting
    assert _post(client, sam, f"/staff/queue/nope/{pid}/claim").status_code == 404
    assert _post(client, sam, "/staff/queue/assessment/999999/claim").status_code == 404
    # A claim lasts while the item waits in that state.
    assert _post(client, sam, f"/staff/queue/assessment/{pid}/claim").status_code == 303
    assessing.decide(pid, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), "Fine")
    db.session.commit()
    assert _post(client, sam, f"/staff/queue/assessment/{pid}/claim").status_code == 403  # no longer waiting


def test_search_and_overdue(app, client):
    w = f.world()
    other = f.portfolio(f.user("Zed Other", [lti_roles.LEARNER], f.deployment(w.partner)), w.cert, w.partner)
    f.submit(other)
    w.portfolio.state_changed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=30)
    db.session.commit()
    f.sign_in(client, w.assessor)
    page = client.get("/staff/queue/assessment").data.decode()
    assert "Lee Learner" in page and "Zed Other" in page
    assert page.count("badge-overdue") == 1 and "more than 10 days" in page
    page = client.get("/staff/queue/assessment?q=lee").data.decode()
    assert "Lee Learner" in page and "Zed Other" not in page
    page = client.get("/staff/queue/assessment?q=%25").data.decode()  # LIKE wildcards are plain text
    assert "Nothing waiting for you here matches" in page
    home = client.get("/staff/?q=zed").data.decode()
    assert 'data-queue="assessment">1<' in home

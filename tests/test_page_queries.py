"""The learner's portfolio page and the instructor's roster cost the same SQL statements however much data is
behind them (no statement per evidence item, file, attempt or learner): bench/scale_bench.py measures the same
at 100,000 learners."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from lti_tool.grading.models import GradeJob
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiContext, LtiUser, ResourceLink
from lti_tool.launch.session import COOKIE_NAME, start_session
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, Portfolio, StoredFile
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment, CriterionJudgement
from lti_tool.store.db import db
from tests import assessment_factories as f
from tests import grading_helpers as g
from tests.conftest import count_statements


def _add_items(row: Portfolio, n: int) -> None:
    criteria = [c for u in row.certification.units for o in u.outcomes for c in o.criteria]
    for k in range(n):
        item = EvidenceItem(
            portfolio_id=row.id,
            kind="work_product",
            title=f"Report {k}",
            description="Mine",
            evidence_date=dt.date(2025, 5, 1),
        )
        item.criteria = criteria[k % len(criteria) :]
        for j in range(2):
            digest = hashlib.sha256(f"{row.id}-{k}-{j}-{n}".encode()).hexdigest()
            db.session.add(StoredFile(sha256=digest, size=1000 + j, media_type="application/pdf"))
            item.files.append(EvidenceFile(sha256=digest, filename=f"report-{k}-{j}.pdf"))
        db.session.add(item)
    db.session.flush()


def _referred_attempt(row: Portfolio, assessor: LtiUser) -> None:
    """Submit, and the assessor refers it back with a judgement on every criterion."""
    sub = f.submit(row)
    decision = Assessment(
        submission_id=sub.id,
        assessor_id=assessor.id,
        decision=NOT_YET_COMPETENT,
        summary="More needed",
        decided_at=dt.datetime(2025, 2, sub.attempt),
    )
    decision.judgements = [
        CriterionJudgement(criterion_id=c["id"], met=i % 2 == 0, feedback="See the guidance")
        for i, c in enumerate(sub.snapshot["criteria"])
    ]
    db.session.add(decision)
    workflow.transition(row, workflow.REFERRED, duty="assessor", actor=assessor)
    db.session.commit()


def test_portfolio_page_statements_do_not_grow_with_evidence_and_attempts(app, client):
    w = f.world(submitted=False)
    _referred_attempt(w.portfolio, w.assessor)
    f.sign_in(client, w.learner, [lti_roles.LEARNER], dep=f.deployment(w.partner))
    url = f"/portfolio/{w.portfolio.id}"
    client.get(url)  # first request of the app: nothing cached yet
    small = count_statements(client, url)
    _add_items(w.portfolio, 8)
    _referred_attempt(w.portfolio, w.assessor)
    _referred_attempt(w.portfolio, w.assessor2)
    page = client.get(url).data.decode()
    assert "Report 7" in page and "report-7-1.pdf" in page and "Attempt 3" in page and "Not yet met" in page
    assert count_statements(client, url) == small


def _course(client) -> tuple:
    """A course with one placement, and the client signed in as its instructor. Returns (link, add learners)."""
    cert = g.make_certification()
    dep = f.deployment(f.partner("acme"))
    ctx = LtiContext(deployment_id=dep.id, context_id="course-1", title="Cohort 1")
    db.session.add(ctx)
    db.session.flush()
    link = ResourceLink(
        deployment_id=dep.id, context_id=ctx.id, resource_link_id="link-1", custom={"certification": cert.code}
    )
    db.session.add(link)
    teacher = f.user("Iris Instructor")
    db.session.flush()
    sess = start_session(user=teacher, deployment=dep, context=ctx, resource_link=link, roles=[lti_roles.INSTRUCTOR])
    db.session.commit()
    client.set_cookie(COOKIE_NAME, sess.id, domain="localhost")
    made = [0]

    def learners(n: int) -> None:
        for _ in range(n):
            made[0] += 1
            row = g.make_portfolio(f.user(f"Learner {made[0]}"), link, cert)
            g.submit(row)
            if made[0] % 2:
                g.award(row, f"CMIACR-{made[0]:06d}")
            for seq in (1, 2, 3):  # a history of gradebook jobs; the roster shows the latest
                db.session.add(
                    GradeJob(
                        portfolio_id=row.id,
                        resource_link_id=link.id,
                        user_id=row.user_id,
                        lms_user_id=row.user.sub,
                        target="main",
                        state=row.state,
                        sequence=seq,
                        payload={},
                        line_item={},
                        status="delivered" if seq < 3 else "failed",
                    )
                )
        db.session.commit()

    return link, learners


def test_roster_statements_do_not_grow_with_the_course(app, client):
    _, learners = _course(client)
    learners(2)
    client.get("/grading/roster")
    small = count_statements(client, "/grading/roster")
    learners(8)
    html = client.get("/grading/roster").data.decode()
    assert "Learners (10)" in html and "Not sent" in html and "CMIACR-000009" in html
    assert count_statements(client, "/grading/roster") == small


def _names(html: str) -> list[str]:
    # A learner with a portfolio is a link to it inside the row header; one without is plain text.
    return [n.strip() for n in re.findall(r'<th scope="row">(?:<a [^>]*>)?([^<]+)', html)]


def test_roster_pages_through_a_large_course_by_name(app, client, monkeypatch):
    from lti_tool.grading import roster

    _, learners = _course(client)
    learners(10)
    monkeypatch.setattr(roster, "PER_PAGE", 4)
    first = client.get("/grading/roster").data.decode()
    assert "Learners (10)" in first and "Showing 1–4 of 10 (page 1 of 3)" in first
    assert _names(first) == ["Learner 1", "Learner 10", "Learner 2", "Learner 3"]  # by name
    assert 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/grading/roster?page=3").data.decode()
    assert "Showing 9–10 of 10" in last and _names(last) == ["Learner 8", "Learner 9"] and 'rel="next"' not in last
    assert "CMIACR-000009" in last  # awards and gradebook status are read for the page shown
    assert "Showing 9–10 of 10" in client.get("/grading/roster?page=99").data.decode()
    for bad in ("99999999999999999999999", "²", "-1"):
        assert client.get("/grading/roster", query_string={"page": bad}).status_code == 200

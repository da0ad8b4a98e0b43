"""The outbox: jobs written with the state change, in order per learner, and claimed in that order."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from lti_tool.grading.models import CREDITS, DELIVERED, FAILED, IN_PROGRESS, MAIN, PENDING, GradeJob
from lti_tool.grading.outbox import RetryRefused, enqueue_for_state, requeue
from lti_tool.grading.scores import parse_timestamp
from lti_tool.grading.worker import Settings, claim_batch, claim_next
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.portfolio import workflow as wf
from lti_tool.store.db import db, utcnow
from tests.grading_helpers import award, jobs, make_certification, make_portfolio, opt_in_credits_column, refer, submit
from tests.lti_helpers import demo_launch

SETTINGS = Settings(lease_seconds=60, backoff_seconds=1, backoff_max_seconds=10, max_attempts=5, poll_seconds=1)


def _learner(client, sub: str = "demo-learner-ada") -> tuple[LtiUser, ResourceLink]:
    demo_launch(client, sub)
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))
    return user, db.session.scalar(select(ResourceLink))


@pytest.fixture
def cert(app):
    return make_certification()


def test_job_is_written_in_the_transaction_of_the_change(client, cert):
    user, link = _learner(client)
    portfolio = make_portfolio(user, link, cert)
    enqueue_for_state(portfolio)
    db.session.commit()
    assert [(j.state, j.sequence, j.status) for j in jobs()] == [(wf.DRAFT, 1, PENDING)]
    assert jobs()[0].payload["activityProgress"] == "Started"

    submit(portfolio)
    db.session.rollback()  # the state change is abandoned: so is its score
    assert [j.state for j in jobs()] == [wf.DRAFT]
    assert db.session.get(type(portfolio), portfolio.id).state == wf.DRAFT

    submit(db.session.get(type(portfolio), portfolio.id))
    db.session.commit()
    assert [(j.state, j.sequence) for j in jobs()] == [(wf.DRAFT, 1), (wf.SUBMITTED, 2)]
    job = jobs()[1]
    assert job.lms_user_id == "demo-learner-ada" and job.target == MAIN and job.resource_link_id == link.id
    assert job.line_item == {
        "label": "Qualified CMIACR professional (CMIACR)",
        "scoreMaximum": 100,
        "resourceId": "CMIACR",
        "tag": "accreditation",
    }


def test_a_whole_journey_gives_ordered_scores_and_credits_at_award(client, cert):
    user, link = _learner(client)
    opt_in_credits_column(link)
    assessor, _ = _learner(client, "demo-assessor-sam")
    portfolio = make_portfolio(user, link, cert)
    enqueue_for_state(portfolio)
    submit(portfolio)
    refer(portfolio, assessor, "Add a central monitoring plan you wrote.")
    wf.transition(portfolio, wf.APPEALED, duty="learner")
    wf.transition(portfolio, wf.REFERRED, duty="appeal_panel")
    submit(portfolio)
    wf.transition(portfolio, wf.ASSESSED, duty="assessor")
    wf.transition(portfolio, wf.VERIFICATION_1, duty="system")
    wf.transition(portfolio, wf.SENT_BACK, duty="internal_verifier")
    award(portfolio, "CMIACR-000042", credits=12)
    db.session.commit()

    main = jobs(target=MAIN)
    # States that tell the gradebook nothing new (assessed, verification, sent back) add no job.
    assert [(j.sequence, j.state, j.payload["activityProgress"], j.payload["gradingProgress"]) for j in main] == [
        (1, wf.DRAFT, "Started", "NotReady"),
        (2, wf.SUBMITTED, "Submitted", "PendingManual"),
        (3, wf.REFERRED, "InProgress", "PendingManual"),
        (4, wf.APPEALED, "Submitted", "PendingManual"),
        (5, wf.REFERRED, "InProgress", "PendingManual"),
        (6, wf.SUBMITTED, "Submitted", "PendingManual"),
        (7, wf.AWARDED, "Completed", "FullyGraded"),
    ]
    assert main[2].payload["comment"] == "Add a central monitoring plan you wrote."
    assert main[6].payload["scoreGiven"] == 100 and main[6].payload["scoreMaximum"] == 100
    assert "CMIACR-000042" in main[6].payload["comment"]
    stamps = [parse_timestamp(j.payload["timestamp"]) for j in main]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(s.tzinfo is not None for s in stamps)

    [credits] = jobs(target=CREDITS)
    assert credits.sequence == 1 and credits.payload["scoreGiven"] == 12 and credits.payload["scoreMaximum"] == 12
    assert credits.line_item["tag"] == "credits" and credits.line_item["scoreMaximum"] == 12


def test_awarded_without_an_award_row_is_refused(client, cert):
    user, link = _learner(client)
    portfolio = make_portfolio(user, link, cert)
    submit(portfolio)
    wf.transition(portfolio, wf.ASSESSED, duty="assessor")
    wf.transition(portfolio, wf.VERIFICATION_2, duty="system")
    with pytest.raises(RuntimeError, match="without an Award row"):
        wf.transition(portfolio, wf.AWARDED, duty="independent_verifier")
    db.session.rollback()


def test_no_jobs_without_a_score_service_and_no_credits_without_lineitem_scope(client, cert):
    user, link = _learner(client)
    portfolio = make_portfolio(user, link, cert)
    link.ags_scopes = ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]
    submit(portfolio)
    award(portfolio)
    db.session.commit()
    assert {j.target for j in jobs()} == {MAIN}  # the credits column needs the lineitem scope

    ben, _ = _learner(client, "demo-learner-ben")
    link.ags_scopes = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"]
    other = make_portfolio(ben, link, cert)
    assert enqueue_for_state(other) == []
    submit(other)
    db.session.commit()
    assert not jobs(user_id=ben.id)


def test_a_failed_score_is_not_taken_as_already_said(client, cert):
    user, link = _learner(client)
    portfolio = make_portfolio(user, link, cert)
    enqueue_for_state(portfolio)
    db.session.commit()
    jobs()[0].status = FAILED
    enqueue_for_state(portfolio)
    db.session.commit()
    assert [j.sequence for j in jobs()] == [1, 2]


def test_requeue_rules(client, cert):
    user, link = _learner(client)
    portfolio = make_portfolio(user, link, cert)
    enqueue_for_state(portfolio)
    submit(portfolio)
    db.session.commit()
    first, second = jobs()
    first.status, first.attempts, first.last_error = FAILED, 3, "HTTP 400"
    requeue(first)
    assert first.status == PENDING and first.attempts == 0 and first.next_attempt_at <= utcnow()
    first.status, second.status = FAILED, DELIVERED
    with pytest.raises(RetryRefused, match="later score"):
        requeue(first)
    with pytest.raises(RetryRefused, match="delivered"):
        requeue(second)


def test_claims_follow_each_learners_order(client, cert):
    ada, link = _learner(client)
    ben, _ = _learner(client, "demo-learner-ben")
    pa, pb = make_portfolio(ada, link, cert), make_portfolio(ben, link, cert)
    enqueue_for_state(pa)
    submit(pa)
    enqueue_for_state(pb)
    db.session.commit()
    ada1, ada2, ben1 = jobs()
    # Ada's first score waits in backoff: her second must wait too, Ben's goes ahead.
    ada1.next_attempt_at = utcnow() + dt.timedelta(minutes=5)
    db.session.commit()
    claimed = claim_next("w1", SETTINGS)
    assert claimed.id == ben1.id and claimed.status == IN_PROGRESS and claimed.attempts == 1
    assert claimed.leased_by == "w1" and claimed.lease_until > utcnow()
    assert claim_next("w1", SETTINGS) is None  # Ben's job is leased, Ada's second is blocked by her first

    db.session.execute(update(GradeJob).where(GradeJob.id == ada1.id).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert claim_next("w2", SETTINGS).id == ada1.id
    assert claim_next("w2", SETTINGS) is None  # ada2 waits while ada1 is in progress

    # The worker holding ada1 dies: once the lease runs out, the job is claimed again, still before ada2.
    db.session.execute(
        update(GradeJob).where(GradeJob.id == ada1.id).values(lease_until=utcnow() - dt.timedelta(seconds=1))
    )
    db.session.commit()
    again = claim_next("w3", SETTINGS)
    assert again.id == ada1.id and again.attempts == 2 and again.leased_by == "w3"
    db.session.execute(update(GradeJob).where(GradeJob.id == ada1.id).values(status=DELIVERED))
    db.session.commit()
    assert claim_next("w3", SETTINGS).id == ada2.id


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SKIP LOCKED is the PostgreSQL claim path
def test_postgresql_workers_skip_rows_another_worker_is_claiming(client, cert, backend):
    ada, link = _learner(client)
    ben, _ = _learner(client, "demo-learner-ben")
    enqueue_for_state(make_portfolio(ada, link, cert))
    enqueue_for_state(make_portfolio(ben, link, cert))
    db.session.commit()
    first, second = jobs()
    with db.engine.connect() as other_worker:
        other_worker.execute(select(GradeJob.id).where(GradeJob.id == first.id).with_for_update())
        claimed = claim_next("w1", SETTINGS)  # would block without SKIP LOCKED
        assert claimed.id == second.id
        other_worker.rollback()
    assert claim_next("w1", SETTINGS).id == first.id


def test_a_batch_claim_takes_only_each_learners_next_job(client, cert):
    ada, link = _learner(client)
    ben, _ = _learner(client, "demo-learner-ben")
    pa, pb = make_portfolio(ada, link, cert), make_portfolio(ben, link, cert)
    enqueue_for_state(pa)
    submit(pa)
    enqueue_for_state(pb)
    submit(pb)
    db.session.commit()
    ada1, ada2, ben1, ben2 = jobs()
    assert claim_batch("w1", SETTINGS, 10) == [ada1.id, ben1.id]
    db.session.expire_all()
    assert [(j.status, j.leased_by, j.attempts) for j in (ada1, ben1)] == [(IN_PROGRESS, "w1", 1)] * 2
    assert claim_batch("w2", SETTINGS, 10) == []  # each second score waits behind the first, in progress
    db.session.execute(update(GradeJob).where(GradeJob.id == ada1.id).values(status=DELIVERED))
    db.session.commit()
    assert claim_batch("w2", SETTINGS, 10) == [ada2.id]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_batch_claims_skip_rows_another_worker_is_claiming(client, cert, backend):
    ada, link = _learner(client)
    for i in range(3):
        user = LtiUser(issuer=ada.issuer, sub=f"learner-{i}", name=f"Learner {i}")
        db.session.add(user)
        db.session.flush()
        enqueue_for_state(make_portfolio(user, link, cert))
    db.session.commit()
    first, second, third = jobs()
    with db.engine.connect() as other_worker:
        # Another worker's claim transaction holds the first two rows.
        other_worker.execute(select(GradeJob.id).where(GradeJob.id.in_([first.id, second.id])).with_for_update())
        assert claim_batch("w1", SETTINGS, 10) == [third.id]  # would wait for the other without SKIP LOCKED
        other_worker.rollback()
    assert claim_batch("w1", SETTINGS, 10) == [first.id, second.id]

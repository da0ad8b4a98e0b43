"""Delivery end to end: the worker makes real HTTP calls to the demo platform served on a loopback server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time

import pytest
from sqlalchemy import delete, event, func, select, update

from lti_tool.demo_platform.models import DemoAccessToken, DemoLineItem, DemoScore
from lti_tool.demo_platform.services import latest_scores, simulate_outage, token_requests
from lti_tool.grading import worker
from lti_tool.grading.models import CREDITS, DELIVERED, FAILED, IN_PROGRESS, MAIN, PENDING, GradeLineItem, ServiceToken
from lti_tool.grading.outbox import enqueue_for_state
from lti_tool.grading.services import connector_for, scope_key
from lti_tool.grading.worker import Delivery, Settings, claim_batch, process_batch, process_due_jobs
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.portfolio import workflow as wf
from lti_tool.store.db import db, utcnow
from tests.grading_helpers import (
    award,
    drain,
    jobs,
    live_app,
    make_certification,
    make_portfolio,
    opt_in_credits_column,
    refer,
    submit,
)
from tests.lti_helpers import demo_launch

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"


@pytest.fixture
def live(backend, tmp_path, keys_dir):
    with live_app(backend, tmp_path, keys_dir) as (app, base):
        yield app, base


@pytest.fixture
def client(live):
    return live[0].test_client()


def _learner(client, sub: str = "demo-learner-ada") -> tuple[LtiUser, ResourceLink]:
    demo_launch(client, sub)
    return (db.session.scalar(select(LtiUser).where(LtiUser.sub == sub)), db.session.scalar(select(ResourceLink)))


def _scores(sub: str = "demo-learner-ada", tag: str | None = None) -> list[dict]:
    query = select(DemoScore).join(DemoLineItem).where(DemoScore.user_id == sub).order_by(DemoScore.id)
    if tag is not None:
        query = query.where(DemoLineItem.tag == tag)
    return [s.payload for s in db.session.scalars(query)]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_every_state_reaches_the_gradebook_exactly_as_built_with_one_token(client):
    cert = make_certification(credits=12)
    ada, link = _learner(client)
    sam, _ = _learner(client, "demo-assessor-sam")
    assert link.ags_lineitems_url.startswith("http://127.0.0.1:") and not link.ags_lineitem_url
    opt_in_credits_column(link)
    portfolio = make_portfolio(ada, link, cert)
    enqueue_for_state(portfolio)
    submit(portfolio)
    refer(portfolio, sam, "Add a central monitoring plan you wrote.")
    submit(portfolio)
    award(portfolio, "CMIACR-000042", credits=12)
    db.session.commit()
    drain()

    assert all(j.status == DELIVERED and j.attempts == 1 for j in jobs())
    # The line items were created once, with resourceLinkId (Open edX needs it), and remembered.
    items = {i.tag: i for i in db.session.scalars(select(DemoLineItem))}
    assert set(items) == {"accreditation", "credits"}
    main, credits = items["accreditation"], items["credits"]
    assert (main.label, main.score_maximum, main.resource_id, main.resource_link_id) == (
        "Qualified CMIACR professional (CMIACR)",
        100,
        "CMIACR",
        "demo-link-cmiacr",
    )
    assert (credits.score_maximum, credits.resource_id, credits.resource_link_id) == (12, "CMIACR", "demo-link-cmiacr")
    remembered = {r.target: r for r in db.session.scalars(select(GradeLineItem))}
    assert remembered[MAIN].source == remembered[CREDITS].source == "created"
    assert remembered[MAIN].url.endswith(f"/lineitems/{main.id}")

    # What the platform received is exactly what was built at enqueue time, in order.
    expected = [j.payload for j in jobs(target=MAIN)]
    assert _scores(tag="accreditation") == expected
    progress = [
        (p["activityProgress"], p["gradingProgress"], p.get("scoreGiven"), p.get("scoreMaximum")) for p in expected
    ]
    assert progress == [
        ("Started", "NotReady", None, None),
        ("Submitted", "PendingManual", None, None),
        ("InProgress", "PendingManual", None, None),
        ("Submitted", "PendingManual", None, None),
        ("Completed", "FullyGraded", 100, 100),
    ]
    assert expected[2]["comment"] == "Add a central monitoring plan you wrote."
    assert expected[4]["comment"] == "Awarded. Certificate number CMIACR-000042. 12 learning credits, 120 CPD points."
    assert all(p["userId"] == "demo-learner-ada" for p in expected)
    assert _scores(tag="credits") == [jobs(target=CREDITS)[0].payload]
    assert _scores(tag="credits")[0]["scoreGiven"] == 12
    gradebook = latest_scores(main.id)["demo-learner-ada"].payload
    assert gradebook["scoreGiven"] == 100 and gradebook["gradingProgress"] == "FullyGraded"

    # Seven scores and two line item calls, one access token: it is cached in the database.
    assert token_requests() == 1 and _count(ServiceToken) == 1
    other = make_portfolio(_learner(client, "demo-learner-ben")[0], link, cert)
    enqueue_for_state(other)
    db.session.commit()
    drain()
    assert token_requests() == 1 and _scores("demo-learner-ben")[0]["activityProgress"] == "Started"


def test_the_launch_lineitem_claim_wins_and_found_items_are_reused(client):
    cert = make_certification()
    ada, link = _learner(client)
    base = link.ags_lineitems_url
    linked = DemoLineItem(context_id="demo-course-cm101", label="Linked column", score_maximum=100)
    tagged = DemoLineItem(
        context_id="demo-course-cm101",
        label="Credits",
        score_maximum=12,
        resource_link_id="demo-link-cmiacr",
        tag="credits",
    )
    db.session.add_all([linked, tagged])
    db.session.commit()
    opt_in_credits_column(link)
    link.ags_lineitem_url = f"{base}/{linked.id}"  # as a platform sends when one line item is linked
    portfolio = make_portfolio(ada, link, cert)
    submit(portfolio)
    award(portfolio)
    db.session.commit()
    drain()
    assert _count(DemoLineItem) == 2  # nothing created
    assert [p["activityProgress"] for p in _scores(tag=None)] == ["Submitted", "Completed", "Completed"]
    counted = select(DemoScore.line_item_id, func.count()).group_by(DemoScore.line_item_id)
    per_item = dict(db.session.execute(counted).all())
    assert per_item == {linked.id: 2, tagged.id: 1}
    sources = {r.target: r.source for r in db.session.scalars(select(GradeLineItem))}
    assert sources == {MAIN: "launch", CREDITS: "found"}


def test_an_outage_delays_scores_but_loses_none_and_keeps_their_order(client):
    cert = make_certification()
    ada, link = _learner(client)
    portfolio = make_portfolio(ada, link, cert)
    enqueue_for_state(portfolio)
    submit(portfolio)
    wf.transition(portfolio, wf.ASSESSED, duty="assessor")
    db.session.commit()
    simulate_outage(503, count=4)
    process_due_jobs("w1")
    first = jobs()[0]
    assert first.status == PENDING and first.last_status == 503 and "503" in first.last_error
    assert first.attempts >= 1 and jobs()[1].attempts == 0  # the later score waited for the earlier one
    drain()
    assert [j.status for j in jobs()] == [DELIVERED, DELIVERED]
    received = _scores()
    assert received == [j.payload for j in jobs()]  # each once, in order
    assert jobs()[0].attempts > 1 and jobs()[0].last_error == ""


def test_429_retry_after_is_honoured(client):
    cert = make_certification()
    ada, link = _learner(client)
    enqueue_for_state(make_portfolio(ada, link, cert))
    db.session.commit()
    simulate_outage(429, count=1, retry_after=120)
    before = utcnow()
    assert process_due_jobs("w1") == {DELIVERED: 0, PENDING: 1, FAILED: 0}
    job = jobs()[0]
    assert job.status == PENDING and job.last_status == 429
    assert job.next_attempt_at >= before + dt.timedelta(seconds=119)
    assert process_due_jobs("w1") == {DELIVERED: 0, PENDING: 0, FAILED: 0}  # not due yet


def test_a_worker_killed_mid_delivery_is_redone_after_its_lease(client, live, monkeypatch):
    live[0].config["GRADING_LEASE_SECONDS"] = 60
    cert = make_certification()
    ada, link = _learner(client)
    enqueue_for_state(make_portfolio(ada, link, cert))
    db.session.commit()

    def killed(*args, **kwargs):
        raise SystemExit("worker killed after posting, before recording")

    monkeypatch.setattr(worker, "_finish", killed)
    with pytest.raises(SystemExit):
        process_due_jobs("doomed-worker")
    monkeypatch.undo()
    db.session.rollback()
    job = jobs()[0]
    assert job.status == IN_PROGRESS and job.leased_by == "doomed-worker" and len(_scores()) == 1
    assert process_due_jobs("new-worker")[DELIVERED] == 0  # still leased: nobody else touches it
    # Time passes beyond the lease (moved back rather than waited for, so a slow machine cannot flake).
    job.lease_until = job.lease_until - dt.timedelta(seconds=61)
    db.session.commit()
    assert process_due_jobs("new-worker")[DELIVERED] == 1
    db.session.expire_all()
    assert jobs()[0].status == DELIVERED and jobs()[0].attempts == 2
    # The platform got the same score twice: same payload, same timestamp, one result in the gradebook.
    first, second = _scores()
    assert first == second
    item = db.session.scalar(select(DemoLineItem))
    assert list(latest_scores(item.id)) == ["demo-learner-ada"]


def test_a_refused_score_fails_with_the_platforms_message_on_the_admin_page_and_cli(client, live):
    from lti_tool.grading.cli import grading_cli
    from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant

    cert = make_certification()
    ada, link = _learner(client)
    portfolio = make_portfolio(ada, link, cert)
    enqueue_for_state(portfolio)
    submit(portfolio)
    db.session.commit()
    bad = jobs()[0]
    bad.payload = {**bad.payload, "timestamp": "yesterday"}  # a payload a strict LMS refuses with 400
    db.session.commit()
    drain()
    bad, good = jobs()
    assert bad.status == FAILED and bad.attempts == 1 and bad.last_status == 400
    assert "The score timestamp is not ISO 8601." in bad.last_error
    assert good.status == DELIVERED  # a failed score does not hold back the learner's later ones

    result = live[0].test_cli_runner().invoke(grading_cli, ["jobs", "--status", "failed"])
    assert result.exit_code == 0 and f"[{bad.id}] failed" in result.output
    assert "The score timestamp is not ISO 8601." in result.output

    admin_client = live[0].test_client()
    demo_launch(admin_client, "demo-admin-alex")
    alex = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-admin-alex"))
    db.session.add(StaffGrant(user_id=alex.id, role=TOOL_ADMIN))
    db.session.commit()
    page = admin_client.get("/grading/jobs?status=failed")
    assert page.status_code == 200
    assert b"The score timestamp is not ISO 8601." in page.data and f"#{bad.id}".encode() in page.data


def test_a_revoked_or_expiring_token_is_replaced(client):
    cert = make_certification()
    ada, link = _learner(client)
    portfolio = make_portfolio(ada, link, cert)
    enqueue_for_state(portfolio)
    db.session.commit()
    drain()
    assert token_requests() == 1
    db.session.execute(delete(DemoAccessToken))  # the platform forgets every token it issued
    db.session.commit()
    submit(portfolio)
    db.session.commit()
    drain()
    assert jobs()[-1].status == DELIVERED and jobs()[-1].attempts == 1  # 401, new token, same attempt
    assert token_requests() == 1  # the old token row was deleted by the test; one new one
    # An hour-long token with 30 s left (the margin before expiry is a minute for such a token).
    db.session.execute(
        update(ServiceToken).values(
            created_at=utcnow() - dt.timedelta(seconds=3570), expires_at=utcnow() + dt.timedelta(seconds=30)
        )
    )
    db.session.commit()
    award(portfolio)
    db.session.commit()
    drain()
    assert token_requests() == 2  # refreshed ahead of expiry


def test_a_platform_without_line_item_access_fails_clearly(client):
    cert = make_certification()
    ada, link = _learner(client)
    link.ags_scopes = [AGS + "score"]
    enqueue_for_state(make_portfolio(ada, link, cert))
    db.session.commit()
    drain()
    job = jobs()[0]
    assert job.status == FAILED and "does not let the tool read or create line items" in job.last_error


def test_a_deleted_column_is_found_or_created_again(client):
    cert = make_certification()
    ada, link = _learner(client)
    portfolio = make_portfolio(ada, link, cert)
    enqueue_for_state(portfolio)
    db.session.commit()
    drain()
    db.session.execute(delete(DemoLineItem))  # an instructor deletes the gradebook column
    db.session.commit()
    submit(portfolio)
    db.session.commit()
    drain()
    job = jobs()[-1]
    assert job.status == DELIVERED and job.attempts == 2
    assert _count(DemoLineItem) == 1 and _scores()[-1] == job.payload


def test_a_deep_linked_activity_scores_into_the_column_the_lms_made_for_it(client, live):
    cert = make_certification()
    page = client.get(demo_launch(client, "demo-instructor-iris", deep_link=True).location, follow_redirects=True)
    fields = dict(re.findall(r'name="(csrf_token|_s)" value="([^"]+)"', page.data.decode()))
    form = client.post("/grading/deep-link", data={"choice": "CMIACR", **fields}).data.decode()
    token = re.search(r'name="JWT" value="([^"]+)"', form).group(1)
    assert client.post("/demo/deep_link_return", data={"JWT": token}).status_code == 200
    column = db.session.scalar(select(DemoLineItem))  # the platform made the column from the lineItem
    assert (column.tag, column.score_maximum, column.resource_id) == ("accreditation", 100, "CMIACR")
    course = client.get("/demo/course/demo-learner-ada").data.decode()
    assert "Qualified CMIACR professional (CMIACR)" in course and column.resource_link_id in course

    learner = live[0].test_client()
    demo_launch(learner, "demo-learner-ada", link=column.resource_link_id)
    link = db.session.scalar(select(ResourceLink).where(ResourceLink.resource_link_id == column.resource_link_id))
    assert link.custom["certification"] == "CMIACR" and link.ags_lineitem_url.endswith(f"/lineitems/{column.id}")
    enqueue_for_state(
        make_portfolio(db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada")), link, cert)
    )
    db.session.commit()
    drain()
    assert _count(DemoLineItem) == 1 and _scores()[0]["activityProgress"] == "Started"
    assert db.session.scalar(select(DemoScore)).line_item_id == column.id


def test_the_background_worker_delivers_and_stops(client, live):
    ada, link = _learner(client)
    enqueue_for_state(make_portfolio(ada, link, make_certification()))
    db.session.commit()
    background = worker.start_background_worker(live[0])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            db.session.expire_all()
            if jobs()[0].status == DELIVERED:
                break
            time.sleep(0.05)
        assert jobs()[0].status == DELIVERED and _scores()[0]["activityProgress"] == "Started"
    finally:
        background.stop()
    assert not background.is_alive()


@pytest.mark.slow
def test_two_workers_at_once_create_the_column_only_once(client, live, monkeypatch):
    from lti_tool.grading import lineitems

    cert = make_certification()
    ada, link = _learner(client)
    ben, _ = _learner(client, "demo-learner-ben")
    enqueue_for_state(make_portfolio(ada, link, cert))
    enqueue_for_state(make_portfolio(ben, link, cert))
    db.session.commit()
    slow_find = lineitems.find_line_item

    def find_slowly(*args, **kwargs):
        found = slow_find(*args, **kwargs)
        time.sleep(0.3)  # both workers would find nothing and create a column each, without the lock
        return found

    monkeypatch.setattr(lineitems, "find_line_item", find_slowly)
    _two_workers_at_once(live[0])
    assert [j.status for j in jobs()] == [DELIVERED, DELIVERED]
    assert {j.leased_by for j in jobs()} == {"w1", "w2"}  # each worker delivered one
    assert _count(DemoLineItem) == 1 and _count(GradeLineItem) == 1


def _many_learners(client, count: int) -> tuple[ResourceLink, list[LtiUser]]:
    ada, link = _learner(client)
    cert = make_certification()
    users = [LtiUser(issuer=ada.issuer, sub=f"learner-{i:03d}", name=f"Learner {i}") for i in range(count)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        enqueue_for_state(make_portfolio(user, link, cert))
    db.session.commit()
    return link, users


def test_a_batch_of_scores_costs_a_few_queries_and_one_token(client):
    _many_learners(client, 30)
    worker_thread = threading.get_ident()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # the demo platform's own queries run on its server's threads
        if threading.get_ident() == worker_thread:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert process_due_jobs("w1") == {DELIVERED: 30, PENDING: 0, FAILED: 0}
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert token_requests() == 1
    # The token is read from the database when first needed, then remembered by the platform's connector.
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT") and "grade_service_token" in s]) <= 2
    # Claim, load and record once per batch; the line item found or created once: not one query per score.
    assert len(statements) < 30, statements
    received = [s.payload["userId"] for s in db.session.scalars(select(DemoScore).order_by(DemoScore.id))]
    assert received == [f"learner-{i:03d}" for i in range(30)]


def test_a_connector_reuses_its_token_and_replaces_it_near_expiry(client, monkeypatch):
    from lti_tool.grading import services

    _, link = _learner(client)
    registration, scopes = link.deployment.registration, link.ags_scopes
    first = connector_for(registration)
    token = first.get_access_token(scopes)
    assert first.get_access_token(scopes) == token
    assert connector_for(registration).get_access_token(scopes) == token  # another worker shares it
    assert token_requests() == 1
    # 59 minutes later (the platform's tokens live an hour): less than the minute's margin is left.
    later = utcnow() + dt.timedelta(seconds=3545)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    fresh = first.get_access_token(scopes)
    assert fresh != token and token_requests() == 2
    assert connector_for(registration).get_access_token(scopes) == fresh and token_requests() == 2
    row = db.session.scalar(select(ServiceToken).where(ServiceToken.scope_key == scope_key(scopes)))
    assert row.access_token == fresh


def test_a_failing_platform_is_given_a_rest_for_the_rest_of_the_batch(client):
    _many_learners(client, 3)
    simulate_outage(503, count=1)  # the token request fails
    assert process_due_jobs("w1", limit=3) == {DELIVERED: 0, PENDING: 1, FAILED: 0}  # one batch
    first, *others = jobs()
    assert first.status == PENDING and first.attempts == 1 and first.last_status == 503
    # The others were not tried against a platform that just failed: back unattempted, due when the first is.
    assert all(j.status == PENDING and j.attempts == 0 and j.leased_by is None and j.last_error == "" for j in others)
    assert all(j.next_attempt_at >= first.next_attempt_at for j in others)
    drain()
    assert [(j.status, j.attempts) for j in jobs()] == [(DELIVERED, 2)] + [(DELIVERED, 1)] * 2


def test_claimed_jobs_go_back_unattempted_when_stopping_or_the_lease_runs_short(client, live):
    _many_learners(client, 3)
    settings = Settings.from_app(live[0])
    stop = threading.Event()
    stop.set()
    for how in ({"stop": stop}, {"settings": dataclasses.replace(settings, lease_seconds=0)}):
        delivery = Delivery()
        claimed = delivery.load(claim_batch("w1", settings, 10))
        assert len(claimed) == 3
        outcome = process_batch(claimed, "w1", how.get("settings", settings), delivery, how.get("stop"))
        assert outcome == {DELIVERED: 0, PENDING: 0, FAILED: 0}
        db.session.expire_all()
        assert [(j.status, j.attempts, j.leased_by) for j in jobs()] == [(PENDING, 0, None)] * 3
    assert _count(DemoScore) == 0


@pytest.mark.slow
def test_two_workers_at_once_remember_the_launch_column_only_once(client, live, monkeypatch):
    from lti_tool.grading import lineitems

    ada, link = _learner(client)
    ben, _ = _learner(client, "demo-learner-ben")
    linked = DemoLineItem(context_id="demo-course-cm101", label="Linked column", score_maximum=100)
    db.session.add(linked)
    db.session.commit()
    link.ags_lineitem_url = f"{link.ags_lineitems_url}/{linked.id}"
    cert = make_certification()
    enqueue_for_state(make_portfolio(ada, link, cert))
    enqueue_for_state(make_portfolio(ben, link, cert))
    db.session.commit()
    looked_up = lineitems.remembered

    def remembered_slowly(*args, **kwargs):
        row = looked_up(*args, **kwargs)
        time.sleep(0.3)  # both workers would see no row and insert one each, without the lock
        return row

    monkeypatch.setattr(lineitems, "remembered", remembered_slowly)
    _two_workers_at_once(live[0])
    assert [(j.status, j.attempts) for j in jobs()] == [(DELIVERED, 1), (DELIVERED, 1)]
    assert [(r.target, r.source) for r in db.session.scalars(select(GradeLineItem))] == [(MAIN, "launch")]


def _two_workers_at_once(app) -> None:
    """Workers w1 and w2, each in its own thread, take one due job each at the same time."""

    def run(worker_id: str) -> None:
        with app.app_context():
            process_due_jobs(worker_id, limit=1)
            db.session.remove()

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    db.session.expire_all()

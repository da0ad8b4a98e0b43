"""Notices from the events of the workflow, written in the event's transaction; each person's choices; the
notifications pages and the unread count in every page's header; unsubscribe without signing in; the scan
(appeal deadlines, overdue work, digests); the administrators' events; the demo's mailbox."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lti_tool.audit.actor import Actor
from lti_tool.grading.models import GradeJob
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser
from lti_tool.launch.registrations import announce_waiting, create_registration
from lti_tool.notifications import delivery, events, kinds, links, scan
from lti_tool.notifications.messages import format_date
from lti_tool.notifications.models import (
    EMAIL,
    IN_TOOL,
    MAIL_DIGEST,
    MAIL_DIGESTED,
    MAIL_NONE,
    MAIL_QUEUED,
    OFF,
    SENT,
    MailOutbox,
    Notification,
)
from lti_tool.notifications.notify import set_channel, set_digest
from lti_tool.portfolio import workflow
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review import verification as verifying
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT
from lti_tool.store.db import db, utcnow
from tests import assessment_factories as f


def notices(user: LtiUser | None = None, kind: str | None = None) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def with_addresses(w: f.World) -> f.World:
    for person, address in (
        (w.learner, "lee@learner.example"),
        (w.assessor, "sam@staff.example"),
        (w.assessor2, "sue@staff.example"),
        (w.iv, "vera@staff.example"),
        (w.ev, "eli@staff.example"),
        (w.admin, "alex@staff.example"),
    ):
        person.email = address
    db.session.commit()
    return w


def refer(w: f.World, summary: str = "More evidence on escalation") -> None:
    assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()), summary)
    db.session.commit()


def test_a_submission_tells_the_learner_and_the_assessors_it_waits_for(sqlite_app):
    w = with_addresses(f.world(submitted=False))
    f.submit(w.portfolio)
    db.session.commit()
    [received] = notices(w.learner)
    assert received.kind == kinds.SUBMISSION_RECEIVED and received.mail_state == MAIL_QUEUED
    assert received.target_endpoint == "learner.overview" and received.target_values == {"portfolio_id": w.portfolio.id}
    # Both assessors' grants cover the work; verifiers and the administrator have nothing to do yet.
    assert {n.user_id for n in notices(kind=kinds.NEW_WORK)} == {w.assessor.id, w.assessor2.id}
    assert "Lee Learner submitted a CMIACR portfolio (attempt 1)" in notices(w.assessor)[0].body
    assert notices(w.iv) == notices(w.ev) == notices(w.admin) == []
    assert count(MailOutbox) == 3


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_notice_and_its_mail_are_written_in_the_events_transaction(app):
    w = with_addresses(f.world(submitted=False))
    f.submit(w.portfolio)
    assert len(notices()) == 3 and count(MailOutbox) == 3  # flushed with the transition ...
    db.session.rollback()  # ... and gone with it: nobody is told of what did not happen
    assert notices() == [] and count(MailOutbox) == 0
    f.submit(db.session.get(type(w.portfolio), w.portfolio.id))
    db.session.commit()
    assert len(notices()) == 3 and count(MailOutbox) == 3


def test_an_event_never_notifies_twice(sqlite_app):
    w = f.world()
    before = [(n.user_id, n.event_key) for n in notices()]
    events.on_portfolio_transition(w.portfolio, workflow.DRAFT, workflow.SUBMITTED)  # the same event again
    db.session.commit()
    assert [(n.user_id, n.event_key) for n in notices()] == before


def test_not_yet_competent_says_what_to_do_and_until_when_to_appeal(sqlite_app):
    w = f.world()
    refer(w, "Add the escalation record from your site visit.")
    [decision] = notices(w.learner, kinds.DECISION)
    assessment = assessing.last_decision(w.portfolio.submissions[-1])
    deadline = (assessment.decided_at + dt.timedelta(days=28)).date()
    code = w.portfolio.submissions[-1].snapshot["criteria"][0]["code"]
    assert decision.title == "Your portfolio needs more evidence"
    assert f"criterion not yet met ({code})" in decision.body
    assert "Add the escalation record from your site visit." in decision.body
    assert f"appeal until {deadline.day} {deadline:%B} {deadline.year}" in decision.body


def test_the_competent_path_tells_each_step_its_people(sqlite_app):
    w = f.world()
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), rng=f.AlwaysSample())
    db.session.commit()
    assert [n.title for n in notices(w.learner, kinds.DECISION)] == ["Your assessor judged your portfolio competent"]
    assert [n.user_id for n in notices(kind=kinds.VERIFICATION_WAITING)] == [w.iv.id]

    verifying.verify(w.portfolio.id, w.iv, 1, False, "The witness testimony is unsigned.")
    db.session.commit()
    [sent_back] = notices(w.assessor, kinds.DECISION_SENT_BACK)
    assert "did not agree: The witness testimony is unsigned." in sent_back.body
    assert sent_back.target_values == {"name": "sent_back"}

    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), rng=f.AlwaysSample())
    db.session.commit()
    assert len(notices(w.learner, kinds.DECISION)) == 1  # the same news for the learner: told once
    assert len(notices(w.iv, kinds.VERIFICATION_WAITING)) == 2  # a new decision to verify

    verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.commit()
    assert [n.user_id for n in notices(kind=kinds.VERIFICATION_WAITING) if "independent" in n.title] == [w.ev.id]
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    [award] = notices(w.learner, kinds.AWARD)
    number = award.target_values["number"]
    assert award.title == "You have been awarded CMIACR" and award.target_endpoint == "credentials.certificate"
    assert f"Certificate number {number}" in award.body and f"http://localhost/verify/{number}" in award.body


def test_appeals_tell_the_learner_the_administrators_and_the_assessors_who_may_reassess(sqlite_app):
    w = f.world()
    refer(w)
    appeals.lodge(w.portfolio.id, w.learner, "The escalation log was in item 1, page 4")
    db.session.commit()
    assert [n.title for n in notices(w.learner, kinds.APPEAL_RECEIVED)] == ["Your appeal has been received"]
    assert [n.user_id for n in notices(kind=kinds.APPEAL_WAITING)] == [w.admin.id]

    appeals.decide(w.portfolio.id, w.admin, True, "The log was there.")
    db.session.commit()
    [decided] = notices(w.learner, kinds.APPEAL_DECIDED)
    assert decided.title == "Your appeal was upheld" and "upheld: The log was there." in decided.body
    # Only an assessor who has not assessed it may assess it afresh.
    assert [n.user_id for n in notices(kind=kinds.APPEAL_REASSESS)] == [w.assessor2.id]


def test_each_person_chooses_per_kind_and_people_without_an_address_are_told_in_the_tool(sqlite_app):
    w = f.world(submitted=False)
    w.learner.email = "lee@learner.example"
    set_channel(w.learner.id, kinds.SUBMISSION_RECEIVED, OFF)
    set_channel(w.assessor.id, kinds.NEW_WORK, IN_TOOL)
    w.assessor.email = "sam@staff.example"
    db.session.commit()  # assessor2 has no address
    f.submit(w.portfolio)
    db.session.commit()
    assert notices(w.learner) == []
    assert [n.mail_state for n in notices(w.assessor)] == [MAIL_NONE]
    assert [n.mail_state for n in notices(w.assessor2)] == [MAIL_NONE]
    assert count(MailOutbox) == 0


def test_a_daily_digest_gathers_the_mail(sqlite_app):
    w = f.world(submitted=False)
    w.learner.email = "lee@learner.example"
    set_digest(w.learner.id, True)
    db.session.commit()
    f.submit(w.portfolio)
    db.session.commit()
    refer(w)
    assert [n.mail_state for n in notices(w.learner)] == [MAIL_DIGEST, MAIL_DIGEST] and count(MailOutbox) == 0

    now = utcnow()
    assert scan.digests(now) == 1
    [digest] = db.session.scalars(select(MailOutbox))
    assert digest.subject == "Your notifications: 2 new"
    assert "Your portfolio has been received" in digest.text and "Your portfolio needs more evidence" in digest.text
    assert [n.mail_state for n in notices(w.learner)] == [MAIL_DIGESTED, MAIL_DIGESTED]
    # One a day: what comes next waits for tomorrow's.
    appeals.lodge(w.portfolio.id, w.learner, "It was there.")
    db.session.commit()
    assert scan.digests(now + dt.timedelta(hours=2)) == 0
    assert scan.digests(now + dt.timedelta(days=1)) == 1


def test_the_header_counts_unread_notices_on_every_page(sqlite_app):
    client = sqlite_app.test_client()
    w = f.world()
    refer(w)
    f.sign_in(client, w.learner, [lti_roles.LEARNER], f.deployment(w.partner))
    for page in ("/portfolio/", f"/portfolio/{w.portfolio.id}", "/notifications/"):
        html = client.get(page).data.decode()
        assert re.search(r'class="badge badge-count">2<span class="visually-hidden"> unread', html), page
    mine = notices(w.learner)
    resp = client.post(f"/notifications/{mine[0].id}/read", data={"csrf_token": _csrf(w.learner)})
    assert resp.status_code == 303
    assert 'badge-count">1<' in client.get("/portfolio/").data.decode()
    opened = client.get(f"/notifications/{mine[1].id}")
    assert opened.status_code == 303 and opened.location.endswith(f"/portfolio/{w.portfolio.id}")
    html = client.get("/portfolio/").data.decode()
    assert "badge-count" not in html and "Notifications</a>" in html.replace("\n", "").replace("  ", "")


def _csrf(user: LtiUser) -> str:
    from lti_tool.launch.models import ToolSession

    return db.session.scalar(
        select(ToolSession.csrf_token).where(ToolSession.user_id == user.id).order_by(ToolSession.created_at.desc())
    )


def test_nobody_reads_or_marks_anyone_elses_notices(sqlite_app):
    client = sqlite_app.test_client()
    w = f.world()
    theirs = notices(w.learner)[0]
    f.sign_in(client, w.assessor)
    assert client.get(f"/notifications/{theirs.id}").status_code == 404
    assert client.post(f"/notifications/{theirs.id}/read", data={"csrf_token": _csrf(w.assessor)}).status_code == 404
    page = client.get("/notifications/").data.decode()
    assert "Your portfolio has been received" not in page and "New work to assess: Lee Learner" in page
    assert notices(w.learner)[0].read_at is None


def test_preferences_page_saves_each_kind_and_the_digest(sqlite_app):
    client = sqlite_app.test_client()
    w = f.world()
    f.sign_in(client, w.assessor)
    page = client.get("/notifications/preferences").data.decode()
    assert "a portfolio is waiting for assessment in my queue" in page  # staff kinds for staff
    assert "grades could not be sent" not in page  # not an administrator
    form = {"csrf_token": _csrf(w.assessor), f"channel-{kinds.NEW_WORK}": OFF, "digest": "1"}
    assert client.post("/notifications/preferences", data=form).status_code == 303
    from lti_tool.notifications.notify import channel_for, settings_for

    assert channel_for(w.assessor.id, kinds.NEW_WORK) == OFF and channel_for(w.assessor.id, kinds.DECISION) == EMAIL
    assert settings_for(w.assessor.id).digest is True
    bad = {**form, f"channel-{kinds.NEW_WORK}": "pigeon"}
    assert client.post("/notifications/preferences", data=bad).status_code == 422


def test_unsubscribe_works_without_signing_in_and_a_get_changes_nothing(sqlite_app):
    client = sqlite_app.test_client()
    w = with_addresses(f.world(submitted=False))
    f.submit(w.portfolio)
    db.session.commit()
    row = db.session.scalar(select(MailOutbox).where(MailOutbox.user_id == w.learner.id))
    path = re.sub(r"^https?://[^/]+", "", row.unsubscribe_url)
    assert path in row.text and path in row.html
    from lti_tool.notifications.notify import channel_for

    page = client.get(path)
    assert page.status_code == 200 and b"Stop e-mails" in page.data
    assert channel_for(w.learner.id, kinds.SUBMISSION_RECEIVED) == EMAIL  # a mail scanner opening it stops nothing
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})  # RFC 8058, no session, no CSRF token
    assert done.status_code == 200 and b"E-mails stopped" in done.data
    db.session.expire_all()
    assert channel_for(w.learner.id, kinds.SUBMISSION_RECEIVED) == IN_TOOL
    assert channel_for(w.learner.id, kinds.DECISION) == EMAIL  # only the kind of that mail
    assert client.get("/mail/unsubscribe/forged-token").status_code == 404
    everything = links.mail_url("mail.unsubscribe", token=links.unsubscribe_token(w.learner.id, kinds.ALL))
    assert client.post(re.sub(r"^https?://[^/]+", "", everything)).status_code == 200
    db.session.expire_all()
    assert all(channel_for(w.learner.id, k.name) == IN_TOOL for k in kinds.KINDS)


def test_the_scan_reminds_of_appeal_deadlines_once(sqlite_app):
    w = f.world()
    refer(w)
    decision = assessing.last_decision(w.portfolio.submissions[-1])
    assert scan.appeal_reminders(utcnow()) == 0  # 28 days left
    decision.decided_at = utcnow() - dt.timedelta(days=22)  # 6 days left: within the 7 of the reminder
    db.session.commit()
    assert scan.appeal_reminders(utcnow()) == 1
    assert scan.appeal_reminders(utcnow()) == 0
    [reminder] = notices(w.learner, kinds.APPEAL_DEADLINE)
    deadline = (decision.decided_at + dt.timedelta(days=28)).date()
    assert reminder.title == f"Your time to appeal ends on {deadline.day} {deadline:%B} {deadline.year}"
    # Appealed, or too late: nothing.
    w2 = f.world()
    refer(w2)
    last = assessing.last_decision(w2.portfolio.submissions[-1])
    last.decided_at = utcnow() - dt.timedelta(days=29)
    db.session.commit()
    assert scan.appeal_reminders(utcnow()) == 0


def test_the_scan_tells_administrators_of_overdue_work_once_a_day(sqlite_app):
    w = f.world()
    assert scan.overdue_work(utcnow()) == 0
    w.portfolio.state_changed_at = utcnow() - dt.timedelta(days=12)
    db.session.commit()
    assert scan.overdue_work(utcnow()) == 1
    assert scan.overdue_work(utcnow()) == 0
    [notice] = notices(w.admin, kinds.WORK_OVERDUE)
    assert notice.title == "1 items have waited past the service level"
    assert "Awaiting assessment: 1" in notice.body and "oldest has waited 12 days" in notice.body
    assert scan.overdue_work(utcnow() + dt.timedelta(days=1)) == 1


def test_administrators_hear_of_failed_grade_jobs_and_registrations_waiting(sqlite_app):
    w = f.world()
    job = GradeJob(
        portfolio_id=w.portfolio.id,
        resource_link_id=w.portfolio.resource_link_id,
        user_id=w.learner.id,
        lms_user_id=w.learner.sub,
        target="main",
        state="submitted",
        sequence=1,
        payload={},
        line_item={},
        status="failed",
        last_error="POST https://lms.example/scores answered HTTP 400: bad\nWhat to do: fix it",
    )
    db.session.add(job)
    db.session.flush()
    events.on_grade_job_failed(job.id)
    events.on_grade_job_failed(job.id)  # later failures the same day: no second notice
    db.session.commit()
    [failed] = notices(w.admin, kinds.GRADE_JOBS_FAILED)
    assert "answered HTTP 400: bad" in failed.body and "What to do" not in failed.body

    reg = create_registration(
        Actor(label="test"),
        issuer="https://new-lms.example",
        client_id="c1",
        login_url="https://new-lms.example/auth",
        token_url="https://new-lms.example/token",
        jwks_url="https://new-lms.example/jwks",
        name="New LMS",
        active=False,
    )
    announce_waiting(reg)
    db.session.commit()
    [waiting] = notices(w.admin, kinds.REGISTRATION_WAITING)
    assert waiting.title == "A platform waits for activation: New LMS"
    assert notices(w.learner, kinds.REGISTRATION_WAITING) == []


def test_notices_are_written_in_the_persons_language(sqlite_app):
    w = f.world(submitted=False)
    w.learner.locale = "fr-CA"
    db.session.commit()
    f.submit(w.portfolio)
    db.session.commit()
    [notice] = notices(w.learner)
    assert notice.title == "Votre portfolio a bien été reçu" and "(tentative 1)" in notice.body
    assert notices(w.assessor)[0].title == "New work to assess: Lee Learner"  # no locale known: English


def test_the_demo_mailbox_receives_what_the_worker_sends(sqlite_app):
    client = sqlite_app.test_client()
    w = with_addresses(f.world(submitted=False))
    f.submit(w.portfolio)
    db.session.commit()
    assert delivery.process_due()[SENT] == 3  # no SMTP server in the tests: the demo's mailbox receives them
    assert delivery.process_due()[SENT] == 0
    listing = client.get("/demo/mailbox?to=lee@learner.example").data.decode()
    assert "Your portfolio has been received" in listing and "New work to assess" not in listing
    mail_id = re.search(r"/demo/mailbox/(\d+)", listing).group(1)
    message = client.get(f"/demo/mailbox/{mail_id}").data.decode()
    assert "text/plain, text/html" in message and "List-Unsubscribe" in message and "Hello Lee Learner," in message
    html = client.get(f"/demo/mailbox/{mail_id}/html")
    assert html.status_code == 200 and "sandbox" in html.headers["Content-Security-Policy"]
    assert '<base target="_top">' in html.data.decode()


def test_the_course_roster_fills_in_addresses_the_launches_did_not_give(sqlite_app):
    from lti_tool.grading import roster
    from lti_tool.launch.models import LtiContext

    w = f.world(submitted=False)
    w.assessor.email = "kept@staff.example"
    db.session.commit()
    context = db.session.scalar(select(LtiContext).where(LtiContext.id == _context_of(w.learner)))
    members = [
        {"user_id": w.learner.sub, "email": "lee@roster.example"},
        {"user_id": w.assessor.sub, "email": "other@roster.example"},
        {"user_id": "not-known-here", "email": "x@roster.example"},
        {"user_id": w.iv.sub},
    ]
    assert roster.remember_addresses(context, members) == 1
    db.session.commit()
    db.session.expire_all()
    assert w.learner.email == "lee@roster.example" and w.assessor.email == "kept@staff.example"
    f.submit(w.portfolio)
    db.session.commit()
    assert db.session.scalar(select(MailOutbox.to_address).where(MailOutbox.user_id == w.learner.id)) == (
        "lee@roster.example"
    )


def _context_of(user: LtiUser) -> int:
    from lti_tool.launch.models import Membership

    return db.session.scalar(select(Membership.context_id).where(Membership.user_id == user.id))


def test_a_grade_job_failing_for_good_in_the_worker_tells_the_administrators_in_its_transaction(sqlite_app):
    from pylti1p3.exception import LtiException

    from lti_tool.grading import worker
    from lti_tool.grading.models import FAILED, IN_PROGRESS

    w = f.world()
    job = GradeJob(
        portfolio_id=w.portfolio.id,
        resource_link_id=w.portfolio.resource_link_id,
        user_id=w.learner.id,
        lms_user_id=w.learner.sub,
        target="main",
        state="submitted",
        sequence=1,
        payload={},
        line_item={},
        status=IN_PROGRESS,
        leased_by="grade-worker",
        attempts=1,
    )
    db.session.add(job)
    db.session.commit()
    claimed = worker.Claimed(job.id, 1, None, "main", {}, {}, job.resource_link_id, 0)
    status, _ = worker._record_failure(
        claimed, LtiException("The line item is gone"), "grade-worker", worker.Settings.from_app()
    )
    assert status == FAILED
    db.session.expire_all()
    assert db.session.get(GradeJob, job.id).status == FAILED
    [notice] = notices(w.admin, kinds.GRADE_JOBS_FAILED)
    assert "The line item is gone" in notice.body and notice.target_values == {"status": "failed"}


def test_a_notice_is_read_in_the_language_the_reader_chose(sqlite_app):
    """Written in the reader's LMS language (English here), a notice is said again in the language they chose
    in the tool; one written before notices kept their message stays as it was written."""
    client = sqlite_app.test_client()
    w = f.world(submitted=False)
    f.submit(w.portfolio)
    db.session.commit()
    [notice] = notices(w.learner)
    assert notice.title == "Your portfolio has been received"  # the LMS's language, for the mail too
    assert notice.template == "submission_received" and notice.params["attempt"] == 1
    assert notice.params["date"] == {"date": w.portfolio.submissions[0].created_at.date().isoformat()}
    f.sign_in(client, w.learner, [lti_roles.LEARNER], f.deployment(w.partner))
    assert "Your portfolio has been received" in client.get("/notifications/").data.decode()

    switched = client.post("/language", data={"csrf_token": _csrf(w.learner), "language": "es"})
    assert switched.status_code == 303
    page = html.unescape(client.get("/notifications/").data.decode())
    assert "Hemos recibido su portafolio" in page and "Your portfolio has been received" not in page
    day = w.portfolio.submissions[0].created_at.date()
    spanish_day = format_date(day, "es")  # as Spanish writes it: "7 de diciembre de 2026"
    assert f"(intento 1) se entregó el {spanish_day}." in page and "de 20" in spanish_day

    # Written before: as stored.
    notice.template, notice.params = None, None
    db.session.commit()
    page = html.unescape(client.get("/notifications/").data.decode())
    assert "Your portfolio has been received" in page


def test_a_notices_values_keep_as_json_and_come_back():
    from lti_tool.notifications.messages import restored, storable

    values = {"date": dt.date(2026, 12, 7), "at": dt.datetime(2026, 12, 7, 10, 5), "attempt": 2, "title": "T"}
    kept = storable({**values, "credits": Decimal("12.5"), "flag": True})
    assert json.loads(json.dumps(kept)) == kept
    assert kept["credits"] == "12.5" and kept["flag"] == "True"
    back = restored(kept)
    assert back["date"] == dt.date(2026, 12, 7) and back["at"] == dt.date(2026, 12, 7)
    assert back["attempt"] == 2 and back["title"] == "T"
    assert restored({"date": {"date": "not a date"}}) == {"date": "not a date"}

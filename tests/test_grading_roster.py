"""The instructor's roster as Moodle's Names and Role Provisioning answers: staff are not learners, an
unreadable roster marks nobody as gone, and every staff landing page leads to the roster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from lti_tool.grading import roster
from lti_tool.identity.staff import ASSESSOR, StaffGrant
from lti_tool.launch.models import LtiContext, LtiUser, ResourceLink
from lti_tool.store.db import db
from tests.grading_helpers import make_certification, make_portfolio
from tests.lti_helpers import demo_launch

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def _member(sub: str, name: str, *roles: str) -> dict:
    """A member as Moodle 4.5's NRPS lists it (mod/lti/service/memberships)."""
    return {"status": "Active", "user_id": sub, "name": name, "roles": list(roles) or [LEARNER]}


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


def test_staff_are_left_out_of_the_learners_and_an_unread_roster_marks_nobody_gone():
    ada = SimpleNamespace(id=1, user=SimpleNamespace(sub="ada", display_name=lambda: "Ada", email=""), state="draft")
    members = [_member("ada", "Ada"), _member("tom", "Tom (non-editing teacher)")]
    rows = roster.learner_rows(members, [ada], staff={"tom": object()})
    assert [r.lms_user_id for r in rows] == ["ada"]
    unread = roster.learner_rows([], [ada], roster_read=False)
    assert [(r.lms_user_id, r.in_roster) for r in unread] == [("ada", None)]
    assert [r.in_roster for r in roster.learner_rows([], [ada])] == [False]


@SQLITE_ONLY
def test_a_teacher_moodle_lists_as_learner_is_shown_as_staff(client, monkeypatch):
    demo_launch(client, "demo-learner-ada")
    demo_launch(client, "demo-assessor-sam")  # launches as a teaching assistant (Instructor#TeachingAssistant)
    instructor = client.application.test_client()
    demo_launch(instructor, "demo-instructor-iris")
    ben = _member("demo-learner-ben", "Ben Carter")
    grant_holder = _member("demo-admin-alex", "Alex Reyes")
    db.session.add(StaffGrant(user_id=_user("demo-learner-ada").id, role=ASSESSOR, granted_by="test"))
    db.session.commit()
    make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), make_certification())
    db.session.commit()
    # Moodle lists the non-editing teacher Sam as Learner although his launches say Instructor.
    members = [
        _member("demo-learner-ada", "Ada Mensah"),
        ben,
        _member("demo-assessor-sam", "Sam Okafor", LEARNER),
        _member("demo-instructor-iris", "Iris Novak", INSTRUCTOR),
        grant_holder,
    ]
    monkeypatch.setattr(roster, "fetch_members", lambda registration, url: members)
    html = instructor.get("/grading/roster").data.decode()
    learners, staff = html.split("<h2>Learners")[1].split("<h2>Staff")
    assert "Ada Mensah" in learners and "Ben Carter" in learners  # Ada holds a tool role but has a portfolio
    assert "Sam Okafor" not in learners and "Iris Novak" not in learners
    assert "Sam Okafor" in staff and "launched as Teaching assistant" in staff
    assert "Learners (3)" in html  # Ada, Ben, Alex (Alex holds no role and never launched)


@SQLITE_ONLY
def test_an_unreachable_roster_is_said_once_and_nobody_is_called_gone(client):
    demo_launch(client, "demo-learner-ada")
    make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), make_certification())
    instructor = client.application.test_client()
    demo_launch(instructor, "demo-instructor-iris")
    db.session.scalar(select(LtiContext)).nrps_url = "http://127.0.0.1:9/nrps"  # nothing listens there
    db.session.commit()
    html = instructor.get("/grading/roster").data.decode()
    assert html.count("could not be fetched just now") == 1
    assert "Ada Mensah" in html and "no longer in the course roster" not in html


@SQLITE_ONLY
def test_an_instructor_who_is_also_staff_lands_on_the_queues_which_link_the_roster(client):
    demo_launch(client, "demo-instructor-iris")
    db.session.add(StaffGrant(user_id=_user("demo-instructor-iris").id, role=ASSESSOR, granted_by="test"))
    db.session.commit()
    landed = demo_launch(client, "demo-instructor-iris")
    page = client.get(landed.location)
    assert page.status_code == 200 and b"Your work" in page.data
    assert b"/grading/roster" in page.data and b"Course roster" in page.data

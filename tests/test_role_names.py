"""The roles a platform sends (launch/roles.py): what they allow, with sub-roles in the standard's form
(.../membership/Instructor#TeachingAssistant), and the words a person reads for them (roles.describe) on the
start page, in the new window of a launch from a frame that keeps no cookie, and in the roster's staff list,
in the page's language."""

from __future__ import annotations

import html
import re

import pytest

from lti_tool.launch import roles
from lti_tool.launch.roles import (
    CONTENT_DEVELOPER,
    INSTITUTION,
    INSTITUTION_ADMIN,
    INSTRUCTOR,
    LEARNER,
    MEMBERSHIP,
    MEMBERSHIP_SUB,
    SYSTEM,
    SYSTEM_ADMIN,
    TEACHING_ASSISTANT,
)
from tests.factories import make_certification
from tests.lti_helpers import DELETE, TestPlatform

FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site", "Origin": "https://lms.test"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document", "Origin": "http://localhost"}


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


@pytest.mark.parametrize(
    "sent, learner, instructor, lms_admin",
    [
        # A sub-role alone holds its principal role: Moodle's role converter maps LTI 1.1's TeachingAssistant to
        # membership/Instructor#SecondaryInstructor without membership#Instructor.
        ([MEMBERSHIP_SUB + "Instructor#SecondaryInstructor"], False, True, False),
        ([MEMBERSHIP_SUB + "Instructor#TeachingAssistant"], False, True, False),
        ([MEMBERSHIP + "Instructor", MEMBERSHIP_SUB + "Instructor#TeachingAssistant"], False, True, False),
        ([MEMBERSHIP_SUB + "Learner#NonCreditLearner"], True, False, False),
        ([MEMBERSHIP_SUB + "Administrator#Support"], False, True, True),
        # Written after membership# by some platforms, and the short names LTI 1.3 still allows.
        ([MEMBERSHIP + "Instructor#TeachingAssistant"], False, True, False),
        (["Learner"], True, False, False),
        (["Instructor#TeachingAssistant"], False, False, False),  # a short name is a principal role only
        # The institution's roles say nothing of this course.
        ([INSTITUTION + "Instructor"], False, False, False),
        ([INSTITUTION + "Student"], False, False, False),
    ],
)
def test_what_roles_allow_sub_roles_included(sent, learner, instructor, lms_admin):
    assert roles.is_learner(sent) is learner
    assert roles.is_instructor(sent) is instructor
    assert roles.is_lms_admin(sent) is lms_admin


def test_a_moodle_site_admin_teaching_a_course_reads_as_words_course_role_first():
    # What Moodle sends for a site administrator enrolled as a teacher (mod/lti/locallib.php, lti_get_ims_role).
    sent = [INSTITUTION_ADMIN, INSTRUCTOR, SYSTEM_ADMIN]
    assert roles.describe(sent) == ["Instructor", "Institution administrator", "Site administrator"]


def test_sub_roles_short_names_and_unknown_roles():
    assert roles.describe([TEACHING_ASSISTANT, INSTRUCTOR]) == ["Instructor", "Teaching assistant"]
    assert roles.describe([CONTENT_DEVELOPER]) == ["Content developer"]
    assert roles.describe([MEMBERSHIP + "Administrator"]) == ["Course administrator"]
    # LTI 1.3 still allows a course role's short name; some platforms write a sub-role after membership#.
    assert roles.describe(["Learner", "Instructor#TeachingAssistant"]) == ["Learner", "Teaching assistant"]
    assert roles.describe([MEMBERSHIP + "Instructor#Grader"]) == ["Grader"]
    assert roles.describe([MEMBERSHIP_SUB + "Instructor#SecondaryInstructor"]) == ["Secondary instructor"]
    # A role the table does not know is still read as words, from its name.
    assert roles.describe([MEMBERSHIP_SUB + "Manager#ExternalObserver"]) == ["External observer"]
    assert roles.describe(["http://example.org/roles#ClinicalTrialLead"]) == ["Clinical trial lead"]
    # "None" at a level says there is no role there; one label said once.
    assert roles.describe([INSTITUTION + "None", SYSTEM + "None", LEARNER, "Learner"]) == ["Learner"]
    assert roles.describe([SYSTEM_ADMIN, SYSTEM + "SysAdmin"]) == ["Site administrator"]
    assert roles.describe([]) == [] and roles.describe(["", "  "]) == []


def test_role_words_in_the_page_language(app):
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert roles.describe([LEARNER]) == ["Aprendiz"]
        assert roles.describe([INSTRUCTOR, TEACHING_ASSISTANT, SYSTEM_ADMIN]) == [
            "Docente",
            "Asistente docente",
            "Administrador/a del sitio",
        ]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert roles.describe([TEACHING_ASSISTANT]) == ["Teaching assistant"]


def test_every_role_label_has_its_spanish_words(app):
    with app.test_request_context(headers={"Accept-Language": "es"}):
        from flask_babel import gettext

        untranslated = [label for label in roles.ROLE_LABELS.values() if gettext(label) == label]
    assert untranslated == []


def test_the_start_page_names_the_roles_in_words(client, platform):
    # A role with no page of its own in the tool (a mentor) lands on the start page, which names the roles.
    make_certification("CMIACR")
    resp = platform.launch(
        client,
        CLAIM_roles=[INSTITUTION + "Staff", MEMBERSHIP_SUB + "Mentor#Advisor", SYSTEM + "User"],
        CLAIM_custom={"certification": "CMIACR"},
    )
    page = html.unescape(client.get(resp.location, follow_redirects=True).data.decode())
    assert "<dt>Your roles</dt><dd>Advisor, Staff member</dd>" in page
    assert "#" not in page.split("Your roles")[1].split("</dd>")[0]


def _new_window(client, platform, headers=SAME_ORIGIN, **claims):
    state, nonce = platform.login(client)
    client.delete_cookie(f"lti1p3-{state}")  # the frame kept no cookie
    token = platform.sign(platform.claims(nonce, **claims))
    frame = client.post("/lti/launch", data={"id_token": token, "state": state}, headers=FRAME)
    offered = html.unescape(re.search(r'name="token" value="([^"]*)"', frame.data.decode()).group(1))
    return client.post("/lti/handoff", data={"token": offered}, headers=headers)


def test_the_new_window_names_the_roles_and_a_missing_name_in_the_page_language(client, platform):
    window = _new_window(client, platform, CLAIM_roles=[INSTRUCTOR, MEMBERSHIP_SUB + "Instructor#Grader"])
    assert window.status_code == 200
    page = html.unescape(window.data.decode())
    assert "<dt>Role</dt><dd>Instructor, Grader</dd>" in page

    window = _new_window(client, platform, name=DELETE, CLAIM_roles=[LEARNER])
    page = html.unescape(window.data.decode())
    assert "Continue as (your learning platform did not send a name)?" in page
    assert "<dt>Role</dt><dd>Learner</dd>" in page

    # The words are chosen when the window is shown, in its language (the offer keeps the roles as sent).
    spanish = {**SAME_ORIGIN, "Accept-Language": "es"}
    window = _new_window(client, platform, headers=spanish, name=DELETE, CLAIM_roles=[LEARNER])
    page = html.unescape(window.data.decode())
    assert "(su plataforma de aprendizaje no envió un nombre)" in page and "did not send" not in page
    assert "<dd>Aprendiz</dd>" in page

"""The rules of notifications as plain functions: who each transition tells, what happens to a notice's e-mail,
reminder and digest timing, the words in each language, and what may go into a mail."""

from __future__ import annotations

import datetime as dt
import string

import pytest

from lti_tool.notifications import kinds, mail, messages, rules
from lti_tool.notifications.links import SessionTokenInMail, activity_url, check_no_session_token
from lti_tool.notifications.models import EMAIL, IN_TOOL, MAIL_DIGEST, MAIL_NONE, MAIL_QUEUED, OFF
from lti_tool.portfolio import workflow as wf


def told(from_state: str, to_state: str) -> list[tuple[str, str, str]]:
    return [(r.audience, r.kind, r.template) for r in rules.for_transition(from_state, to_state)]


def test_each_transition_tells_its_people():
    assert told(wf.DRAFT, wf.SUBMITTED) == [
        (rules.LEARNER, kinds.SUBMISSION_RECEIVED, "submission_received"),
        (rules.ASSESSORS, kinds.NEW_WORK, "new_work"),
    ]
    assert told(wf.REFERRED, wf.SUBMITTED) == told(wf.DRAFT, wf.SUBMITTED)
    assert told(wf.SUBMITTED, wf.REFERRED) == [(rules.LEARNER, kinds.DECISION, "decision_not_yet")]
    assert told(wf.SENT_BACK, wf.ASSESSED) == [(rules.LEARNER, kinds.DECISION, "decision_competent")]
    assert told(wf.ASSESSED, wf.VERIFICATION_1) == [
        (rules.INTERNAL_VERIFIERS, kinds.VERIFICATION_WAITING, "verification_step1")
    ]
    assert told(wf.VERIFICATION_1, wf.VERIFICATION_2) == told(wf.ASSESSED, wf.VERIFICATION_2)
    assert told(wf.VERIFICATION_1, wf.SENT_BACK) == [
        (rules.DECISION_ASSESSOR, kinds.DECISION_SENT_BACK, "sent_back_step1")
    ]
    assert told(wf.VERIFICATION_2, wf.AWARDED) == [(rules.LEARNER, kinds.AWARD, "award")]
    assert told(wf.REFERRED, wf.APPEALED) == [
        (rules.LEARNER, kinds.APPEAL_RECEIVED, "appeal_received"),
        (rules.TOOL_ADMINS, kinds.APPEAL_WAITING, "appeal_waiting"),
    ]
    assert told(wf.APPEALED, wf.SUBMITTED)[1] == (rules.ASSESSORS, kinds.APPEAL_REASSESS, "appeal_reassess")
    assert told(wf.APPEALED, wf.REFERRED) == [(rules.LEARNER, kinds.APPEAL_DECIDED, "appeal_dismissed")]
    # The start of a portfolio tells nobody.
    assert told("", wf.DRAFT) == []


def test_every_rule_names_a_known_kind_template_and_transition():
    for (from_state, to_state), found in rules.TRANSITION_RULES.items():
        assert (from_state, to_state) in wf.TRANSITIONS
        for rule in found:
            assert rule.kind in kinds.BY_NAME and rule.template in messages.EN
            fields = {name for _, name, _, _ in string.Formatter().parse(rule.key) if name}
            assert fields <= {"submission_id", "assessment_id", "appeal_id", "award_id", "record_id"}, rule.key


def test_the_same_event_has_the_same_key_and_the_next_one_another():
    [_, new_work] = rules.for_transition(wf.DRAFT, wf.SUBMITTED)
    assert rules.event_key(new_work, {"submission_id": 7}) == "new_work:7"
    assert rules.event_key(new_work, {"submission_id": 8}) != rules.event_key(new_work, {"submission_id": 7})


def test_staff_are_never_told_about_their_own_portfolio_and_never_twice():
    assert rules.recipients([5, 3, 5, 9], learner_id=9, audience=rules.ASSESSORS) == [5, 3]
    assert rules.recipients([9], learner_id=9, audience=rules.LEARNER) == [9]


@pytest.mark.parametrize(
    "channel, address, service, digest, expected",
    [
        (OFF, True, True, False, None),
        (IN_TOOL, True, True, False, MAIL_NONE),
        (EMAIL, False, True, False, MAIL_NONE),
        (EMAIL, True, False, False, MAIL_NONE),
        (EMAIL, True, True, False, MAIL_QUEUED),
        (EMAIL, True, True, True, MAIL_DIGEST),
    ],
)
def test_what_becomes_of_a_notices_mail(channel, address, service, digest, expected):
    assert rules.mail_state(channel, has_address=address, mail_service=service, digest=digest) == expected


def test_appeal_reminders_fall_within_the_last_days_of_the_period():
    decided = dt.datetime(2026, 1, 1, 12, 0)
    due = lambda days: rules.appeal_reminder_due(decided, decided + dt.timedelta(days=days), 28, 7)  # noqa: E731
    assert not due(20) and due(21) and due(27.9) and not due(28)
    earliest, latest = rules.appeal_reminder_window(decided + dt.timedelta(days=21), 28, 7)
    assert earliest < decided <= latest


def test_a_digest_goes_at_most_once_a_day():
    now = dt.datetime(2026, 1, 2, 8, 0)
    assert rules.digest_due(None, now, True)
    assert not rules.digest_due(now - dt.timedelta(hours=20), now, True)
    assert rules.digest_due(now - dt.timedelta(days=1), now, True)
    assert rules.digest_due(now, now, False)  # no longer wanted: what was kept goes now


def test_the_overdue_summary_names_each_queue():
    total, summary, oldest = rules.overdue_summary(
        [
            rules.Overdue("Awaiting assessment", 3, 14),
            rules.Overdue("Appeals to decide", 0, 0),
            rules.Overdue("Step 2", 1, 40),
        ]
    )
    assert (total, summary, oldest) == (4, "Awaiting assessment: 3; Step 2: 1", 40)


def test_the_language_comes_from_the_locale():
    assert messages.language_of("fr-FR") == messages.language_of("fr_CA") == "fr"
    assert messages.language_of("de-DE") == messages.language_of("") == messages.language_of(None) == "en"
    assert messages.format_date(dt.date(2027, 8, 3), "fr") == "3 août 2027"
    assert messages.format_date(dt.date(2027, 8, 3), "en") == "3 August 2027"


PARAMS = {
    "certification": "CMIACR",
    "title": "Qualified central monitor",
    "learner": "Ada Mensah",
    "attempt": 2,
    "date": dt.date(2027, 1, 5),
    "criteria": "1.1, 2.3",
    "feedback": "More please",
    "deadline": dt.date(2027, 2, 2),
    "rationale": "Because",
    "certificate_number": "CMIACR-2027-000001",
    "credits": 12,
    "cpd_points": 120,
    "verify_url": "https://tool.example/verify/CMIACR-2027-000001",
    "step": 1,
    "platform": "Moodle",
    "issuer": "https://moodle.example",
    "error": "HTTP 400",
    "count": 3,
    "days": 10,
    "summary": "Awaiting assessment: 3",
    "oldest": 12,
}


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_every_message_renders_in_every_language(language):
    for template in messages.EN:
        text = messages.render(template, language, PARAMS)
        assert text.title and text.body and text.action and "{" not in text.title + text.body
        if language != messages.DEFAULT_LANGUAGE:  # the catalogue has its words: not English
            english = messages.render(template, messages.DEFAULT_LANGUAGE, PARAMS)
            assert text.body != english.body, (language, template)
    if language != messages.DEFAULT_LANGUAGE:
        assert messages.chrome(language)["greeting"] != messages.chrome(messages.DEFAULT_LANGUAGE)["greeting"]


def test_a_message_in_french():
    text = messages.render("decision_not_yet", "fr", PARAMS)
    assert text.title == "Votre portfolio demande des preuves supplémentaires"
    assert "(1.1, 2.3)" in text.body and "jusqu'au 2 février 2027" in text.body


def test_a_message_in_spanish():
    text = messages.render("decision_not_yet", "es", PARAMS)
    assert text.title == "Su portafolio necesita más evidencias"
    assert "(1.1, 2.3)" in text.body and "hasta el 2 de febrero de 2027" in text.body
    assert messages.language_of("es-MX") == "es"


def test_headers_take_no_line_breaks_and_addresses_are_checked():
    assert mail.one_line("Ada\r\nBcc: everyone@example.org") == "Ada Bcc: everyone@example.org"
    assert mail.usable_address("ada@academy.example")
    for bad in ("", "ada", "ada@localhost", "a b@example.org", "ada@example.org\r\nBcc: x@y.org", "<a@b.org>"):
        assert not mail.usable_address(bad), bad


def test_a_mail_never_carries_a_session_token():
    check_no_session_token("https://tool.example/mail/open/abc")
    with pytest.raises(SessionTokenInMail):
        check_no_session_token("https://tool.example/portfolio/3?_s=secret-session")


def test_compose_writes_both_parts_escaped():
    entry = mail.Entry(
        messages.Text("Title <b>", "Body & more\n\nSecond", "Open"), "https://lms.example/a?x=1&y=2", True
    )
    composed = mail.compose(
        name="Ada <Mensah>",
        language="en",
        subject="Subject\nInjected",
        intro="",
        entries=[entry],
        unsubscribe_url="https://tool.example/mail/unsubscribe/t",
    )
    assert composed.subject == "Subject Injected"
    assert "Hello Ada <Mensah>," in composed.text and "https://lms.example/a?x=1&y=2" in composed.text
    assert "Ada &lt;Mensah&gt;" in composed.html and "Body &amp; more" in composed.html
    assert 'href="https://lms.example/a?x=1&amp;y=2"' in composed.html
    assert "https://tool.example/mail/unsubscribe/t" in composed.text + composed.html


class Link:
    def __init__(self, custom):
        self.custom = custom


def test_the_activity_address_comes_from_the_placement_when_the_platform_filled_it_in():
    assert activity_url(Link({"activity_url": "https://moodle.example/mod/lti/view.php?l=7"})).endswith("?l=7")
    assert activity_url(Link({"activity_url": "https://moodle.example/mod/lti/view.php?l=$ResourceLink.id"})) is None
    assert activity_url(Link({"activity_url": "javascript:alert(1)"})) is None
    assert activity_url(Link({})) is None and activity_url(None) is None

"""What notices say, in each language the tool has the words for (English, Spanish, French); English otherwise.

A message is written here in English: a title (the notice's heading and the e-mail's subject), a body and the
words of its link. Its other languages are in the tool's one set of catalogues (lti_tool/translations, the
pages' too: pybabel extracts these messages with tools/babel_extract.py). Values are filled in by name; dates
are written the way the language writes them (Babel). `language_of(locale)` picks the language from the locale
the platform launched the person in: a person gets their notices and e-mails in it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from gettext import NullTranslations
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.support import Translations

from lti_tool.launch.language import TRANSLATIONS

DEFAULT_LANGUAGE = "en"


def N_(text: str) -> str:
    """Marks words for the catalogue (pybabel extracts N_); they are translated when a message is written."""
    return text


@dataclass(frozen=True)
class Template:
    title: str
    body: str
    action: str


@dataclass(frozen=True)
class Text:
    title: str
    body: str
    action: str


EN: dict[str, Template] = {
    "submission_received": Template(
        "Your portfolio has been received",
        "Your {certification} portfolio (attempt {attempt}) was submitted on {date}. An assessor will judge it "
        "against every criterion, and you will be told of the decision. Until then your evidence cannot be changed.",
        "Open your portfolio",
    ),
    "decision_competent": Template(
        "Your assessor judged your portfolio competent",
        "Your assessor judged your {certification} portfolio (attempt {attempt}) competent. The decision now goes "
        "through verification; once it is confirmed you will be told of your award.",
        "Open your portfolio",
    ),
    "decision_not_yet": Template(
        "Your portfolio needs more evidence",
        "Your assessor judged your {certification} portfolio (attempt {attempt}) not yet competent.\n\n"
        "What to do: read the feedback on each criterion not yet met ({criteria}), add or improve your evidence, "
        "and submit your portfolio again.\n\n"
        "Your assessor's feedback: {feedback}\n\n"
        "If you think the decision is wrong, you can appeal until {deadline}.",
        "See the feedback",
    ),
    "award": Template(
        "You have been awarded {certification}",
        "Congratulations: the decision on your portfolio was confirmed and you have been awarded {certification} "
        "({title}).\n\nCertificate number {certificate_number}: {credits} learning credits, {cpd_points} CPD "
        "points, awarded on {date}. Employers can check your certificate at {verify_url}",
        "See your certificate",
    ),
    "appeal_received": Template(
        "Your appeal has been received",
        "Your appeal against the decision on your {certification} portfolio was received on {date}. Someone who "
        "took no part in the decision will consider it, and you will be told of the outcome.",
        "Open your portfolio",
    ),
    "appeal_upheld": Template(
        "Your appeal was upheld",
        "Your appeal about your {certification} portfolio was upheld: {rationale}\n\n"
        "Your submission will be assessed afresh by an assessor who has not assessed it before.",
        "Open your portfolio",
    ),
    "appeal_dismissed": Template(
        "Your appeal was not upheld",
        "Your appeal about your {certification} portfolio was not upheld: {rationale}\n\n"
        "The decision stands: add or improve your evidence for the criteria not yet met and submit your "
        "portfolio again.",
        "Open your portfolio",
    ),
    "appeal_deadline": Template(
        "Your time to appeal ends on {deadline}",
        "You can appeal the not-yet-competent decision on your {certification} portfolio until {deadline}. If you "
        "do not think the decision is wrong, nothing needs doing: improve your evidence and submit again.",
        "Open your portfolio",
    ),
    "new_work": Template(
        "New work to assess: {learner}",
        "{learner} submitted a {certification} portfolio (attempt {attempt}) on {date}. It is waiting in your "
        "assessment queue.",
        "Open your work",
    ),
    "appeal_reassess": Template(
        "An upheld appeal to assess afresh: {learner}",
        "An appeal about {learner}'s {certification} portfolio was upheld. It must be assessed afresh by an "
        "assessor who has not assessed it before, and is waiting in your assessment queue.",
        "Open your work",
    ),
    "sent_back_step1": Template(
        "Your decision was sent back: {learner}",
        "The internal verifier sampled your decision on {learner}'s {certification} portfolio and did not "
        "agree: {rationale}\n\nIt is waiting for you in the queue of decisions sent back to the assessor.",
        "Open your work",
    ),
    "sent_back_step2": Template(
        "Your decision was sent back: {learner}",
        "The independent verifier sent back your decision on {learner}'s {certification} portfolio: "
        "{rationale}\n\nIt is waiting for you in the queue of decisions sent back to the assessor.",
        "Open your work",
    ),
    "verification_step1": Template(
        "Waiting for internal verification: {learner}",
        "An assessor's decision on {learner}'s {certification} portfolio was sampled for internal "
        "verification (step 1). It is waiting in your queue.",
        "Open your work",
    ),
    "verification_step2": Template(
        "Waiting for independent verification: {learner}",
        "An assessor's competent decision on {learner}'s {certification} portfolio is waiting for independent "
        "verification (step 2) in your queue.",
        "Open your work",
    ),
    "appeal_waiting": Template(
        "An appeal to decide: {learner}",
        "{learner} appealed the decision on their {certification} portfolio on {date}. Someone who took no part "
        "in the decision must decide it: it is in the appeals queue.",
        "Open the appeals",
    ),
    "grade_jobs_failed": Template(
        "Grades could not be sent to {platform}",
        "A grade for {learner} could not be delivered to {platform} and will not be tried again on its own: "
        "{error}\n\nLater failures on this platform today are not notified again; the grade jobs page lists "
        "them all.",
        "Open the grade jobs",
    ),
    "registration_waiting": Template(
        "A platform waits for activation: {platform}",
        "{platform} ({issuer}) registered the tool through dynamic registration on {date}. Launches from it are "
        "refused until a tool administrator checks the registration and activates it.",
        "Open the registrations",
    ),
    "work_overdue": Template(
        "{count} items have waited past the service level",
        "{count} items have waited more than {days} days: {summary}. The oldest has waited {oldest} days.",
        "Open the work queues",
    ),
    "digest": Template(
        "Your notifications: {count} new",
        "Here is what happened since your last summary.",
        "Open your notifications",
    ),
}

# The words around every e-mail.
CHROME: dict[str, dict[str, str]] = {
    "en": {
        "greeting": N_("Hello {name},"),
        "open_in_course": N_("{action} from your course on your learning platform: {url}"),
        "open_in_tool": N_("{action}: {url}"),
        "why": N_("You receive this e-mail because of your notification settings in {tool}."),
        "unsubscribe": N_("Stop e-mails like this one"),
        "unsubscribe_all": N_("Stop all e-mails from {tool}"),
        "settings": N_("You can choose which e-mails you get on the Notifications page of the tool."),
        "no_feedback": N_("(none given)"),
    },
}

# The languages notices and e-mails are written in: English (the message ids above) and those whose catalogue
# (lti_tool/translations/<language>/LC_MESSAGES/messages.po) has their words.
LANGUAGES = (DEFAULT_LANGUAGE, "es", "fr")
# The way each writes dates, by Babel's locale: the tool's English is British ("3 August 2027").
DATE_LOCALES = {"en": "en_GB"}


def language_of(locale: str | None) -> str:
    """The language for a locale such as "fr-CA" or "fr_FR"; English when the tool has no words in it."""
    primary = (locale or "").replace("_", "-").split("-", 1)[0].strip().lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def _catalogue(language: str) -> NullTranslations:
    """The compiled catalogue of `language` (`make translations`), read once per process."""
    return Translations.load(str(TRANSLATIONS), [language]) if language != DEFAULT_LANGUAGE else NullTranslations()


def translate(text: str, language: str) -> str:
    return _catalogue(language).gettext(text) if text else text


def format_date(value: dt.date | dt.datetime, language: str) -> str:
    day = value.date() if isinstance(value, dt.datetime) else value
    return babel_format_date(day, format="long", locale=DATE_LOCALES.get(language, language))


def _value(value: Any, language: str) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return format_date(value, language)
    return str(value)


class _Values(dict[str, str]):
    """A value the event could not give (say, a state reached without its record) reads as a dash: a notice
    with a gap beats a decision refused because its notice could not be written."""

    def __missing__(self, key: str) -> str:
        return MISSING


MISSING = "—"


def storable(params: Mapping[str, Any]) -> dict[str, Any]:
    """A message's values as JSON keeps them: a date as {"date": "2026-12-07"} (written in the reader's language
    when shown again), a number or a text as it is, anything else as the text it is shown as."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dt.date | dt.datetime):
            day = value.date() if isinstance(value, dt.datetime) else value
            out[key] = {"date": day.isoformat()}
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def restored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """`storable`'s values back: dates as dates."""
    out: dict[str, Any] = {}
    for key, value in stored.items():
        if isinstance(value, dict) and isinstance(value.get("date"), str):
            try:
                out[key] = dt.date.fromisoformat(value["date"])
            except ValueError:
                out[key] = value["date"]
        else:
            out[key] = value
    return out


def render(template: str, language: str, params: Mapping[str, Any]) -> Text:
    """The notice `template` in `language` (English when the language lacks it), with `params` filled in."""
    found = EN[template]
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    values = _Values({k: _value(v, language) for k, v in params.items()})
    title, body, action = (translate(text, language) for text in (found.title, found.body, found.action))
    return Text(title.format_map(values), body.format_map(values), action.format_map(values))


def chrome(language: str) -> dict[str, str]:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return {key: translate(text, language) for key, text in CHROME[DEFAULT_LANGUAGE].items()}

"""What notices say, in each language the tool has the words for (English, French); English otherwise.

A message is a template per language: a title (the notice's heading and the e-mail's subject), a body and the
words of its link. Values are filled in by name; dates are written the way the language writes them.
`language_of(locale)` picks the language from the locale the platform launched the person in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LANGUAGE = "en"


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


MONTHS = {
    "en": (
        "January February March April May June July August September October November December".split(),
        "{day} {month} {year}",
    ),
    "fr": (
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
        "{day} {month} {year}",
    ),
}

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

FR: dict[str, Template] = {
    "submission_received": Template(
        "Votre portfolio a bien été reçu",
        "Votre portfolio {certification} (tentative {attempt}) a été soumis le {date}. Un évaluateur va le juger "
        "critère par critère, et vous serez informé de la décision. D'ici là, vos preuves ne peuvent plus être "
        "modifiées.",
        "Ouvrir votre portfolio",
    ),
    "decision_competent": Template(
        "Votre évaluateur a jugé votre portfolio conforme",
        "Votre évaluateur a jugé votre portfolio {certification} (tentative {attempt}) conforme (compétent). La "
        "décision passe maintenant par la vérification ; une fois confirmée, vous serez informé de votre "
        "certification.",
        "Ouvrir votre portfolio",
    ),
    "decision_not_yet": Template(
        "Votre portfolio demande des preuves supplémentaires",
        "Votre évaluateur a jugé votre portfolio {certification} (tentative {attempt}) pas encore conforme.\n\n"
        "Que faire : lisez le commentaire sur chaque critère non encore atteint ({criteria}), ajoutez ou "
        "améliorez vos preuves, puis soumettez à nouveau votre portfolio.\n\n"
        "Commentaire de votre évaluateur : {feedback}\n\n"
        "Si vous pensez que la décision est erronée, vous pouvez faire appel jusqu'au {deadline}.",
        "Voir le commentaire",
    ),
    "award": Template(
        "Vous avez obtenu la certification {certification}",
        "Félicitations : la décision sur votre portfolio a été confirmée et vous avez obtenu la certification "
        "{certification} ({title}).\n\nCertificat numéro {certificate_number} : {credits} crédits "
        "d'apprentissage, {cpd_points} points de DPC, délivré le {date}. Les employeurs peuvent vérifier votre "
        "certificat à l'adresse {verify_url}",
        "Voir votre certificat",
    ),
    "appeal_received": Template(
        "Votre appel a bien été reçu",
        "Votre appel contre la décision sur votre portfolio {certification} a été reçu le {date}. Une personne "
        "qui n'a pas pris part à la décision va l'examiner, et vous serez informé du résultat.",
        "Ouvrir votre portfolio",
    ),
    "appeal_upheld": Template(
        "Votre appel a été accepté",
        "Votre appel concernant votre portfolio {certification} a été accepté : {rationale}\n\n"
        "Votre soumission sera évaluée à nouveau par un évaluateur qui ne l'a pas encore évaluée.",
        "Ouvrir votre portfolio",
    ),
    "appeal_dismissed": Template(
        "Votre appel n'a pas été accepté",
        "Votre appel concernant votre portfolio {certification} n'a pas été accepté : {rationale}\n\n"
        "La décision est maintenue : ajoutez ou améliorez vos preuves pour les critères non encore atteints, "
        "puis soumettez à nouveau votre portfolio.",
        "Ouvrir votre portfolio",
    ),
    "appeal_deadline": Template(
        "Vous pouvez faire appel jusqu'au {deadline}",
        "Vous pouvez faire appel de la décision « pas encore conforme » sur votre portfolio {certification} "
        "jusqu'au {deadline}. Si vous ne pensez pas que la décision soit erronée, vous n'avez rien à faire : "
        "améliorez vos preuves et soumettez à nouveau.",
        "Ouvrir votre portfolio",
    ),
    "new_work": Template(
        "Nouveau travail à évaluer : {learner}",
        "{learner} a soumis un portfolio {certification} (tentative {attempt}) le {date}. Il attend dans votre "
        "file d'évaluation.",
        "Ouvrir votre travail",
    ),
    "appeal_reassess": Template(
        "Un appel accepté à évaluer à nouveau : {learner}",
        "Un appel concernant le portfolio {certification} de {learner} a été accepté. Il doit être évalué à "
        "nouveau par un évaluateur qui ne l'a pas encore évalué, et attend dans votre file d'évaluation.",
        "Ouvrir votre travail",
    ),
    "sent_back_step1": Template(
        "Votre décision vous a été renvoyée : {learner}",
        "Le vérificateur interne a examiné votre décision sur le portfolio {certification} de {learner} et ne "
        "l'a pas approuvée : {rationale}\n\nElle vous attend dans la file des décisions renvoyées à l'évaluateur.",
        "Ouvrir votre travail",
    ),
    "sent_back_step2": Template(
        "Votre décision vous a été renvoyée : {learner}",
        "Le vérificateur indépendant vous a renvoyé votre décision sur le portfolio {certification} de "
        "{learner} : {rationale}\n\nElle vous attend dans la file des décisions renvoyées à l'évaluateur.",
        "Ouvrir votre travail",
    ),
    "verification_step1": Template(
        "En attente de vérification interne : {learner}",
        "La décision d'un évaluateur sur le portfolio {certification} de {learner} a été retenue pour la "
        "vérification interne (étape 1). Elle attend dans votre file.",
        "Ouvrir votre travail",
    ),
    "verification_step2": Template(
        "En attente de vérification indépendante : {learner}",
        "La décision favorable d'un évaluateur sur le portfolio {certification} de {learner} attend la "
        "vérification indépendante (étape 2) dans votre file.",
        "Ouvrir votre travail",
    ),
    "appeal_waiting": Template(
        "Un appel à trancher : {learner}",
        "{learner} a fait appel de la décision sur son portfolio {certification} le {date}. Une personne qui n'a "
        "pas pris part à la décision doit le trancher : il est dans la file des appels.",
        "Ouvrir les appels",
    ),
    "grade_jobs_failed": Template(
        "Des notes n'ont pas pu être envoyées à {platform}",
        "Une note de {learner} n'a pas pu être transmise à {platform} et ne sera pas renvoyée d'elle-même : "
        "{error}\n\nLes échecs suivants sur cette plateforme aujourd'hui ne sont pas signalés à nouveau ; la "
        "page des envois de notes les liste tous.",
        "Ouvrir les envois de notes",
    ),
    "registration_waiting": Template(
        "Une plateforme attend son activation : {platform}",
        "{platform} ({issuer}) a enregistré l'outil par enregistrement dynamique le {date}. Ses lancements sont "
        "refusés tant qu'un administrateur de l'outil n'a pas vérifié et activé l'enregistrement.",
        "Ouvrir les enregistrements",
    ),
    "work_overdue": Template(
        "{count} éléments attendent au-delà du délai prévu",
        "{count} éléments attendent depuis plus de {days} jours : {summary}. Le plus ancien attend depuis "
        "{oldest} jours.",
        "Ouvrir les files de travail",
    ),
    "digest": Template(
        "Vos notifications : {count} nouvelles",
        "Voici ce qui s'est passé depuis votre dernier résumé.",
        "Ouvrir vos notifications",
    ),
}

# The words around every e-mail.
CHROME: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hello {name},",
        "open_in_course": "{action} from your course on your learning platform: {url}",
        "open_in_tool": "{action}: {url}",
        "why": "You receive this e-mail because of your notification settings in {tool}.",
        "unsubscribe": "Stop e-mails like this one",
        "unsubscribe_all": "Stop all e-mails from {tool}",
        "settings": "You can choose which e-mails you get on the Notifications page of the tool.",
        "no_feedback": "(none given)",
    },
    "fr": {
        "greeting": "Bonjour {name},",
        "open_in_course": "{action} depuis votre cours sur votre plateforme d'apprentissage : {url}",
        "open_in_tool": "{action} : {url}",
        "why": "Vous recevez ce courriel en raison de vos réglages de notification dans {tool}.",
        "unsubscribe": "Ne plus recevoir de courriels de ce type",
        "unsubscribe_all": "Ne plus recevoir aucun courriel de {tool}",
        "settings": "Vous pouvez choisir les courriels que vous recevez sur la page Notifications de l'outil.",
        "no_feedback": "(aucun)",
    },
}

CATALOGUES: dict[str, dict[str, Template]] = {"en": EN, "fr": FR}


def language_of(locale: str | None) -> str:
    """The catalogue language for a locale such as "fr-CA" or "fr_FR"; English when the tool has no words."""
    primary = (locale or "").replace("_", "-").split("-", 1)[0].strip().lower()
    return primary if primary in CATALOGUES else DEFAULT_LANGUAGE


def format_date(value: dt.date | dt.datetime, language: str) -> str:
    months, pattern = MONTHS.get(language, MONTHS[DEFAULT_LANGUAGE])
    return pattern.format(day=value.day, month=months[value.month - 1], year=value.year)


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


def render(template: str, language: str, params: Mapping[str, Any]) -> Text:
    """The notice `template` in `language` (English when the language lacks it), with `params` filled in."""
    found = CATALOGUES.get(language, EN).get(template)
    if found is None:
        language, found = DEFAULT_LANGUAGE, EN[template]
    values = _Values({k: _value(v, language) for k, v in params.items()})
    return Text(found.title.format_map(values), found.body.format_map(values), found.action.format_map(values))


def chrome(language: str) -> dict[str, str]:
    return CHROME.get(language, CHROME[DEFAULT_LANGUAGE])

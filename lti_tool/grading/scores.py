"""What the LMS gradebook is told for each portfolio state, as AGS score and line item JSON.

Plain functions: the rules are tested without HTTP. Moodle refuses (400) a score without userId, an
ISO 8601 timestamp, activityProgress and gradingProgress, or with scoreGiven but no scoreMaximum; Open edX
refuses a line item label over 100 characters (its LtiAgsLineItem.label is a CharField(max_length=100)) and
a scoreGiven without scoreMaximum. `fit_label` and `score_problem` keep the tool inside those limits before
anything is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lti_tool.portfolio import workflow as wf

GRADE_MAXIMUM = 100
MAIN_TAG = "accreditation"
CREDITS_TAG = "credits"

# Every state between submission and the final decision looks the same from the gradebook.
IN_REVIEW = frozenset({wf.SUBMITTED, wf.ASSESSED, wf.VERIFICATION_1, wf.VERIFICATION_2, wf.SENT_BACK, wf.APPEALED})
REPORTED_STATES = frozenset({wf.DRAFT, wf.REFERRED, wf.AWARDED}) | IN_REVIEW

REFERRED_DEFAULT = "Referred: more evidence is needed. The assessor's feedback is in the portfolio."
# The strictest platform's limit on a line item label: Open edX (Moodle allows 255 for a grade item name).
LABEL_LIMIT = 100
REQUIRED_SCORE_FIELDS = ("userId", "timestamp", "activityProgress", "gradingProgress")


def iso_timestamp(moment: dt.datetime) -> str:
    """ISO 8601 with an explicit UTC offset and microseconds (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_timestamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def next_timestamp(now: dt.datetime, previous: str | None) -> str:
    """`now`, or the next whole second after the previous score's if the clock has not moved a second past it.

    Platforms keep the score with the latest timestamp, so two state changes in the same instant must
    still carry increasing timestamps or the later one would be ignored. Moodle compares whole seconds
    (its grade's timemodified is an integer) and refuses with 409 "Refusing score with an earlier timestamp"
    a score in the same second as the stored one: two different scores of one learner must therefore be a
    second apart, so that the 409 only ever means "this very score is already there" (see worker.duplicate).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    if previous:
        before = parse_timestamp(previous)
        if now.replace(microsecond=0) <= before.replace(microsecond=0):
            now = before.replace(microsecond=0) + dt.timedelta(seconds=1)
    return iso_timestamp(now)


def fit_label(label: str, suffix: str = "", limit: int = LABEL_LIMIT) -> str:
    """`label` + `suffix` in at most `limit` characters: the label is cut at a word where it can be, with an
    ellipsis, and the suffix (the certification code, which tells columns apart) is always kept whole."""
    label = " ".join(str(label).split())
    if len(label) + len(suffix) <= limit:
        return label + suffix
    room = max(limit - len(suffix) - 1, 1)  # one for the ellipsis
    cut = label[:room]
    if " " in cut and len(cut.rsplit(" ", 1)[0]) >= room // 2:
        cut = cut.rsplit(" ", 1)[0]
    return (cut.rstrip(" ,;:-") + "…" + suffix)[:limit]


def score_problem(payload: dict[str, Any]) -> str | None:
    """Why a platform would refuse this score (a field it requires is missing), or None."""
    missing = [f for f in REQUIRED_SCORE_FIELDS if not payload.get(f)]
    if missing:
        return f"The score lacks {', '.join(missing)}, which every platform requires."
    if payload.get("scoreGiven") is not None and not isinstance(payload.get("scoreMaximum"), int | float):
        return "The score has scoreGiven but no scoreMaximum, which Moodle and Open edX require with it."
    if payload.get("scoreGiven") is not None and payload["scoreGiven"] < 0:
        return "The score's scoreGiven is negative; platforms accept only positive numbers and 0."
    return None


def score_payload(
    state: str,
    *,
    user_id: str,
    timestamp: str,
    feedback: str = "",
    certificate_number: str = "",
    credits: int | None = None,
    cpd_points: int | None = None,
    unit_code: str = "",
) -> dict[str, Any]:
    """The main line item's score for a portfolio in `state`. With `unit_code`, the column of one unit of a
    whole-certification portfolio (a unit placement): the same progress, and at award the unit is achieved with
    the certification (`credits` and `cpd_points` are then the unit's)."""
    score: dict[str, Any] = {"userId": user_id, "timestamp": timestamp}
    if state == wf.DRAFT:
        score.update(activityProgress="Started", gradingProgress="NotReady")
    elif state in IN_REVIEW:
        score.update(activityProgress="Submitted", gradingProgress="PendingManual")
    elif state == wf.REFERRED:
        score.update(
            activityProgress="InProgress", gradingProgress="PendingManual", comment=feedback.strip() or REFERRED_DEFAULT
        )
    elif state == wf.AWARDED:
        if not certificate_number:
            raise ValueError("An awarded score needs the certificate number.")
        comment = f"Awarded. Certificate number {certificate_number}."
        if unit_code:
            comment = f"Awarded with the certification: unit {unit_code} achieved. " + comment[len("Awarded. ") :]
        if credits is not None:
            comment += f" {credits} learning credits"
            comment += f", {cpd_points} CPD points." if cpd_points is not None else "."
        score.update(
            activityProgress="Completed",
            gradingProgress="FullyGraded",
            scoreGiven=GRADE_MAXIMUM,
            scoreMaximum=GRADE_MAXIMUM,
            comment=comment,
        )
    else:
        raise ValueError(f"No gradebook score is defined for state {state!r}.")
    return score


def credits_payload(
    *,
    user_id: str,
    timestamp: str,
    credits_earned: int,
    credits_available: int,
    certificate_number: str,
    cpd_points: int | None = None,
) -> dict[str, Any]:
    """The credits line item's score at award: credits earned out of the certification's credits."""
    comment = f"{credits_earned} learning credits (certificate {certificate_number})"
    if cpd_points is not None:
        comment += f", {cpd_points} CPD points"
    return {
        "userId": user_id,
        "timestamp": timestamp,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": credits_earned,
        "scoreMaximum": credits_available,
        "comment": comment + ".",
    }


def progress_of(payload: dict[str, Any]) -> tuple[Any, ...]:
    """What a score says, without when: two scores with equal progress tell the gradebook nothing new."""
    return tuple(
        payload.get(k) for k in ("activityProgress", "gradingProgress", "scoreGiven", "scoreMaximum", "comment")
    )


def main_line_item(code: str, title: str, unit_code: str = "", unit_title: str = "") -> dict[str, Any]:
    """The main column of a placement of certification `code`; of its unit `unit_code` for a unit placement,
    labelled as deep linking labels a unit's activity (grading/deep_linking.py)."""
    if unit_code:
        return {
            "label": fit_label(unit_title, f" ({code} unit {unit_code})"),
            "scoreMaximum": GRADE_MAXIMUM,
            "resourceId": f"{code}/{unit_code}",
            "tag": MAIN_TAG,
        }
    return {"label": fit_label(title, f" ({code})"), "scoreMaximum": GRADE_MAXIMUM, "resourceId": code, "tag": MAIN_TAG}


def credits_line_item(code: str, credits_available: int, unit_code: str = "") -> dict[str, Any]:
    return {
        "label": fit_label(f"{code} unit {unit_code}" if unit_code else code, " learning credits"),
        "scoreMaximum": credits_available,
        "resourceId": f"{code}/{unit_code}" if unit_code else code,
        "tag": CREDITS_TAG,
    }

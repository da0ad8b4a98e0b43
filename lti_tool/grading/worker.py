"""Delivering grade jobs to the platforms: claim with a lease, post, record; retry with backoff.

- Jobs are claimed a batch at a time (GRADING_BATCH_SIZE) in a short transaction (SELECT ... FOR UPDATE
  SKIP LOCKED on PostgreSQL, then a compare-and-set update) that gives them a lease; the HTTP calls happen
  outside any transaction, on one kept-alive session and token per platform, and the delivered jobs of a
  batch are recorded in one statement.
- A worker killed mid-batch leaves its jobs `in_progress`; once the lease runs out another worker (or the
  same one after restart) delivers them again. The platform may then receive the same score twice: the
  payload and its timestamp are the same, and AGS platforms keep one result per learner. Some refuse the
  second copy: Open edX with 400 `{"timestamp": ["Score already exists for the provided timestamp"]}` (or
  "... can only be updated to a later point in time" when a later one is stored; LtiAgsScoreSerializer.
  validate_timestamp in lti-consumer-xblock), Moodle with 409 "Refusing score with an earlier timestamp"
  (mod/lti/service/gradebookservices scores.php). That answer means the score is there: the job counts as
  delivered, confirmed against the platform's results where the tool may read them (result.readonly).
- A score is checked before it is sent (required fields, see scores.score_problem); a 401 or 403 gets a new
  token and one more try (services.CachingServiceConnector) before it counts as the platform's answer.
- Order: a job is claimed only when no earlier job of the same learner on the same line item is still
  pending or in progress, so a later score never overtakes an earlier one (and AGS timestamps make the
  latest win anyway).
- Network errors, 408, 425, 429 and 5xx are retried with exponential backoff and jitter, honouring
  Retry-After; other 4xx fail the job at once with the platform's answer recorded for the admin, followed by
  what the admin can do about it (`advice`). A retryable failure also gives the platform a rest: its other
  jobs in the batch go back unattempted until then.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app
from flask_babel import gettext
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.utils import add_param_to_url
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased, joinedload

from lti_tool.grading import lineitems, scores
from lti_tool.grading.models import DELIVERED, FAILED, IN_PROGRESS, MAIN, PENDING, GradeJob
from lti_tool.grading.services import (
    TOKEN_REFUSED,
    CachingServiceConnector,
    TokenRequestError,
    ags_for,
    connector_for,
)
from lti_tool.launch.models import Deployment, ResourceLink
from lti_tool.store.db import db, rowcount, utcnow
from lti_tool.web.background import BackgroundWorker, start_worker
from lti_tool.web.errors import N_

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_RETRY_AFTER = 24 * 3600
ERROR_LIMIT = 4000
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
# How platforms refuse a score they already hold (this one, or a later one of the same learner):
# (status, words of the answer). Open edX puts them in a JSON body, Moodle in the HTTP reason phrase.
DUPLICATE_ANSWERS = (
    (400, "Score already exists for the provided timestamp"),  # Open edX: same timestamp
    (400, "Score timestamp can only be updated to a later point in time"),  # Open edX: a later one is stored
    (409, "Refusing score with an earlier timestamp"),  # Moodle: its grade is as recent or more
)


@dataclass(frozen=True)
class Settings:
    lease_seconds: float
    backoff_seconds: float
    backoff_max_seconds: float
    max_attempts: int
    poll_seconds: float
    batch_size: int = 50

    @classmethod
    def from_app(cls, app: Flask | None = None) -> Settings:
        c = (app or current_app).config
        return cls(
            lease_seconds=float(c["GRADING_LEASE_SECONDS"]),
            backoff_seconds=float(c["GRADING_BACKOFF_SECONDS"]),
            backoff_max_seconds=float(c["GRADING_BACKOFF_MAX_SECONDS"]),
            max_attempts=int(c["GRADING_MAX_ATTEMPTS"]),
            poll_seconds=float(c["GRADING_POLL_SECONDS"]),
            batch_size=int(c["GRADING_BATCH_SIZE"]),
        )


@dataclass
class Failure:
    """What went wrong with one attempt, and whether trying again may help."""

    retry: bool
    message: str
    status: int | None = None
    retry_after: float | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return float(min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER))


def retry_delay(
    attempts: int, settings: Settings, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter (half to full of the step), never sooner than Retry-After asks."""
    step = min(settings.backoff_max_seconds, settings.backoff_seconds * (2 ** max(attempts - 1, 0)))
    delay = step * (0.5 + 0.5 * (rng or random).random())
    return max(delay, retry_after or 0.0)


def _body(response: requests.Response) -> str:
    text = (response.text or "").strip()
    return text[:ERROR_LIMIT] if text else "(empty body)"


class ScoreNotSendable(LtiException):
    """The score breaks a platform's rule (scores.score_problem): it is not sent."""


class DuplicateUnconfirmed(LtiException):
    """The platform said it holds this score, but its results show none for the learner."""


def duplicate_answer(response: requests.Response) -> str | None:
    """The words by which the platform said it already holds this score (or a later one), or None."""
    said = f"{response.text or ''} {response.reason or ''}"
    for status, words in DUPLICATE_ANSWERS:
        if response.status_code == status and words.lower() in said.lower():
            return words
    return None


ADVICE_MARK = "\nWhat to do: "  # between the platform's answer and the advice in a failed job's last_error


def advice(failure: Failure, exc: BaseException) -> str:
    """What the tool administrator can do about a job that failed for good (shown with its error). Stored in
    English with the job (the log and the CLI show it so); each sentence is whole, without values, so that the
    grade jobs page can show it in the reader's language (`error_and_advice`)."""
    if isinstance(exc, TokenRequestError):
        return N_(
            "The platform refused the tool's request for an access token. Check on the platform that the tool's "
            "client ID, its public keyset URL (JWKS) and the token URL match this registration (`lti-tool "
            "registration list`), and that both servers' clocks are right; then use Retry on the grade jobs page "
            "or `lti-tool grading retry JOB_ID`."
        )
    if isinstance(exc, lineitems.LineItemUnavailable | DuplicateUnconfirmed | ScoreNotSendable):
        return N_(
            "See above; once that is fixed, then use Retry on the grade jobs page or `lti-tool grading retry JOB_ID`."
        )
    if failure.retry is False and failure.message.startswith("gave up after"):
        return N_(
            "The platform kept failing or could not be reached. Check that it is up and reachable from the tool "
            "(a slow platform may need a longer LTI_TOOL_HTTP_TIMEOUT), then use `lti-tool grading retry "
            "--all-failed`."
        )
    if failure.status in TOKEN_REFUSED:
        return N_(
            "The platform refused the tool's access even with a new token: check that the activity still lets "
            "the tool send grades (Assignment and Grade Services) and that the registration's keys match the "
            "platform's; then use Retry on the grade jobs page or `lti-tool grading retry JOB_ID`."
        )
    if failure.status == 404:
        return N_(
            "The gradebook column could not be found or created again: check that the activity still exists "
            "in the course and is graded; then use Retry on the grade jobs page or `lti-tool grading retry "
            "JOB_ID`."
        )
    if failure.status is not None and 400 <= failure.status < 500:
        return N_(
            "The platform refused this score as sent; its answer above says why. Fix what it names on the "
            "platform (or report it to the tool's maintainers if it names the score itself); then use Retry on "
            "the grade jobs page or `lti-tool grading retry JOB_ID`."
        )
    return N_(
        "Check the tool's log for this job; then use Retry on the grade jobs page or `lti-tool grading retry JOB_ID`."
    )


def error_and_advice(last_error: str | None) -> tuple[str, str | None]:
    """A job's stored error as (the platform's answer, the advice in the reader's language, or None when it has
    none). Advice stored by an earlier release, in other words, is shown as it was stored."""
    answer, mark, told = (last_error or "").partition(ADVICE_MARK)
    return answer.strip(), (gettext(told.strip()) if mark and told.strip() else None)


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, LtiServiceException) and getattr(exc, "response", None) is not None:
        response = exc.response
        status = response.status_code
        method = getattr(response.request, "method", "") or ""
        where = "token request" if isinstance(exc, TokenRequestError) else f"{method} {response.url}".strip()
        message = f"{where} answered HTTP {status}: {_body(response)}"
        retry = status in RETRYABLE_STATUS or status >= 500
        wait = parse_retry_after(response.headers.get("Retry-After")) if retry else None
        return Failure(retry, message, status, wait)
    if isinstance(exc, requests.RequestException):
        return Failure(True, f"network error: {type(exc).__name__}: {exc}"[:ERROR_LIMIT])
    if isinstance(exc, lineitems.LineItemUnavailable | LtiException):
        return Failure(False, str(exc)[:ERROR_LIMIT])
    return Failure(True, f"unexpected error: {type(exc).__name__}: {exc}"[:ERROR_LIMIT])


def _due(now: dt.datetime) -> Any:
    return or_(
        and_(GradeJob.status == PENDING, GradeJob.next_attempt_at <= now),
        and_(GradeJob.status == IN_PROGRESS, GradeJob.lease_until < now),
    )


def _not_blocked() -> Any:
    earlier = aliased(GradeJob)
    return ~exists().where(
        earlier.resource_link_id == GradeJob.resource_link_id,
        earlier.user_id == GradeJob.user_id,
        earlier.target == GradeJob.target,
        earlier.sequence < GradeJob.sequence,
        earlier.status.in_((PENDING, IN_PROGRESS)),
    )


def _select_due(condition: Any, size: int) -> list[int]:
    """Ids of up to `size` jobs meeting `condition` whose earlier jobs are settled, oldest due first (ties in
    any order, so that the index gives them without a sort), locked, skipping rows another worker holds."""
    query = select(GradeJob.id).where(condition, _not_blocked()).order_by(GradeJob.next_attempt_at).limit(size)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=GradeJob)
    return list(db.session.scalars(query))


def claim_batch(worker_id: str, settings: Settings, size: int | None = None) -> list[int]:
    """Lease up to `size` due jobs whose earlier jobs are settled, in one transaction; their ids (abandoned
    leases first, then pending jobs, each oldest due first).

    A batch never holds two jobs of one learner on one line item: the later one is blocked by the earlier
    one, which is still pending when the query looks.
    """
    size = size or settings.batch_size
    for _ in range(5):  # another worker may win a race for the same rows; look again
        now = utcnow()
        # Abandoned leases first, then pending jobs: two queries, because with both in one OR the database
        # reads and sorts every due job (14 ms per claim at 5,000 pending) instead of walking the
        # (status, next_attempt_at) index and stopping at `size` (0.3 ms).
        ids = _select_due(and_(GradeJob.status == IN_PROGRESS, GradeJob.lease_until < now), size)
        if len(ids) < size:
            ids += _select_due(and_(GradeJob.status == PENDING, GradeJob.next_attempt_at <= now), size - len(ids))
        if not ids:
            db.session.rollback()
            return []
        claimed = set(
            db.session.scalars(
                update(GradeJob)
                .where(GradeJob.id.in_(ids), _due(now))
                .values(
                    status=IN_PROGRESS,
                    lease_until=now + dt.timedelta(seconds=settings.lease_seconds),
                    leased_by=worker_id,
                    attempts=GradeJob.attempts + 1,
                    updated_at=now,
                )
                .returning(GradeJob.id)
                .execution_options(synchronize_session=False)
            )
        )
        db.session.commit()
        if claimed:
            return [i for i in ids if i in claimed]
    return []


def claim_next(worker_id: str, settings: Settings) -> GradeJob | None:
    """Lease the next due job whose earlier jobs are settled; None when there is nothing to do."""
    ids = claim_batch(worker_id, settings, 1)
    if not ids:
        return None
    job = db.session.get(GradeJob, ids[0])
    db.session.refresh(job)
    return job


def grade_from_payload(payload: dict[str, Any]) -> Grade:
    grade = (
        Grade()
        .set_user_id(payload["userId"])
        .set_timestamp(payload["timestamp"])
        .set_activity_progress(payload["activityProgress"])
        .set_grading_progress(payload["gradingProgress"])
    )
    if "scoreGiven" in payload:
        grade.set_score_given(payload["scoreGiven"]).set_score_maximum(payload["scoreMaximum"])
    if payload.get("comment"):
        grade.set_comment(payload["comment"])
    return grade


@dataclass(frozen=True)
class Claimed:
    """A claimed job as plain values: read once, so that no query runs between the HTTP calls."""

    id: int
    attempts: int
    last_status: int | None
    target: str
    payload: dict[str, Any]
    line_item: dict[str, Any]
    link_id: int
    registration_id: int


class Delivery:
    """What one pass over the due jobs reuses: per platform a connector (its kept-alive HTTP session and
    its token), per placement the AGS service, and the line items' URLs."""

    def __init__(self) -> None:
        self.connectors: dict[int, CachingServiceConnector] = {}
        self.services: dict[int, AssignmentsGradesService] = {}
        self.urls: dict[tuple[int, str], str] = {}

    def load(self, ids: list[int]) -> list[Claimed]:
        """The claimed jobs with their placements and platforms in one query; ends the transaction."""
        rows = {
            j.id: j
            for j in db.session.scalars(
                select(GradeJob)
                .where(GradeJob.id.in_(ids))
                .execution_options(populate_existing=True)
                .options(
                    joinedload(GradeJob.resource_link)
                    .joinedload(ResourceLink.deployment)
                    .joinedload(Deployment.registration)
                )
            )
        }
        jobs = [rows[i] for i in ids if i in rows]
        new_links = {j.resource_link_id: j.resource_link for j in jobs if j.resource_link_id not in self.services}
        for link in new_links.values():
            self._prepare(link)
        self.urls.update(lineitems.remembered_urls(new_links))
        for link in new_links.values():
            if link.ags_lineitem_url and self.urls.get((link.id, MAIN)) != link.ags_lineitem_url:
                # The launch's lineitem claim wins; ensure_line_item remembers it the first time.
                self.urls.pop((link.id, MAIN), None)
        claimed = [
            Claimed(
                j.id,
                j.attempts,
                j.last_status,
                j.target,
                j.payload,
                j.line_item,
                j.resource_link_id,
                j.resource_link.deployment.registration_id,
            )
            for j in jobs
        ]
        db.session.commit()  # no transaction stays open across the HTTP calls
        return claimed

    def _prepare(self, link: ResourceLink) -> None:
        registration = link.deployment.registration
        connector = self.connectors.get(registration.id)
        if connector is None:
            connector = self.connectors[registration.id] = connector_for(registration)
        self.services[link.id] = ags_for(link, connector)

    def line_item_url(self, job: Claimed) -> str:
        url = self.urls.get((job.link_id, job.target))
        if url is not None:
            return url
        link = db.session.get(ResourceLink, job.link_id)
        assert link is not None
        url = lineitems.ensure_line_item(self.services[job.link_id], link, job.target, job.line_item)
        db.session.commit()  # no transaction stays open across the HTTP call
        self.urls[(job.link_id, job.target)] = url
        return url

    def deliver(self, job: Claimed) -> str:
        """Post the job's score to its line item (finding or creating the line item first); a note for the
        admin when the platform already held it ("" otherwise)."""
        problem = scores.score_problem(job.payload)
        if problem:
            raise ScoreNotSendable(problem)
        url = self.line_item_url(job)
        ags = self.services[job.link_id]
        try:
            ags.put_grade(grade_from_payload(job.payload), LineItem({"id": url}))
        except LtiServiceException as exc:
            if isinstance(exc, TokenRequestError):
                raise
            if exc.response.status_code == 404:
                # The column was deleted on the platform: find or create it again on the next attempt.
                lineitems.forget(job.link_id, job.target)
                self.urls.pop((job.link_id, job.target), None)
                raise
            words = duplicate_answer(exc.response)
            if words is None:
                raise
            return self.confirm_held(job, ags, url, f"HTTP {exc.response.status_code} {words!r}")
        return ""

    def confirm_held(self, job: Claimed, ags: AssignmentsGradesService, url: str, answer: str) -> str:
        """The platform answered that it already holds this score: confirm with its results where the tool
        may read them, and say how it was counted."""
        said = f"Delivered earlier: the platform answered {answer} (it already holds this score or a later one)"
        if SCOPE_RESULT not in (ags._service_data.get("scope") or []):
            return said + "."
        user = str(job.payload["userId"])
        try:
            results = read_results(ags, url, user)
        except (LtiException, requests.RequestException, ValueError) as exc:
            log.warning("grade job %s: results could not be read to confirm a held score: %s", job.id, exc)
            return said + "; its results could not be read to confirm it."
        if any(str(r.get("userId")) == user for r in results):
            return said + "; its results list the learner's score."
        if job.payload.get("scoreGiven") is None:
            # Platforms list results with a score only (Open edX filters score_given not null): a progress
            # score cannot show there.
            return said + "."
        raise DuplicateUnconfirmed(
            f"The platform answered {answer}, yet its results show no score for learner {user}. Check the "
            "learner's grade in the LMS gradebook: if it is missing, an LMS administrator can clear the "
            "learner's stored grade for this activity so that a retry is accepted."
        )


def read_results(ags: AssignmentsGradesService, line_item_url: str, user_id: str) -> list[dict[str, Any]]:
    """The learner's results on a line item (AGS result service, first page), as JSON objects."""
    url = add_param_to_url(AssignmentsGradesService._add_url_path_ending(line_item_url, "results"), "user_id", user_id)
    response = ags._service_connector.make_service_request(
        ags._service_data["scope"], url, accept="application/vnd.ims.lis.v2.resultcontainer+json"
    )
    body = response["body"]
    return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []


FAILURE_LISTENERS = "lti_tool.grade_failure_listeners"
FailureListener = Callable[[int], object]


def add_failure_listener(app: Flask, listener: FailureListener) -> None:
    """Have listener(job_id) called in the transaction that records a job as failed for good (create_app:
    the tool administrators' notification); nothing registers on import."""
    listeners: list[FailureListener] = app.extensions.setdefault(FAILURE_LISTENERS, [])
    if listener not in listeners:
        listeners.append(listener)


def _tell_failure_listeners(job_id: int) -> None:
    for listener in list(current_app.extensions.get(FAILURE_LISTENERS, ())):
        try:
            with db.session.begin_nested():  # a listener's trouble never keeps the failure from being recorded
                listener(job_id)
        except Exception:
            log.exception("grade job %s: a failure listener failed", job_id)


def _finish(job_ids: list[int], worker_id: str, *, commit: bool = True, **values: Any) -> int:
    """Record the outcome of the jobs this worker still holds the lease of (whoever took one over records
    theirs); how many were recorded."""
    if not job_ids:
        return 0
    result = db.session.execute(
        update(GradeJob)
        .where(GradeJob.id.in_(job_ids), GradeJob.status == IN_PROGRESS, GradeJob.leased_by == worker_id)
        .values(lease_until=None, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if commit:
        db.session.commit()
    return rowcount(result)


def _hand_back(job_ids: list[int], worker_id: str, due: dt.datetime | None = None) -> None:
    """Return claimed jobs not attempted (stopping, lease running short, platform failing) as they were."""
    if not job_ids:
        return
    db.session.execute(
        update(GradeJob)
        .where(GradeJob.id.in_(job_ids), GradeJob.status == IN_PROGRESS, GradeJob.leased_by == worker_id)
        .values(
            status=PENDING,
            lease_until=None,
            leased_by=None,
            attempts=GradeJob.attempts - 1,
            updated_at=utcnow(),
            **({"next_attempt_at": due} if due else {}),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _record_failure(job: Claimed, exc: Exception, worker_id: str, settings: Settings) -> tuple[str, Failure]:
    """Record a failed attempt: again later with backoff, or failed for good; (new status, failure)."""
    db.session.rollback()
    failure = classify(exc)
    if failure.status == 404 and job.last_status == 404:
        failure.retry = False  # the line item was found or created again and is still missing
    elif failure.status == 404:
        failure.retry = True
    if failure.retry and job.attempts >= settings.max_attempts:
        failure.retry = False
        failure.message = f"gave up after {job.attempts} attempts; last: {failure.message}"
    if not failure.retry:
        failure.message = f"{failure.message}{ADVICE_MARK}{advice(failure, exc)}"
    if failure.retry:
        delay = retry_delay(job.attempts, settings, failure.retry_after)
        failure.retry_after = delay
        _finish(
            [job.id],
            worker_id,
            status=PENDING,
            last_status=failure.status,
            last_error=failure.message,
            next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
        )
        log.warning("grade job %s: attempt %s failed, retry in %.1fs: %s", job.id, job.attempts, delay, failure.message)
        return PENDING, failure
    recorded = _finish(
        [job.id], worker_id, commit=False, status=FAILED, last_status=failure.status, last_error=failure.message
    )
    if recorded:
        _tell_failure_listeners(job.id)
    db.session.commit()
    log.error("grade job %s failed: %s", job.id, failure.message)
    return FAILED, failure


def _platform_is_failing(failure: Failure) -> bool:
    """Network errors, timeouts, rate limits and 5xx say the platform (not this score) has a problem."""
    return failure.retry and failure.status != 404


def process_batch(
    jobs: list[Claimed], worker_id: str, settings: Settings, delivery: Delivery, stop: threading.Event | None = None
) -> dict[str, int]:
    """Deliver claimed jobs one after another, then record the delivered ones in one statement.

    Jobs not yet attempted go back unchanged when the worker is stopping or half the lease has gone (so a
    slow platform never lets a lease run out under a job still queued here), and, once a platform fails
    in a way that says it is down or overloaded, that platform's remaining jobs wait as long as the failed
    one does.
    """
    counts = {DELIVERED: 0, PENDING: 0, FAILED: 0}
    deadline = time.monotonic() + settings.lease_seconds / 2
    delivered: list[Claimed] = []
    held: list[tuple[Claimed, str]] = []  # delivered earlier, says the platform: recorded with its note
    resting: dict[int, dt.datetime] = {}
    waiting: dict[int, list[int]] = {}
    for i, job in enumerate(jobs):
        if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
            _hand_back([j.id for j in jobs[i:]], worker_id)
            break
        if job.registration_id in resting:
            waiting.setdefault(job.registration_id, []).append(job.id)
            continue
        try:
            note = delivery.deliver(job)
        except Exception as exc:  # every failure is recorded on the job; none may stop the worker
            status, failure = _record_failure(job, exc, worker_id, settings)
            counts[status] += 1
            if status == PENDING and _platform_is_failing(failure):
                resting[job.registration_id] = utcnow() + dt.timedelta(seconds=failure.retry_after or 0)
            continue
        if note:
            held.append((job, note))
        else:
            delivered.append(job)
    for registration_id, ids in waiting.items():
        _hand_back(ids, worker_id, resting[registration_id])
    _finish(
        [j.id for j in delivered], worker_id, status=DELIVERED, delivered_at=utcnow(), last_status=None, last_error=""
    )
    for job, note in held:
        _finish([job.id], worker_id, status=DELIVERED, delivered_at=utcnow(), last_status=None, last_error=note)
        log.info("grade job %s: %s", job.id, note)
    for job in delivered:
        log.info("grade job %s delivered (attempt %s)", job.id, job.attempts)
    counts[DELIVERED] += len(delivered) + len(held)
    return counts


def process_due_jobs(
    worker_id: str | None = None,
    limit: int = 1000,
    settings: Settings | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Deliver due jobs, a batch at a time, until none is due (or `limit` claimed, or `stop` is set);
    counts of outcomes by status."""
    worker_id = worker_id or default_worker_id()
    settings = settings or Settings.from_app()
    counts = {DELIVERED: 0, PENDING: 0, FAILED: 0}
    delivery = Delivery()
    claimed = 0
    while claimed < limit and not (stop is not None and stop.is_set()):
        ids = claim_batch(worker_id, settings, min(settings.batch_size, limit - claimed))
        if not ids:
            break
        claimed += len(ids)
        for status, n in process_batch(delivery.load(ids), worker_id, settings, delivery, stop).items():
            counts[status] += n
    return counts


def run_worker(
    app: Flask, *, once: bool = False, stop: threading.Event | None = None, worker_id: str | None = None
) -> dict[str, int]:
    """The delivery loop: until `stop` is set, or one pass over the due jobs with `once`."""
    stop = stop or threading.Event()
    worker_id = worker_id or default_worker_id()
    settings = Settings.from_app(app)
    totals = {DELIVERED: 0, PENDING: 0, FAILED: 0}
    while not stop.is_set():
        with app.app_context():
            try:
                counts = process_due_jobs(worker_id, settings=settings, stop=stop)
            except Exception:  # e.g. the database is briefly unreachable: log, wait, try again
                log.exception("grade worker pass failed")
                db.session.rollback()
                counts = {}
            finally:
                db.session.remove()
        for status, n in counts.items():
            totals[status] += n
        if once:
            break
        stop.wait(0 if sum(counts.values()) else settings.poll_seconds)
    return totals


THREAD_NAME = "grade-worker"


def start_background_worker(app: Flask) -> BackgroundWorker:
    """The in-process worker of the embedded setup (`lti-tool serve`)."""
    return start_worker(app, THREAD_NAME, lambda app, stop: run_worker(app, stop=stop))

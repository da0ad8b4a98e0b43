"""Grade sync rules as plain functions: score payloads, timestamps, backoff, error classification, roster merge."""

from __future__ import annotations

import datetime as dt
import json
import random
from types import SimpleNamespace

import pytest
import requests
from pylti1p3.exception import LtiException, LtiServiceException

from lti_tool.demo_platform.services import validate_score
from lti_tool.grading import scores
from lti_tool.grading.lineitems import LineItemUnavailable
from lti_tool.grading.roster import merge
from lti_tool.grading.services import TimeoutSession, TokenRequestError, next_page_url, refresh_margin, scope_key
from lti_tool.grading.worker import Settings, classify, grade_from_payload, parse_retry_after, retry_delay
from lti_tool.portfolio import workflow as wf

TS = "2024-06-01T10:00:00.000000+00:00"


def test_started_is_started_not_ready_without_a_score():
    assert scores.score_payload(wf.DRAFT, user_id="u1", timestamp=TS) == {
        "userId": "u1",
        "timestamp": TS,
        "activityProgress": "Started",
        "gradingProgress": "NotReady",
    }


@pytest.mark.parametrize(
    "state", [wf.SUBMITTED, wf.ASSESSED, wf.VERIFICATION_1, wf.VERIFICATION_2, wf.SENT_BACK, wf.APPEALED]
)
def test_every_in_review_state_is_submitted_pending_manual(state):
    assert scores.score_payload(state, user_id="u1", timestamp=TS) == {
        "userId": "u1",
        "timestamp": TS,
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
    }


def test_referred_carries_the_feedback_summary():
    assert scores.score_payload(wf.REFERRED, user_id="u1", timestamp=TS, feedback="  Add a monitoring plan. ") == {
        "userId": "u1",
        "timestamp": TS,
        "activityProgress": "InProgress",
        "gradingProgress": "PendingManual",
        "comment": "Add a monitoring plan.",
    }
    assert scores.score_payload(wf.REFERRED, user_id="u1", timestamp=TS)["comment"] == scores.REFERRED_DEFAULT


def test_awarded_is_full_marks_with_the_certificate_number():
    assert scores.score_payload(
        wf.AWARDED, user_id="u1", timestamp=TS, certificate_number="CMIACR-7", credits=12, cpd_points=120
    ) == {
        "userId": "u1",
        "timestamp": TS,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 100,
        "scoreMaximum": 100,
        "comment": "Awarded. Certificate number CMIACR-7. 12 learning credits, 120 CPD points.",
    }
    with pytest.raises(ValueError):
        scores.score_payload(wf.AWARDED, user_id="u1", timestamp=TS)


def test_credits_score():
    assert scores.credits_payload(
        user_id="u1", timestamp=TS, credits_earned=10, credits_available=12, certificate_number="C-1", cpd_points=100
    ) == {
        "userId": "u1",
        "timestamp": TS,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 10,
        "scoreMaximum": 12,
        "comment": "10 learning credits (certificate C-1), 100 CPD points.",
    }


@pytest.mark.parametrize("state", sorted(scores.REPORTED_STATES))
def test_every_payload_passes_a_strict_platform(state):
    payload = scores.score_payload(
        state, user_id="u1", timestamp=scores.iso_timestamp(dt.datetime(2024, 1, 1)), certificate_number="C-1"
    )
    assert validate_score(payload) is None
    assert dt.datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
    assert json.loads(grade_from_payload(payload).get_value()) == payload  # pylti1p3's Grade sends it unchanged


def test_unknown_state_has_no_score():
    with pytest.raises(ValueError):
        scores.score_payload("archived", user_id="u1", timestamp=TS)


def test_timestamps_are_aware_and_strictly_increase():
    now = dt.datetime(2024, 6, 1, 10, 0, 0)
    first = scores.next_timestamp(now, None)
    assert first == "2024-06-01T10:00:00.000000+00:00"
    second = scores.next_timestamp(now, first)  # same instant: still later
    assert scores.parse_timestamp(second) > scores.parse_timestamp(first)
    # Moodle compares whole seconds: a later score in the same second moves to the next one.
    assert second == "2024-06-01T10:00:01.000000+00:00"
    assert scores.next_timestamp(now.replace(microsecond=900000), first) == second
    assert scores.next_timestamp(now + dt.timedelta(seconds=1), first) == "2024-06-01T10:00:01.000000+00:00"


def test_retry_delay_grows_with_jitter_and_honours_retry_after():
    settings = Settings(lease_seconds=60, backoff_seconds=10, backoff_max_seconds=100, max_attempts=5, poll_seconds=1)
    rng = random.Random(1)
    delays = [retry_delay(n, settings, rng=rng) for n in (1, 2, 3, 4, 5, 6)]
    steps = [10, 20, 40, 80, 100, 100]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert retry_delay(1, settings, retry_after=300, rng=rng) == 300


def test_tokens_are_replaced_a_minute_before_expiry_or_a_tenth_of_a_short_life():
    assert refresh_margin(dt.timedelta(hours=1)) == dt.timedelta(seconds=60)
    # A platform issuing one-minute tokens: each is used for 54 s, not asked for again at every call.
    assert refresh_margin(dt.timedelta(seconds=60)) == dt.timedelta(seconds=6)


def test_service_sessions_take_proxies_and_ca_bundle_from_the_environment_once(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "lms.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/partner-ca.pem")
    session = TimeoutSession(5)
    assert session.verify == "/etc/ssl/partner-ca.pem" and not session.trust_env
    assert session.proxies_for("https://lms.example/api/scores")["https"] == "http://proxy.example:3128"
    assert "https" not in session.proxies_for("https://lms.internal/api/scores")
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:3128")  # read once per host, not per request
    assert session.proxies_for("https://lms.example/api/other")["https"] == "http://proxy.example:3128"


def test_parse_retry_after():
    now = dt.datetime(2024, 6, 1, 10, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Sat, 01 Jun 2024 10:01:00 GMT", now) == 60
    assert parse_retry_after("Sat, 01 Jun 2024 09:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("999999999") == 24 * 3600


def _http_error(
    status: int, body: str = "{}", headers: dict[str, str] | None = None, cls: type = LtiServiceException
) -> LtiServiceException:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.url = "https://lms.example/scores"
    response.headers.update(headers or {})
    response.request = requests.Request("POST", response.url).prepare()
    return cls(response)


def test_classify_retries_network_429_and_5xx_and_fails_other_4xx():
    assert classify(requests.ConnectionError("refused")).retry
    assert classify(requests.Timeout("slow")).retry
    busy = classify(_http_error(429, headers={"Retry-After": "7"}))
    assert busy.retry and busy.retry_after == 7 and busy.status == 429
    assert classify(_http_error(503)).retry
    bad = classify(_http_error(400, '{"error":"invalid_request","error_description":"The score lacks userId."}'))
    assert not bad.retry and bad.status == 400 and "The score lacks userId." in bad.message
    assert "POST https://lms.example/scores answered HTTP 400" in bad.message
    token = classify(_http_error(401, '{"error":"invalid_client"}', cls=TokenRequestError))
    assert not token.retry and token.message.startswith("token request answered HTTP 401")
    assert not classify(LineItemUnavailable("no scope")).retry
    assert not classify(LtiException("Can't put grade: Missing required scope")).retry
    assert classify(ValueError("odd")).retry


def test_next_page_link_is_read_as_sent():
    headers = {"Link": '<https://lms.example/Members?Page=2&After=AbC>; rel="next", <https://x/1>; rel="first"'}
    assert next_page_url(headers) == "https://lms.example/Members?Page=2&After=AbC"
    assert next_page_url({"Link": '<https://x/1>; rel="prev"'}) is None
    assert next_page_url({}) is None


def test_scope_key_ignores_order_and_duplicates():
    assert scope_key(["b", "a"]) == scope_key(["a", "b", "a"]) != scope_key(["a"])


def _portfolio(pid: int, sub: str, name: str, state: str = wf.DRAFT) -> SimpleNamespace:
    user = SimpleNamespace(sub=sub, display_name=lambda: name, email=f"{sub}@x")
    return SimpleNamespace(id=pid, user=user, state=state, created_at=None, state_changed_at=None)


def test_roster_merge_keeps_learners_who_have_not_launched_and_those_who_left():
    learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    members = [
        {"user_id": "ada", "name": "Ada Mensah", "roles": [learner]},
        {"user_id": "ben", "given_name": "Ben", "family_name": "Carter", "roles": ["Learner"], "status": "Inactive"},
        {
            "user_id": "iris",
            "name": "Iris Novak",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
        },
    ]
    portfolios = [_portfolio(1, "ada", "Ada Mensah", wf.SUBMITTED), _portfolio(2, "zed", "Zed Gone", wf.AWARDED)]
    award = SimpleNamespace(certificate_number="C-9", credits=12)
    job = SimpleNamespace(status="failed", last_error="HTTP 400")
    rows = merge(members, portfolios, attempts={1: 2}, awards={2: award}, jobs={1: job})
    assert [(r.name, r.in_roster) for r in rows] == [("Ada Mensah", True), ("Ben Carter", True), ("Zed Gone", False)]
    ada, ben, zed = rows
    assert ada.state_label == wf.STATE_LABELS[wf.SUBMITTED] and ada.attempts == 2 and ada.sync_status == "failed"
    assert ben.portfolio is None and ben.state_label == "Not started" and ben.member_status == "Inactive"
    assert zed.award is award


def test_labels_fit_the_strictest_platform_and_keep_the_code():
    title = "Qualified professional in the central monitoring of clinical trial data across many sites and countries"
    label = scores.main_line_item("CMIACR", title)["label"]
    assert len(label) <= scores.LABEL_LIMIT == 100
    assert label.endswith("… (CMIACR)") and label.startswith("Qualified professional in the central monitoring")
    assert scores.main_line_item("C1", "Short")["label"] == "Short (C1)"
    assert len(scores.fit_label("x" * 300)) == 100


def test_a_score_missing_what_platforms_require_is_named():
    good = scores.score_payload(wf.DRAFT, user_id="u1", timestamp=TS)
    assert scores.score_problem(good) is None
    assert "lacks userId" in scores.score_problem({**good, "userId": ""})
    assert "no scoreMaximum" in scores.score_problem({**good, "scoreGiven": 3})

"""web/urls.url_series: a page's many links to one route, differing in one id, built with one url_for. Each
URL must be exactly what url_for gives, with the session token a cookieless page's links carry."""

from __future__ import annotations

from flask import Flask, url_for

from lti_tool.launch.session import TOKEN_PARAM
from lti_tool.web import urls
from lti_tool.web.urls import url_series
from tests.registration_helpers import launch_as


def _same_as_url_for(app: Flask, **request: object) -> None:
    with app.test_request_context("/portfolio/1", **request):  # type: ignore[arg-type]
        criterion = url_series("learner.criterion", "criterion_id", portfolio_id=12)
        record = url_series("learner.add_item", "criterion", portfolio_id=12)
        for number in (1, 7, 12, 3456789):
            assert criterion(number) == url_for("learner.criterion", portfolio_id=12, criterion_id=number)
            assert record(number) == url_for("learner.add_item", portfolio_id=12, criterion=number)


def test_each_url_is_url_fors(sqlite_app: Flask) -> None:
    _same_as_url_for(sqlite_app)
    with sqlite_app.test_request_context("/"):
        assert url_series("learner.criterion", "criterion_id", portfolio_id=12)(5) == "/portfolio/12/criteria/5"


def test_the_session_token_is_carried_as_url_for_carries_it(sqlite_app: Flask) -> None:
    sess = launch_as(sqlite_app.test_client(), "demo-learner-ada")
    # A request that presents its session by token (the tool's cookie blocked in the LMS frame).
    _same_as_url_for(sqlite_app, query_string={TOKEN_PARAM: sess.id})
    with sqlite_app.test_request_context("/", query_string={TOKEN_PARAM: sess.id}):
        assert f"{TOKEN_PARAM}={sess.id}" in url_series("learner.criterion", "criterion_id", portfolio_id=3)(9)


def test_a_slot_seen_twice_falls_back_to_url_for(sqlite_app: Flask, monkeypatch) -> None:
    monkeypatch.setattr(urls, "_SLOT", 12)  # the portfolio id's digits too: a plain replace would corrupt it
    with sqlite_app.test_request_context("/"):
        assert url_series("learner.criterion", "criterion_id", portfolio_id=12)(5) == "/portfolio/12/criteria/5"

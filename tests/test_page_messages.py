"""Flashed messages ("Decision recorded", "Draft saved"...) reach the next page without any cookie, as in an
LMS iframe whose browser blocks third-party cookies; pages without a tool session keep Flask's cookie."""

from __future__ import annotations

from flask import flash, redirect, url_for

from lti_tool.launch.cache import cache_get
from lti_tool.launch.page_messages import KEY_PREFIX
from tests.lti_helpers import demo_launch


def _add_flashing_route(app) -> None:
    def say() -> object:
        flash("Decision recorded: competent.", "info")
        return redirect(url_for("home.start"), code=303)

    app.add_url_rule("/test-flash", "test_flash", say, methods=["GET"])


def test_flashed_message_survives_without_cookies(app, client):
    _add_flashing_route(app)
    demo_launch(client, "demo-learner-ada")
    token = client.get_cookie("lti_tool_session").value  # the id a cookieless frame carries as _s
    client.delete_cookie("lti_tool_session")
    client.delete_cookie("session")
    resp = client.get("/test-flash", query_string={"_s": token})
    assert resp.status_code == 303 and "set-cookie" not in resp.headers
    assert cache_get(KEY_PREFIX + token) == {"_flashes": [["info", "Decision recorded: competent."]]}
    page = client.get(resp.location)
    assert page.status_code == 200 and "Decision recorded: competent." in page.data.decode()
    again = client.get(resp.location)
    assert "Decision recorded" not in again.data.decode()  # shown once
    assert cache_get(KEY_PREFIX + token) is None


def test_messages_belong_to_their_session(app, client):
    _add_flashing_route(app)
    demo_launch(client, "demo-learner-ada")
    ada = client.get_cookie("lti_tool_session").value
    demo_launch(client, "demo-learner-ben")
    ben = client.get_cookie("lti_tool_session").value
    client.delete_cookie("lti_tool_session")
    client.get("/test-flash", query_string={"_s": ada})
    assert "Decision recorded" not in client.get("/start", query_string={"_s": ben}).data.decode()
    assert "Decision recorded" in client.get("/start", query_string={"_s": ada}).data.decode()


def test_pages_without_a_tool_session_keep_flasks_cookie(app, client):
    _add_flashing_route(app)
    resp = client.get("/test-flash")
    assert resp.status_code == 303 and "session=" in resp.headers.get("Set-Cookie", "")

"""Launches in a browser that blocks third-party cookies: inside the LMS iframe the tool's cookie is neither
stored nor sent, yet the launch works through the platform's postMessage storage and the session goes on
across pages; where the platform offers no storage, the frame's verified launch is completed in a new window.
The shared server runs without partitioned cookies (conftest.py), so the frame really keeps no cookie."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Request, expect

from tests.browser.pages import COOKIE_NAME, LiveServer, Person, Shots


def _cookie_header(request: Request) -> str:
    return request.all_headers().get("cookie", "")


def test_storage_launch_and_session_without_cookies(
    browser: Browser, live_server: LiveServer, axe_script: Path
) -> None:
    shots = Shots.for_test("cookieless", axe_script)
    ben = Person(browser, live_server, "demo-learner-ben", shots)
    try:
        ben.launch()
        logins = [r for r in ben.tool_requests() if "/lti/login?" in r.url]
        assert logins and "lti_storage_target=_parent" in logins[0].url, "the platform offered its storage"
        ben.heading(re.compile("Your portfolio for"))
        expect(ben.tool.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        ben.step("storage-launch")

        # A form inside the iframe, then links: each page still knows who this is.
        ben.tool.get_by_label("Portfolio-only route").check()
        ben.tool.get_by_role("button", name="Start my portfolio").click()
        expect(ben.tool.get_by_text("Your portfolio is ready")).to_be_visible()
        expect(ben.tool.get_by_text("Portfolio-only route")).to_be_visible()
        ben.tool.get_by_role("link", name="Add evidence").click()
        ben.heading("Add evidence")
        ben.tool.get_by_role("link", name="Cancel").click()
        ben.heading("Qualified Clinical Research Central Monitor")
        ben.tool.get_by_role("link", name="My portfolios").click()
        ben.heading("My portfolios")
        expect(ben.tool.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        ben.step("session-across-pages")
        assert "_s=" in ben.frame.url, "the session travels as a token in the tool's own links"

        # The cookie really was blocked: the tool set it, the browser kept none and sent none.
        tool_requests = ben.tool_requests()
        assert len(tool_requests) >= 8
        launch = next(
            r
            for r in tool_requests
            if r.method == "POST"
            and r.url.endswith("/lti/launch")
            and r.response() is not None
            and r.response().status == 303
        )
        assert COOKIE_NAME in (launch.response().all_headers().get("set-cookie") or "")
        assert not [c for c in ben.context.cookies() if c["name"] == COOKIE_NAME]
        sent = [r.url for r in tool_requests if COOKIE_NAME in _cookie_header(r)]
        assert sent == [], f"the tool's cookie was sent inside the iframe: {sent}"
        assert ben.frame.evaluate("() => navigator.cookieEnabled")  # cookies are on: only the third party's are off
    finally:
        shots.save_findings()
        ben.close()


def test_without_platform_storage_the_new_window_completes_the_verified_launch(
    browser: Browser, live_server: LiveServer, axe_script: Path
) -> None:
    """No postMessage storage and no cookie in the frame: the frame's launch is verified, and the new window
    completes it (it does not repeat the platform's login: tests/browser/test_browser_moodle_embed.py)."""
    shots = Shots.for_test("new-window", axe_script)
    iris = Person(browser, live_server, "demo-instructor-iris", shots)
    try:
        iris.open_course()
        iris.page.get_by_role("link", name="Open in the page without postMessage storage").click()
        iris.heading("Continue to the activity")
        iris.step("frame-offers-new-window")
        assert not [r for r in iris.tool_requests() if "lti_storage_target" in r.url]

        with iris.context.expect_page() as opened:
            iris.tool.get_by_role("button", name="Continue in a new window").click()
        window = opened.value
        expect(window.get_by_role("heading", level=1)).to_have_text("Continue as Iris Novak?")
        # Who is signing in, in words: the role as a person says it, not the standard's name for it.
        expect(window.locator("dl.facts")).to_contain_text("Role")
        expect(window.locator("dl.facts dd").last).to_have_text("Instructor")
        window.screenshot(path=str(shots.path("new-window-confirm")), full_page=True)
        iris.check_axe("new-window-confirm", window)
        window.set_viewport_size({"width": 390, "height": 844})  # as on a phone
        window.screenshot(path=str(shots.path("new-window-confirm-phone")), full_page=True)
        window.get_by_role("button", name="Continue").click()
        expect(window.get_by_text("Signed in as")).to_contain_text("Iris Novak")
        expect(window.get_by_role("heading", level=1)).to_contain_text("learners and portfolios")
        assert window.url.startswith(live_server.tool_url) and "_s=" not in window.url
        window.screenshot(path=str(shots.path("new-window-roster")), full_page=True)
        iris.check_axe("new-window-roster", window)
        logins = [r for r in iris.tool_requests() if "/lti/login" in r.url]
        assert len(logins) == 1, "the platform's login was not repeated"

        # First-party now: the browser keeps the cookie and the session needs no token in the address.
        assert [c for c in iris.context.cookies(live_server.tool_url) if c["name"] == COOKIE_NAME]
        with window.expect_request(lambda r: r.url == f"{live_server.tool_url}/start") as again:
            window.goto(f"{live_server.tool_url}/start")
        assert COOKIE_NAME in _cookie_header(again.value)
        expect(window.get_by_text("Signed in as")).to_contain_text("Iris Novak")
    finally:
        shots.save_findings()
        iris.close()

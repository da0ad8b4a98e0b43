"""The tool in the demo LMS's Moodle mode, in a Chromium that blocks third-party cookies: the activity in
Moodle's embedded launch container (an iframe that auto-POSTs the login), a login hint that works once, and
deep linking in the "Select content" dialog whose return page calls parent.processContentItemReturnData.

With partitioned cookies (the tool as shipped) everything happens inside the frame. Without them (forced off)
the frame verifies the launch and offers "Continue in a new window" (and "Continue in this page" where the
browser offers the Storage Access API and grants it); the new window shows who is
signing in and completes that launch without repeating Moodle's login; deep linking's response goes back
through the dialog's frame, and the activity is created.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, Request, expect

from tests.browser.pages import COOKIE_NAME, PHONE, LiveServer, Shots, axe_violations

DESKTOP = {"width": 1280, "height": 800}
PLACEMENT = "demo-link-cmiacr"
CONTENT_FRAME = "#contentframe"
DIALOG_FRAME = "#contentitem-page-iframe"


class MoodleUser:
    """Someone in the Moodle-mode course, in their own browser context."""

    def __init__(self, browser: Browser, server: LiveServer, sub: str, shots: Shots, *, phone: bool = False):
        self.server, self.sub, self.shots = server, sub, shots
        self.context: BrowserContext = browser.new_context(
            viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone
        )
        self.context.set_default_timeout(20_000)
        self.page: Page = self.context.new_page()
        self.requests: list[Request] = []
        self.context.on("request", lambda request: self.requests.append(request))

    def open_activity(self) -> FrameLocator:
        self.page.goto(f"{self.server.demo_url}/demo/moodle/view/{self.sub}/{PLACEMENT}")
        return self.page.frame_locator(CONTENT_FRAME)

    def shot(self, name: str, page: Page | None = None) -> None:
        (page or self.page).screenshot(path=str(self.shots.path(name)), full_page=True)

    def check_axe(self, label: str, page: Page) -> None:
        frames = [f for f in page.frames if f.url.startswith(self.server.tool_url)] or [page.main_frame]
        for frame in frames:
            violations = axe_violations(frame, self.shots.axe)
            self.shots.findings.append({"page": f"{label} ({frame.url.split('?')[0]})", "violations": violations})
            serious = [v for v in violations if v["impact"] in ("serious", "critical")]
            assert not serious, f"axe found serious problems on {label}: {serious}"

    def auth_requests(self) -> list[Request]:
        return [r for r in self.requests if r.url.startswith(self.server.demo_url + "/demo/auth")]

    def tool_cookies(self) -> list[dict]:
        return [c for c in self.context.cookies() if c["name"] == COOKIE_NAME]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest, axe_script: Path) -> Iterator[Shots]:
    found = Shots.for_test("moodle-" + request.node.name.replace("test_", "").replace("[", "-").strip("]"), axe_script)
    yield found
    found.save_findings()


def _no_token_in(url: str) -> None:
    assert "_s=" not in url, f"a session id in the address: {url}"


# --- partitioned cookies: everything inside Moodle's frame ----------------------------------------------


def test_learner_and_instructor_inside_the_frame_with_partitioned_cookies(
    browser: Browser, live_server_chips: LiveServer, shots: Shots
) -> None:
    ben = MoodleUser(browser, live_server_chips, "demo-learner-ben", shots)
    try:
        tool = ben.open_activity()
        expect(tool.get_by_role("heading", level=1)).to_contain_text("Your portfolio for")
        expect(tool.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        ben.shot("learner-in-frame")
        ben.check_axe("learner-in-frame", ben.page)
        assert len(ben.context.pages) == 1, "no new window was needed"
        cookies = ben.tool_cookies()
        assert cookies, "Chromium kept the partitioned session cookie in the frame"
        assert all(c.get("partitionKey", "").startswith("http://127.0.0.1") for c in cookies if "partitionKey" in c)
        frame = ben.page.frame(url=re.compile(re.escape(live_server_chips.tool_url)))
        assert frame is not None
        _no_token_in(frame.url)
        # A form inside the frame: the session goes on by the cookie, not by a token in the address.
        tool.get_by_label("Portfolio-only route").check()
        tool.get_by_role("button", name="Start my portfolio").click()
        expect(tool.get_by_text("Your portfolio is ready")).to_be_visible()
        _no_token_in(frame.url)
        assert not [r.url for r in ben.requests if "_s=" in r.url]
        assert len(ben.auth_requests()) == 1
    finally:
        ben.close()

    iris = MoodleUser(browser, live_server_chips, "demo-instructor-iris", shots, phone=True)
    try:
        tool = iris.open_activity()
        expect(tool.get_by_role("heading", level=1)).to_contain_text("learners and portfolios")
        expect(tool.get_by_text("Signed in as")).to_contain_text("Iris Novak")
        iris.shot("instructor-in-frame-phone")
        assert len(iris.context.pages) == 1
    finally:
        iris.close()


def _deep_link(user: MoodleUser, choose_in: FrameLocator) -> None:
    choose_in.get_by_role("heading", level=1).filter(has_text="Add an accreditation activity").wait_for()
    choose_in.get_by_role("checkbox").first.check()
    choose_in.get_by_role("button", name="Add to the course").click()


def _added_activity_shows_in_the_course(user: MoodleUser) -> None:
    page = user.page
    dialog = page.locator("#contentitem-dialog")
    expect(dialog).to_be_hidden()  # Moodle's processContentItemReturnData closed the dialog
    name = page.get_by_label("Activity name")
    expect(name).not_to_have_value("")
    title = name.input_value()
    user.shot("form-filled")
    page.get_by_role("button", name="Save and return to course").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Central Monitoring"))
    expect(page.get_by_role("link", name=title).last).to_be_visible()


def test_deep_linking_inside_the_dialog_with_partitioned_cookies(
    browser: Browser, live_server_chips: LiveServer, shots: Shots
) -> None:
    iris = MoodleUser(browser, live_server_chips, "demo-instructor-iris", shots)
    try:
        iris.page.goto(f"{live_server_chips.demo_url}/demo/moodle/add/{iris.sub}")
        iris.page.get_by_role("button", name="Select content").click()
        dialog_tool = iris.page.frame_locator(DIALOG_FRAME)
        _deep_link(iris, dialog_tool)
        _added_activity_shows_in_the_course(iris)
        assert len(iris.context.pages) == 1
    finally:
        iris.close()


# --- no partitioned cookies: the verified-launch handoff to a new window ---------------------------------


def _continue_in_new_window(user: MoodleUser, frame: FrameLocator, who: str) -> Page:
    expect(frame.get_by_role("heading", level=1)).to_have_text(
        re.compile("^Continue to (the activity|add activities)$")
    )
    expect(frame.locator(".error")).to_have_count(0)  # calm: not the red error page
    user.shot("frame-offers-new-window")
    user.check_axe("frame-offers-new-window", user.page)
    with user.context.expect_page() as opened:
        frame.get_by_role("button", name="Continue in a new window").click()
    window = opened.value
    expect(window.get_by_role("heading", level=1)).to_have_text(f"Continue as {who}?")
    expect(window.get_by_text("Central Monitoring in Practice")).to_be_visible()
    window.screenshot(path=str(user.shots.path("new-window-confirm")), full_page=True)
    user.check_axe("new-window-confirm", window)
    window.get_by_role("button", name="Continue").click()
    return window


def test_learner_through_a_new_window_without_partitioned_cookies(
    browser: Browser, live_server_moodle: LiveServer, shots: Shots
) -> None:
    ben = MoodleUser(browser, live_server_moodle, "demo-learner-ben", shots)
    try:
        frame = ben.open_activity()
        window = _continue_in_new_window(ben, frame, "Ben Carter")
        expect(window.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        expect(window.get_by_role("heading", level=1)).to_contain_text("Qualified Clinical Research Central Monitor")
        _no_token_in(window.url)
        window.screenshot(path=str(shots.path("new-window-portfolio")), full_page=True)
        expect(frame.get_by_role("status")).to_have_text(re.compile("open in another window"))
        ben.shot("frame-after-handoff")
        # Moodle's login hint was used once: the new window did not repeat the login.
        assert len(ben.auth_requests()) == 1
        assert not [p for p in ben.context.pages if "Invalid request" in p.content()]
        # The window's session works on, by its first-party cookie.
        window.goto(f"{live_server_moodle.tool_url}/start")
        expect(window.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        _no_token_in(window.url)
    finally:
        ben.close()


def test_instructor_on_a_phone_through_a_new_window_without_partitioned_cookies(
    browser: Browser, live_server_moodle: LiveServer, shots: Shots
) -> None:
    iris = MoodleUser(browser, live_server_moodle, "demo-instructor-iris", shots, phone=True)
    try:
        frame = iris.open_activity()
        window = _continue_in_new_window(iris, frame, "Iris Novak")
        expect(window.get_by_role("heading", level=1)).to_contain_text("learners and portfolios")
        _no_token_in(window.url)
        assert len(iris.auth_requests()) == 1
    finally:
        iris.close()


def test_deep_linking_through_a_new_window_without_partitioned_cookies(
    browser: Browser, live_server_moodle: LiveServer, shots: Shots
) -> None:
    iris = MoodleUser(browser, live_server_moodle, "demo-instructor-iris", shots)
    try:
        iris.page.goto(f"{live_server_moodle.demo_url}/demo/moodle/add/{iris.sub}")
        iris.page.get_by_role("button", name="Select content").click()
        dialog_tool = iris.page.frame_locator(DIALOG_FRAME)
        expect(dialog_tool.get_by_text("This dialog finishes by itself").filter(visible=True)).to_have_count(1)
        window = _continue_in_new_window(iris, dialog_tool, "Iris Novak")
        expect(window.get_by_role("heading", level=1)).to_have_text("Add an accreditation activity to your course")
        window.get_by_role("checkbox").first.check()
        window.get_by_role("button", name="Add to the course").click()
        expect(window.get_by_role("heading", level=1)).to_have_text("Done: go back to your course")
        window.screenshot(path=str(shots.path("new-window-done")), full_page=True)
        # The dialog's frame posts the response inside the dialog; Moodle's return page fills the form.
        _added_activity_shows_in_the_course(iris)
        assert len(iris.auth_requests()) == 1
    finally:
        iris.close()


def test_a_reused_login_hint_gets_moodles_invalid_request(browser: Browser, live_server_moodle: LiveServer) -> None:
    """The demo's Moodle mode refuses a login hint used twice, as Moodle 4.5 does (mod/lti/auth.php)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_request(lambda r: r.url.startswith(live_server_moodle.demo_url + "/demo/auth")) as first:
            page.goto(f"{live_server_moodle.demo_url}/demo/moodle/view/demo-learner-ada/{PLACEMENT}")
        expect(page.frame_locator(CONTENT_FRAME).get_by_role("heading", level=1)).to_have_text(
            "Continue to the activity"
        )
        again = context.new_page()
        again.goto(first.value.url)
        expect(again.get_by_role("heading", level=1)).to_have_text("Invalid request")
    finally:
        context.close()


# --- the Storage Access API: staying in Moodle's page -----------------------------------------------------

# Chromium grants storage access only after a prompt, to a site the person has used as a top-level site
# before: a headless run can do neither, so each test decides the browser's answer (granted or refused).
STORAGE_ACCESS = "document.requestStorageAccess = () => Promise.{answer}();"


def test_learner_stays_in_the_frame_when_the_browser_grants_storage_access(
    browser: Browser, live_server_moodle: LiveServer, shots: Shots
) -> None:
    ben = MoodleUser(browser, live_server_moodle, "demo-learner-ben", shots)
    try:
        ben.context.add_init_script(STORAGE_ACCESS.format(answer="resolve"))
        frame = ben.open_activity()
        stay = frame.get_by_role("button", name="Continue in this page")
        expect(stay).to_be_visible()
        expect(frame.get_by_role("button", name="Continue in a new window")).to_be_visible()
        ben.shot("frame-offers-to-stay")
        ben.check_axe("frame-offers-to-stay", ben.page)
        stay.click()
        expect(frame.get_by_role("heading", level=1)).to_contain_text("Your portfolio for")
        expect(frame.get_by_text("Signed in as")).to_contain_text("Ben Carter")
        ben.shot("frame-after-storage-access")
        assert len(ben.context.pages) == 1, "no new window was needed"
        assert len(ben.auth_requests()) == 1, "Moodle's login hint was used once"
        # The frame works on (here by the token: this Chromium still keeps the unpartitioned cookie out).
        frame.get_by_label("Portfolio-only route").check()
        frame.get_by_role("button", name="Start my portfolio").click()
        expect(frame.get_by_text("Your portfolio is ready")).to_be_visible()
    finally:
        ben.close()


def test_a_refused_storage_access_leaves_the_new_window(
    browser: Browser, live_server_moodle: LiveServer, shots: Shots
) -> None:
    iris = MoodleUser(browser, live_server_moodle, "demo-instructor-iris", shots, phone=True)
    try:
        iris.context.add_init_script(STORAGE_ACCESS.format(answer="reject"))
        frame = iris.open_activity()
        frame.get_by_role("button", name="Continue in this page").click()
        expect(frame.get_by_role("status")).to_have_text(re.compile("did not allow it here"))
        expect(frame.get_by_role("button", name="Continue in this page")).to_be_hidden()
        expect(frame.get_by_role("button", name="Continue in a new window")).to_be_focused()
        iris.shot("frame-storage-access-refused-phone")
        window = _continue_in_new_window(iris, frame, "Iris Novak")
        expect(window.get_by_role("heading", level=1)).to_contain_text("learners and portfolios")
        assert len(iris.auth_requests()) == 1
    finally:
        iris.close()

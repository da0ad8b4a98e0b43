"""A failing browser test leaves what shows why (failures.py): browser tests fail here on purpose, in a pytest of
their own (a subprocess on a test file written to a temporary folder, with tests/browser/conftest.py as its
plugin), and what they leave is checked, the opt-in trace too. Their artifacts go to that folder
(LTI_BROWSER_ARTIFACTS)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.pages import ROOT

# The inner tests: one passes (nothing is left), one fails in its call with a context closed in its `finally` (as
# the tests here do) and another left open, which the next finds closed; one fails in a fixture's setup after
# opening a page.
INNER_TESTS = """
import pytest
from playwright.sync_api import expect

from tests.browser.pages import TOOL_FRAME


def test_passes(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content("<h1>A passing test</h1>")
        expect(page.get_by_role("heading", level=1)).to_have_text("A passing test")
    finally:
        context.close()


def test_fails_in_the_frame(browser, live_server):
    left_open = browser.new_context()
    left_open.new_page().set_content("<h1>Left open by the test</h1>")
    context = browser.new_context()
    second = context.new_page()
    second.set_content("<h1>A second page, closed first</h1>")
    try:
        page = context.new_page()
        page.goto(live_server.demo_url + "/demo/course/demo-learner-ada")
        page.get_by_role("link", name="Open in the page", exact=True).click()
        tool = page.frame_locator(TOOL_FRAME)
        expect(tool.get_by_text("Signed in as")).to_be_visible()
        page.evaluate("console.warn('marker-console-warning')")
        page.evaluate("setTimeout(() => { throw new Error('marker-page-error'); }, 0)")
        page.wait_for_timeout(100)
        expect(tool.get_by_role("heading", level=1)).to_have_text("A heading the page does not have", timeout=300)
    finally:
        second.close()
        context.close()


def test_after_a_failure_no_context_is_left_open(browser):
    assert browser.contexts == [], "the failed test's context left open was closed once captured"


@pytest.fixture
def broken_setup(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<h1>Opened by a fixture that then fails</h1>")
    try:
        raise RuntimeError("marker-setup-error")
    finally:
        context.close()


def test_fails_in_setup(broken_setup):
    pass
"""


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_a_failing_browser_test_leaves_what_shows_why(browser: Browser, tmp_path: Path) -> None:
    # `browser` only so that this skips (or fails under CI=true) as the others do without Chromium.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    artifacts = tmp_path / "artifacts"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LTI_BROWSER_"))}
    env.update({"LTI_BROWSER_ARTIFACTS": str(artifacts), "LTI_BROWSER_TRACE": "1", "CI": "true"})
    command = [sys.executable, "-m", "pytest", "-p", "tests.browser.conftest", "-p", "no:cacheprovider"]
    command += ["-p", "no:xdist", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    run = subprocess.run(
        [*command, "-q", "-rA", str(tmp_path / "test_inner.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert "1 failed, 2 passed, 1 error" in output, output

    failures = artifacts / "failures"
    assert sorted(p.name for p in failures.iterdir()) == [
        "test_inner.py-test_fails_in_setup",
        "test_inner.py-test_fails_in_the_frame",
    ], "a passing test leaves nothing"
    call = failures / "test_inner.py-test_fails_in_the_frame"
    setup = failures / "test_inner.py-test_fails_in_setup"
    # The report names the folder, for a CI log to point to it.
    assert "browser failure artifacts" in output and str(call) in output and str(setup) in output, output

    # Two contexts: the one the test closed in its `finally` as the failure went by, the one it left open.
    summary = (call / "failure.txt").read_text()
    assert "context-1 (closed by the test after it failed)" in summary, summary
    assert "page-1: about:blank (closed by the test after it failed)" in summary, summary
    assert "context-2 (open at the end of the test)" in summary, summary
    assert "A heading the page does not have" in summary, "the error is there"
    lms, left = call / "context-1", call / "context-2"

    # The LMS page: a full-page screenshot, its HTML and its tool frame's, the URLs of both.
    width, height = _png_size(lms / "page-2.png")
    assert width == 1280 and height >= 720
    assert "Accreditation tool" in (lms / "page-2.html").read_text()
    assert "Signed in as" in (lms / "page-2.frame-1-tool-frame.html").read_text()
    urls = (lms / "urls.txt").read_text()
    assert "page-2: http://127.0.0.1:" in urls and "/demo/course/demo-learner-ada" in urls, urls
    assert "frame 1 (name 'tool-frame', page-2.frame-1-tool-frame.html): http://localhost:" in urls, urls
    # The page the test closed before its context, as it closed it.
    assert "A second page, closed first" in (lms / "page-1.html").read_text()
    assert _png_size(lms / "page-1.png")[0] == 1280
    console = (lms / "console.txt").read_text()
    assert "page-2 [console.warning] marker-console-warning" in console, console
    assert "page-2 [page error] Error: marker-page-error" in console, console
    assert "page-2 [navigated] frame tool-frame: http://localhost:" in console, console
    with zipfile.ZipFile(lms / "trace.zip") as trace:
        names = trace.namelist()
        assert any(n.endswith(".trace") for n in names) and any(n.endswith(".network") for n in names), names
        events = "".join(trace.read(n).decode(errors="replace") for n in names if n.endswith(".trace"))
    assert "screencast-frame" in events and "frame-snapshot" in events, "screenshots and DOM snapshots"
    assert "demo-learner-ada" in events and '"method":"expect"' in events
    # It ends with the failure: saved before the pages were captured, all but the one closed first (as it closed).
    assert events.count('"method":"screenshot"') == 1, "the trace ends with the failure"

    assert "Left open by the test" in (left / "page-1.html").read_text()
    assert _png_size(left / "page-1.png")[0] == 1280
    assert (left / "trace.zip").stat().st_size > 1000

    # The end of the live server's log, with the launch in it.
    server_log = (call / "server-browser-server.log").read_text()
    assert "GET /demo/course/demo-learner-ada" in server_log and "/lti/launch" in server_log

    # A failure in a fixture's setup: the context it closed, and the error.
    summary = (setup / "failure.txt").read_text()
    assert "(setup)" in summary and "marker-setup-error" in summary, summary
    assert "Opened by a fixture that then fails" in (setup / "context-1" / "page-1.html").read_text()
    assert (setup / "context-1" / "trace.zip").is_file()

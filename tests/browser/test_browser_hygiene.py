"""The session token stays out of logs and Referer headers; the accessibility check is not a blind one."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.pages import LiveServer, Person, Shots, axe_violations


def test_session_token_stays_out_of_logs_and_referers(
    browser: Browser, live_server: LiveServer, axe_script: Path
) -> None:
    shots = Shots.for_test("token-hygiene", axe_script)
    alex = Person(browser, live_server, "demo-admin-alex", shots)
    try:
        alex.launch()
        alex.heading("Your work")
        alex.tool.get_by_role("link", name="Appeals to decide", exact=True).click()  # a link
        alex.heading(re.compile("Appeals to decide"))
        alex.tool.get_by_role("link", name="Your work").click()
        alex.heading("Your work")  # the appeals page has a Filter button too: wait for the new page
        alex.tool.get_by_role("button", name="Filter").click()  # a form
        # The filtered page has the same heading: wait for its address (the form's fields in it), or the next
        # click lands on the page before and cancels the form's navigation, whose request then has no response.
        alex.frame.wait_for_url(re.compile(r"[?&]q="))
        alex.heading("Your work")
        alex.tool.get_by_role("link", name="Administration").click()
        alex.heading("Tool administration")
        alex.step("admin-pages")

        tokens = alex.tokens_seen()
        assert tokens, "the iframe session carried its token in the tool's links"
        tool_pages = [r for r in alex.tool_requests() if r.resource_type == "document"]
        assert len(tool_pages) >= 6

        # No Referer names the tool: its addresses (with the token) never reach another page or site.
        leaked = [
            (r.url, r.all_headers()["referer"])
            for r in alex.requests
            if live_server.tool_url in r.all_headers().get("referer", "")
        ]
        assert leaked == [], f"Referer sent from the tool's pages: {leaked}"
        for request in tool_pages:
            response = request.response()
            assert response is not None and response.all_headers().get("referrer-policy") == "no-referrer"

        # The server's log has the access lines of those requests, with the token redacted.
        log = live_server.log_text()
        assert "_s=[redacted]" in log
        assert re.findall(r"_s=(?!\[redacted\])[^\s&\"]+", log) == []
        assert [t for t in tokens if t in log] == []
    finally:
        shots.save_findings()
        alex.close()


def test_axe_reports_what_it_should(browser: Browser, axe_script: Path) -> None:
    """The accessibility checks above could pass by checking nothing: axe must flag a bad page."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            "<html><head><title>Bad</title></head><body><main><h1>Form</h1>"
            '<input type="text" name="x"><img src="data:,"></main></body></html>'
        )
        found = {v["id"]: v["impact"] for v in axe_violations(page, axe_script)}
        assert found.get("label") == "critical" and found.get("image-alt") == "critical"
    finally:
        context.close()

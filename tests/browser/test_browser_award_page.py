"""The award page in Chromium, at desktop and phone width, with and without JavaScript: nothing wider than the
screen, no serious axe finding, the copy button copies (with JavaScript) or stays hidden behind the read-only
link field (without). The Flask test client answers the browser's requests (no server: the page alone)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect
from sqlalchemy import select

from lti_tool.credentials import issuer
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from tests.browser.pages import ARTIFACTS, BLOCKING_IMPACTS, DESKTOP, PHONE, axe_violations
from tests.credential_helpers import award_through_workflow
from tests.lti_helpers import demo_launch

NUMBER = "CMIACR-2025-000123"


@pytest.fixture
def answer(sqlite_app):
    client = sqlite_app.test_client()
    demo_launch(client, "demo-learner-ada")
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada"))
    award_through_workflow(user=user, number=NUMBER)

    def handle(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.hostname != "localhost":
            route.abort()
            return
        resp = client.get(url.path + (f"?{url.query}" if url.query else ""))
        route.fulfill(status=resp.status_code, headers=dict(resp.headers), body=resp.get_data())

    return handle


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_award_page_fits_is_accessible_and_copies(browser, axe_script: Path, answer, size):
    context = browser.new_context(viewport=size, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.route("**/*", answer)
        page.goto(f"http://localhost/awards/{NUMBER}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Qualified Clinical Research Central Monitor")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        blocking = [v for v in axe_violations(page, axe_script) if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, blocking
        expect(page.get_by_role("link", name="Add to LinkedIn profile")).to_be_visible()
        expect(page.locator(".wallet-handoff svg")).to_be_visible()
        share = page.get_by_role("region", name="Share it")
        share.get_by_role("button", name="Copy link").click()
        expect(share.get_by_role("status")).to_have_text("Copied to the clipboard.")
        assert page.evaluate("() => navigator.clipboard.readText()") == issuer.verify_url(NUMBER)
        wallet = page.get_by_role("region", name="Keep it in a digital wallet")
        wallet.get_by_role("button", name="Copy wallet link").click()
        expect(wallet.get_by_role("status")).to_have_text("Copied to the clipboard.")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == wallet.get_by_label("Wallet link (works for 60 minutes)").input_value()
        assert copied.startswith(issuer.base_url() + "/credentials/wallet/")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"award-page-{size['width']}.png"), full_page=True)
    finally:
        context.close()


def test_award_page_without_javascript_offers_the_link_to_select(browser, answer):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.route("**/*", answer)
        page.goto(f"http://localhost/awards/{NUMBER}")
        field = page.get_by_label("Verification link")
        expect(field).to_have_value(issuer.verify_url(NUMBER))
        expect(field).to_have_attribute("readonly", "")
        expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
        expect(page.get_by_role("link", name="Download for a wallet (.json)")).to_be_visible()
    finally:
        context.close()

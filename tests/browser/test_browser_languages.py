"""The right-to-left pseudo-locale (ar-XB, launch/language.py) in a real browser, on a desktop (1280x800) and a
phone (390x844): the learner's portfolio, the assessor's queue, the administration console (each in the demo
LMS's iframe, switched with the language switch at the foot of the page, which keeps the choice with the
session, without cookies) and the public verification page (by the browser's Accept-Language). Each page must
run right to left, show the pseudo-locale's words, and hold nothing wider than its frame or window.
Screenshots: test-artifacts/browser/languages-<size>/.

A server of its own (fresh database): each size's learner starts a portfolio of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from tests.browser.conftest import _serve
from tests.browser.pages import PHONE, LiveServer, Person, Shots

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
LEARNER = {"desktop": "demo-learner-ada", "phone": "demo-learner-ben"}
SAM, ALEX = "demo-assessor-sam", "demo-admin-alex"
PSEUDO = "ar@pseudo"
RLO = "\u202e"  # what the pseudo-locale's words start with
# A small real PDF: evidence files are checked by their content.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(tmp_path_factory, "browser-server-languages", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}) as server:
        yield server


def _person(browser: Browser, server: LiveServer, sub: str, shots: Shots, size: str) -> Person:
    person = Person(browser, server, sub, shots, phone=size == "phone")
    person.page.set_viewport_size(SIZES[size])
    return person


def _switch_to_pseudo(person: Person) -> None:
    """The language switch at the foot of the tool's page: back on the same page, right to left."""
    switch = person.tool.locator("form.language-switch")
    switch.locator("select[name=language]").select_option(PSEUDO)
    switch.locator("button[type=submit]").click()
    expect(person.tool.locator("html")).to_have_attribute("dir", "rtl")
    expect(person.tool.locator("html")).to_have_attribute("lang", "ar-XB")
    person.frame.wait_for_load_state("load")


def _check(target: Page | Frame, where: str) -> None:
    """Right to left, in the pseudo-locale's words, nothing sideways."""
    assert target.evaluate("() => document.documentElement.dir") == "rtl", where
    # The page's own words, not only the layout's (the language switch at its foot is in main too).
    words = target.evaluate(
        """() => { const main = document.querySelector('main').cloneNode(true);
                   main.querySelectorAll('.language-switch').forEach(e => e.remove());
                   return main.innerText; }"""
    )
    assert RLO in words, f"{where}: no words of the pseudo-locale"
    wide, shown = target.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert wide <= shown, f"{where} is {wide} px wide in a {shown} px window"
    # No single element pokes out sideways either (hidden by an overflow somewhere up the tree); the skip link
    # waits off screen until focused, and tables scroll inside their own region.
    poking = target.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && (r.right > window.innerWidth + 1 || r.left < -1) && !e.closest('.table-wrap')
                && !e.matches('.skip:not(:focus), .visually-hidden, .visually-hidden *');
        }).slice(0, 5).map(e => e.tagName + '.' + e.className)"""
    )
    assert poking == [], f"{where}: elements outside the window: {poking}"


def _whole_page(person: Person, name: str) -> None:
    """The tool's page on its own, whole (the LMS frame shows only part of it), as wide as the frame: for
    looking at the layout, and checked again there."""
    page = person.context.new_page()
    try:
        width = person.frame.evaluate("() => document.documentElement.clientWidth")
        page.set_viewport_size({"width": width, "height": person.page.viewport_size["height"]})
        page.goto(person.frame.url)
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        _check(page, f"{name} (whole page)")
        page.screenshot(path=str(person.shots.path(name + "-whole")), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_pages_right_to_left_in_the_pseudo_locale(
    browser: Browser, own_server: LiveServer, axe_script: Path, size: str
) -> None:
    shots = Shots.for_test(f"languages-{size}", axe_script)

    learner = _person(browser, own_server, LEARNER[size], shots, size)
    try:
        learner.launch()
        learner.tool.get_by_label("Training route").check()
        learner.tool.get_by_role("button", name="Start my portfolio").click()
        expect(learner.tool.get_by_text("Your portfolio is ready")).to_be_visible()
        # Some evidence and a submission, so the portfolio and the assessor's queue have rows to lay out.
        learner.tool.get_by_role("link", name="Add evidence").first.click()
        learner.heading("Add evidence")
        learner.tool.get_by_label("Kind of evidence").select_option(label="Work product")
        learner.tool.get_by_label("Title").fill("Risk dashboard, study CM-104, with a long title that has to wrap")
        learner.tool.get_by_label("Description").fill("The key risk indicator dashboard I set up for CM-104.")
        learner.tool.get_by_label("Choose one or more files").set_input_files(
            files=[{"name": "dashboard.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        learner.tool.locator("details[data-unit] > summary").first.click()
        learner.tool.locator('input[name="criteria"]').first.check()
        learner.tool.get_by_role("button", name="Add evidence").click()
        expect(learner.tool.get_by_text("Evidence added.")).to_be_visible(timeout=30_000)
        learner.tool.get_by_role("link", name="Submit for assessment").click()
        learner.tool.get_by_role("button", name=re.compile("^Submit")).click()
        expect(learner.tool.get_by_text("Submitted. Your assessor has been told")).to_be_visible()
        _switch_to_pseudo(learner)
        _check(learner.frame, f"learner portfolio ({size})")
        learner.step("learner-portfolio")
        _whole_page(learner, "learner-portfolio")
    finally:
        learner.close()

    sam = _person(browser, own_server, SAM, shots, size)
    try:
        sam.launch()
        sam.tool.get_by_role("link", name="Awaiting assessment").click()
        sam.heading(re.compile("^Awaiting assessment"))
        _switch_to_pseudo(sam)
        _check(sam.frame, f"staff queue ({size})")
        sam.step("staff-queue")
        _whole_page(sam, "staff-queue")
    finally:
        sam.close()

    alex = _person(browser, own_server, ALEX, shots, size)
    try:
        alex.launch()
        alex.tool.get_by_role("link", name="Administration").click()
        alex.heading("Tool administration")
        _switch_to_pseudo(alex)
        _check(alex.frame, f"admin console ({size})")
        alex.step("admin-console")
        _whole_page(alex, "admin-console")
    finally:
        alex.close()

    # The public verification page has no session: the browser's language chooses.
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "phone", has_touch=size == "phone", locale="ar-XB"
    )
    try:
        page = context.new_page()
        page.goto(own_server.tool_url + "/verify")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        _check(page, f"verification page ({size})")
        page.screenshot(path=str(shots.path("verify")), full_page=True)
    finally:
        context.close()
        shots.save_findings()

"""The learner's experience in a real browser, in the demo LMS's iframe with third-party cookies blocked, on a
desktop (1280 px) and a phone (390 px): progress per unit, the collapsible and searchable criteria picker, a
refused upload that takes the focus to the error summary, axe on every page, and no learner or public page
wider than the phone's screen.

A server of its own (fresh database): the demo learners start their portfolios here whatever other browser
tests did with theirs. Screenshots: test-artifacts/browser/learner-<size>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, expect

from tests.browser.conftest import _serve
from tests.browser.pages import LiveServer, Person, Shots

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"
LEARNER = {"desktop": "demo-learner-ada", "phone": "demo-learner-ben"}


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(tmp_path_factory, "browser-server-learner", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}) as server:
        yield server


def _fits(frame: Frame, width: int) -> None:
    """Nothing sideways: the page is no wider than the frame showing it."""
    wide = frame.evaluate("() => document.documentElement.scrollWidth")
    shown = frame.evaluate("() => document.documentElement.clientWidth")
    assert wide <= max(width, shown), f"{frame.url} is {wide} px wide in a {shown} px frame"


def _whole_page(person: Person, name: str) -> None:
    """The tool's page on its own, whole (the LMS frame shows only part of it): for looking at the layout."""
    page = person.context.new_page()
    try:
        page.goto(person.frame.url)
        page.screenshot(path=str(person.shots.path(name + "-whole")), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_learner_dashboard_mapping_and_refused_upload(
    browser: Browser, own_server: LiveServer, axe_script: Path, tmp_path: Path, size: str
) -> None:
    shots = Shots.for_test(f"learner-{size}", axe_script)
    phone = size == "phone"
    person = Person(browser, own_server, LEARNER[size], shots, phone=phone)
    tool = person.tool
    try:
        person.launch()
        person.heading(re.compile("Your portfolio for"))
        tool.get_by_label("Training route").check()
        tool.get_by_role("button", name="Start my portfolio").click()
        person.heading("Qualified Clinical Research Central Monitor")
        expect(tool.locator(".next-step")).to_contain_text("Add your first piece of evidence")
        expect(tool.get_by_role("navigation", name="Your pages")).to_be_visible()
        person.step("portfolio-empty")
        _whole_page(person, "portfolio-empty")

        # An empty portfolio: the submit page says so and offers no button to submit.
        tool.get_by_role("link", name="Submit for assessment").click()
        person.heading("Submit for assessment")
        expect(tool.get_by_role("heading", name="Your portfolio has no evidence yet")).to_be_visible()
        expect(tool.get_by_role("button", name=re.compile("Submit"))).to_have_count(0)
        person.step("submit-empty")
        _whole_page(person, "submit-empty")
        tool.get_by_role("link", name="Back to my portfolio").click()
        person.heading("Qualified Clinical Research Central Monitor")

        # The evidence form: units collapsed, a search box, "every criterion of this outcome".
        tool.get_by_role("link", name="Add evidence").click()
        person.heading("Add evidence")
        criteria = tool.locator('input[name="criteria"]')
        assert criteria.count() >= 30
        expect(criteria.first).to_be_hidden()  # inside a closed unit
        search = tool.get_by_label("Find a criterion")
        search.fill("escalat")
        expect(tool.locator("#criteria-filter-status")).to_contain_text(re.compile(r"criteri(on|a) match"))
        visible = tool.locator("li[data-criterion]:visible")
        assert 0 < visible.count() < criteria.count()
        visible.first.locator("input").check()
        chosen = visible.first.locator("input").get_attribute("value")
        search.fill("")
        expect(tool.locator("li[data-criterion]:visible")).to_have_count(0)  # units closed again as they were
        first_unit = tool.locator("details[data-unit]").first
        first_unit.locator("summary").click()
        every = first_unit.get_by_label(re.compile("Every criterion of outcome")).first
        every.check()
        outcome_boxes = first_unit.locator("fieldset[data-outcome]").first.locator('input[name="criteria"]')
        for i in range(outcome_boxes.count()):
            expect(outcome_boxes.nth(i)).to_be_checked()
        expect(first_unit.locator("[data-chosen-count]")).to_contain_text(f"({outcome_boxes.count()} of")
        person.step("evidence-form-picker", scroll_to=first_unit)
        _whole_page(person, "evidence-form")

        # A refused file among good ones: the error summary takes the focus, names it, keeps the rest.
        tool.get_by_label("Kind of evidence").select_option(label="Work product")
        tool.get_by_label("Title").fill("Escalation log, study CM-104")
        tool.get_by_label("Description").fill("The escalations I raised for three sites.")
        (tmp_path / "log.pdf").write_bytes(PDF)
        (tmp_path / "tool.pdf").write_bytes(EXE)
        tool.get_by_label("Choose one or more files").set_input_files([tmp_path / "log.pdf", tmp_path / "tool.pdf"])
        tool.get_by_role("button", name="Add evidence").click()
        summary = tool.locator("[data-error-summary]")
        expect(summary).to_be_focused()
        expect(summary).to_contain_text("“tool.pdf”")
        expect(summary).to_contain_text("“log.pdf” passed the checks")
        expect(tool.get_by_label("Title")).to_have_value("Escalation log, study CM-104")
        expect(tool.locator(f'input[name="criteria"][value="{chosen}"]')).to_be_checked()
        person.step("evidence-refused")
        _whole_page(person, "evidence-refused")

        # Choose the good file again: saved; the dashboard shows progress per unit and the chips.
        tool.get_by_label("Choose one or more files").set_input_files(tmp_path / "log.pdf")
        tool.get_by_role("button", name="Add evidence").click()
        expect(tool.get_by_text("Evidence added.")).to_be_visible()
        person.heading("Qualified Clinical Research Central Monitor")  # and the whole page is in: count its units
        units = tool.locator("li.unit-row")
        assert units.count() >= 2
        expect(units.first).to_contain_text("%")
        expect(units.first).to_contain_text("with evidence")
        expect(tool.locator(".chip").first).to_be_visible()
        expect(tool.get_by_text("No evidence yet: 0")).to_have_count(0)
        person.step("portfolio-progress")
        _whole_page(person, "portfolio-progress")
        tool.locator(".chip").first.click()
        expect(tool.locator(".crit details[open]").first).to_be_visible()  # the chip opened its criterion
        person.step("criteria-map", scroll_to=tool.locator(".crit details[open]").first)

        # The submit page lists what is missing by unit and asks to confirm.
        tool.get_by_role("link", name="Submit for assessment").click()
        expect(tool.get_by_role("heading", name=re.compile("^Still missing"))).to_be_visible()
        expect(tool.get_by_role("button", name="Submit anyway")).to_be_visible()
        person.step("submit-missing")
        _whole_page(person, "submit-missing")

        # No learner or public page is wider than the screen (390 px on the phone).
        width = 390 if phone else 1280
        for name in ("My portfolios", "My certificates"):
            tool.get_by_role("link", name=name, exact=True).click()
            person.heading(name)
            _fits(person.frame, width)
            person.step(name.lower().replace(" ", "-"))
            _whole_page(person, name.lower().replace(" ", "-"))
        tool.get_by_role("link", name="My portfolios", exact=True).click()
        person.heading("My portfolios")
        tool.get_by_role("link", name="Qualified Clinical Research Central Monitor").click()
        person.heading("Qualified Clinical Research Central Monitor")
        _fits(person.frame, width)
        if phone:
            assert person.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        public = person.context.new_page()
        for url in ("/verify", "/verify/CMIACR-2099-000001"):
            public.goto(own_server.tool_url + url)
            expect(public.get_by_role("heading", level=1)).to_be_visible()
            assert public.evaluate("() => document.documentElement.scrollWidth") <= width
            public.screenshot(path=str(shots.path("public" + url.replace("/", "-"))), full_page=True)
            person.check_axe(f"public {url}", public)
        public.close()
    finally:
        shots.save_findings()
        person.close()

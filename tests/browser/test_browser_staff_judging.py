"""The assessor's judging page in a real browser, in the demo LMS's iframe, on a desktop (1280x800) and a phone
(390x844): the 38 criteria of the shipped CMIACR certification grouped by unit and outcome with every unit
folded but the one in hand (the page fits in three screen heights on the desktop), "All met" per outcome and
the judged counter, an image shown inside the tool beside the criteria, and the confirmation step with its
declaration before the decision. axe on every page. Screenshots: test-artifacts/browser/judging-<size>/.

A server of its own (fresh database): each size's learner submits a portfolio, Sam judges it.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import _serve
from tests.browser.pages import LiveServer, Person, Shots

LEARNER = {"desktop": ("demo-learner-ada", "Ada Mensah"), "phone": ("demo-learner-ben", "Ben Carter")}
SAM, VERA, ELI, ALEX = "demo-assessor-sam", "demo-verifier-vera", "demo-verifier-eli", "demo-admin-alex"
IRIS = "demo-instructor-iris"
DESKTOP_800 = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(tmp_path_factory, "browser-server-judging", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}) as server:
        yield server


def _png(path: Path, width: int = 240, height: int = 140) -> Path:
    """A small real PNG (a blue gradient): something to look at in the evidence viewer."""
    line = b"\x00" + bytes(c for x in range(width) for c in (20, x % 256, 200))
    rows = line * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    return path


def _submit_portfolio(browser: Browser, server: LiveServer, sub: str, shots: Shots, tmp_path: Path) -> int:
    """The learner starts a portfolio, adds one photo mapped to every criterion and submits; returns the count."""
    learner = Person(browser, server, sub, shots)
    try:
        learner.launch()
        learner.tool.get_by_label("Training route").check()
        learner.tool.get_by_role("button", name="Start my portfolio").click()
        expect(learner.tool.get_by_text("Your portfolio is ready")).to_be_visible()
        learner.tool.get_by_role("link", name="Add evidence").click()
        learner.heading("Add evidence")
        learner.tool.get_by_label("Kind of evidence").select_option(label="Work product")
        learner.tool.get_by_label("Title").fill("Risk dashboard, study CM-104")
        learner.tool.get_by_label("Description").fill("The key risk indicator dashboard I set up for CM-104.")
        learner.tool.get_by_label("Choose one or more files").set_input_files(_png(tmp_path / "dashboard.png"))
        units = learner.tool.locator("details[data-unit] > summary")
        for i in range(units.count()):
            units.nth(i).click()
        criteria = learner.tool.locator('input[name="criteria"]')
        count = criteria.count()
        for i in range(count):
            criteria.nth(i).check()
        learner.tool.get_by_role("button", name="Add evidence").click()
        expect(learner.tool.get_by_text("Evidence added.")).to_be_visible(timeout=30_000)
        learner.tool.get_by_role("link", name="Submit for assessment").click()
        learner.tool.get_by_role("button", name="Submit for assessment").click()
        expect(learner.tool.get_by_text("Submitted. Your assessor has been told")).to_be_visible()
        return count
    finally:
        learner.close()


def _fits(person: Person) -> None:
    """Nothing sideways: the tool's page is no wider than the frame showing it."""
    wide = person.frame.evaluate("() => document.documentElement.scrollWidth")
    shown = person.frame.evaluate("() => document.documentElement.clientWidth")
    assert wide <= shown, f"{person.frame.url} is {wide} px wide in a {shown} px frame"


def _whole_page(person: Person, name: str) -> None:
    """The tool's page on its own, whole (the LMS frame shows only part of it): for looking at the layout."""
    page = person.context.new_page()
    try:
        # As wide as the LMS frame shows it.
        width = person.frame.evaluate("() => document.documentElement.clientWidth")
        page.set_viewport_size({"width": width, "height": person.page.viewport_size["height"]})
        page.goto(person.frame.url)
        page.screenshot(path=str(person.shots.path(name + "-whole")), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_judging_page(browser: Browser, own_server: LiveServer, axe_script: Path, tmp_path: Path, size: str) -> None:
    shots = Shots.for_test(f"judging-{size}", axe_script)
    sub, name = LEARNER[size]
    try:
        count = _submit_portfolio(browser, own_server, sub, shots, tmp_path)
        assert count == 38, "the shipped CMIACR catalogue with the Demo Academy's own criterion"
        phone = size == "phone"
        _judge(_person(browser, own_server, SAM, shots, phone), name, count, size)
        _verify(browser, own_server, shots, phone, name)
        _revoke(_person(browser, own_server, ALEX, shots, phone))
        _roster(_person(browser, own_server, IRIS, shots, phone), name)
    finally:
        shots.save_findings()


def _person(browser: Browser, server: LiveServer, sub: str, shots: Shots, phone: bool) -> Person:
    person = Person(browser, server, sub, shots, phone=phone)
    if not phone:
        person.page.set_viewport_size(DESKTOP_800)
    return person


def _judge(sam: Person, learner_name: str, count: int, size: str) -> None:
    viewport_height = sam.page.viewport_size["height"]
    tool = sam.tool
    try:
        sam.launch()
        tool.get_by_role("link", name="Awaiting assessment").click()
        sam.heading(re.compile(r"^Awaiting assessment"))
        # Sam claims the portfolio: the queue says so, and offers to release it.
        tool.get_by_role("button", name=f"Claim the portfolio of {learner_name}").click()
        expect(tool.get_by_role("status")).to_contain_text("Claimed")
        expect(tool.get_by_role("button", name=f"Release the portfolio of {learner_name}")).to_be_visible()
        open_link = tool.get_by_role("link", name=f"Open the portfolio of {learner_name}")
        # The action is within the frame's width, on a phone too (not in a column scrolled off to the side).
        right = open_link.evaluate("e => e.getBoundingClientRect().right")
        assert right <= sam.frame.evaluate("() => document.documentElement.clientWidth"), "Open is off-screen"
        sam.step("queue-claimed", scroll_to=open_link)
        _fits(sam)
        _whole_page(sam, "queue-claimed")
        tool.get_by_role("link", name=f"Open the portfolio of {learner_name}").click()
        sam.heading(re.compile("^Assess"))
        counter = tool.locator("[data-judged-count]")
        expect(counter).to_have_text(f"Judged 0 of {count}")
        units = tool.locator("details[data-unit]")
        expect(tool.locator("details[data-unit][open]")).to_have_count(1)
        assert units.count() >= 4
        # The script has run once the "All met" buttons show.
        expect(tool.get_by_role("button", name=re.compile("^All met in")).first).to_be_visible()
        sam.step("assess-folded")
        _fits(sam)
        _whole_page(sam, "assess-folded")
        height = sam.frame.evaluate("() => document.documentElement.scrollHeight")
        if size == "desktop":
            assert height <= 3 * viewport_height, f"the judging page is {height} px tall"

        # "All met" in the first outcome of the unit in hand: the counter follows.
        first_open = tool.locator("details[data-unit][open]")
        in_outcome = first_open.locator("[data-outcome]").first.locator("fieldset[data-criterion]").count()
        first_open.get_by_role("button", name=re.compile("^All met in")).first.click()
        expect(counter).to_have_text(f"Judged {in_outcome} of {count}")
        # The draft is saved in the background as the assessor goes.
        expect(tool.locator("[data-autosave-status]")).to_contain_text("Draft saved at")

        # Every unit opened and every outcome marked met.
        for i in range(units.count()):
            if units.nth(i).get_attribute("open") is None:
                units.nth(i).locator(":scope > summary").click()
        buttons = tool.get_by_role("button", name=re.compile("^All met in"))
        for i in range(buttons.count()):
            buttons.nth(i).click()
        expect(counter).to_have_text(f"Judged {count} of {count}")

        # The photo shown beside the criteria, inside the tool.
        view = tool.get_by_role("link", name="View dashboard.png beside the criteria")
        view.click()
        viewer = tool.frame_locator('iframe[name="evidence-viewer"]')
        expect(viewer.locator("img")).to_be_visible()
        sam.step("assess-evidence-viewer", scroll_to=tool.locator('iframe[name="evidence-viewer"]'))

        tool.get_by_label("Overall feedback to the learner").fill("Competent in every criterion.")
        tool.get_by_role("button", name="Decide: competent…").click()
        sam.heading(re.compile("^Confirm your decision"))
        expect(tool.get_by_text(f"{count} met, 0 not yet met.")).to_be_visible()
        sam.step("assess-confirm")
        tool.get_by_label(re.compile("^This judgement is my own")).check()
        tool.get_by_role("button", name="Confirm and record").click()
        sam.heading("Your work")
        expect(tool.get_by_role("status")).to_contain_text("Decision recorded: competent")
        sam.step("assess-done")
    finally:
        sam.close()


def _verify(browser: Browser, server: LiveServer, shots: Shots, phone: bool, learner_name: str) -> None:
    """Step 1 when the decision was sampled (a new assessor's always are), then step 2: each confirmed with
    the declaration."""
    steps = (
        (VERA, "verification_1", "Awaiting internal verification (step 1)", "Agree with the decision"),
        (ELI, "verification_2", "Awaiting independent verification (step 2)", "Confirm: the award is made"),
    )
    for sub, queue, title, outcome in steps:
        person = _person(browser, server, sub, shots, phone)
        tool = person.tool
        try:
            person.launch()
            person.heading("Your work")
            if int(tool.locator(f'[data-queue="{queue}"]').inner_text()) == 0:
                continue
            tool.get_by_role("link", name=title).click()
            tool.get_by_role("link", name=f"Open the portfolio of {learner_name}").click()
            person.heading(re.compile("^Verification step"))
            person.step(f"{queue}-page")
            _fits(person)
            tool.get_by_label(outcome).check()
            tool.get_by_role("button", name="Record the outcome…").click()
            person.heading(re.compile("^Confirm your outcome"))
            person.step(f"{queue}-confirm")
            tool.get_by_label(re.compile("^This judgement is my own")).check()
            tool.get_by_role("button", name="Confirm and record").click()
            person.heading("Your work")
            expect(tool.get_by_role("status")).to_contain_text("Verification step")
        finally:
            person.close()


def _revoke(alex: Person) -> None:
    """The tool administrator: the same menu on every admin page, and revocation asks for confirmation."""
    tool = alex.tool
    try:
        alex.launch()
        tool.get_by_role("link", name="Administration").click()
        menu = tool.get_by_role("navigation", name="Administration")
        for label in ("Staff roles", "Grade sync", "Certificates"):
            expect(menu.get_by_role("link", name=label)).to_be_visible()
        menu.get_by_role("link", name="Staff roles").click()
        alex.heading("Staff roles")
        expect(menu.get_by_role("link", name="Certificates")).to_be_visible()
        alex.step("admin-staff-roles")
        menu.get_by_role("link", name="Certificates").click()
        alex.heading("Certificates")
        expect(menu.get_by_role("link", name="Staff roles")).to_be_visible()
        alex.step("admin-certificates")
        tool.get_by_role("link", name=re.compile(r"^CMIACR-")).first.click()
        alex.heading(re.compile("^Certificate CMIACR-"))
        tool.get_by_label("Reason (shown publicly)").fill("Awarded by mistake during a browser test.")
        tool.get_by_role("button", name=re.compile("^Revoke certificate .*…$")).click()
        expect(tool.get_by_role("heading", name="Confirm the revocation")).to_be_visible()
        alex.step("admin-revoke-confirm", scroll_to=tool.get_by_role("button", name=re.compile("for good$")))
        tool.get_by_role("button", name=re.compile("for good$")).click()
        expect(tool.get_by_role("status").first).to_contain_text("is revoked")
        alex.step("admin-revoked")
        menu.get_by_role("link", name="Sampling report").click()
        alex.heading("Sampling report")
        expect(tool.get_by_role("row", name=re.compile("Sam Okafor"))).to_be_visible()
        # Coverage over time: the units and evidence kind of Sam's decision, this quarter.
        coverage = tool.get_by_role("table", name=re.compile("^Sampled"))
        expect(coverage.get_by_role("row", name=re.compile("^Unit CM1"))).to_be_visible()
        expect(coverage.get_by_role("row", name=re.compile("^Work product"))).to_be_visible()
        alex.step("admin-sampling-report")
        _fits(alex)
    finally:
        alex.close()


def _roster(iris: Person, learner_name: str) -> None:
    """The instructor's roster: each learner's progress, and the CSV export."""
    tool = iris.tool
    try:
        iris.launch()
        iris.heading(re.compile("learners and portfolios"))
        row = tool.get_by_role("row", name=re.compile(learner_name))
        expect(row).to_contain_text("100%")  # awarded (then revoked: the award stays on record)
        expect(tool.get_by_role("link", name="Download the roster as CSV")).to_be_visible()
        iris.step("instructor-roster", scroll_to=row)
        _fits(iris)
    finally:
        iris.close()

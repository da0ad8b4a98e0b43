"""Overseeing the work in a real browser, in the demo LMS's iframe, on a desktop (1280x800) and a phone
(390x844): the assessor filters the queue (claimed by me, overdue), claims and reads the portfolio's audit
trail with the chain verified; the tool administrator sets the assessor's caseload, edits a certification's
sampling plan (with a confirmation step), reads the coverage over time, and is asked to confirm before a staff
role is revoked; the instructor narrows the roster to a state and opens a learner's portfolio read only. axe on
every page. Screenshots: test-artifacts/browser/oversight-<size>/.

A server of its own (fresh database): each size's learner submits a portfolio first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import _serve
from tests.browser.pages import LiveServer, Person, Shots
from tests.browser.test_browser_staff_judging import (
    ALEX,
    IRIS,
    LEARNER,
    SAM,
    _fits,
    _person,
    _submit_portfolio,
    _whole_page,
)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(tmp_path_factory, "browser-server-oversight", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}) as server:
        yield server


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_oversight(browser: Browser, own_server: LiveServer, axe_script: Path, tmp_path: Path, size: str) -> None:
    shots = Shots.for_test(f"oversight-{size}", axe_script)
    _, name = LEARNER[size]
    phone = size == "phone"
    try:
        _submit_portfolio(browser, own_server, LEARNER[size][0], shots, tmp_path)
        _assess_queue(_person(browser, own_server, SAM, shots, phone), name)
        _administer(_person(browser, own_server, ALEX, shots, phone), size)
        _instructor(_person(browser, own_server, IRIS, shots, phone), name)
    finally:
        shots.save_findings()


def _administer(alex: Person, size: str) -> None:
    tool = alex.tool
    share = "30" if size == "desktop" else "35"
    try:
        alex.launch()
        tool.get_by_role("link", name="Administration").click()
        menu = tool.get_by_role("navigation", name="Administration")
        # Caseloads: Sam (who holds what he claimed) may hold one item at a time: his caseload is full.
        menu.get_by_role("link", name="Caseloads").click()
        alex.heading("Caseloads")
        tool.get_by_label("Caseload limit for Sam Okafor").fill("1")
        tool.get_by_role("button", name="Save the caseload of Sam Okafor").click()
        expect(tool.get_by_role("status").first).to_contain_text("Caseload saved.")
        expect(tool.get_by_label("Caseload limit for Sam Okafor")).to_have_value("1")
        expect(tool.get_by_role("row", name=re.compile("Sam Okafor"))).to_contain_text(re.compile(r"\d+ of 1"))
        alex.step("admin-caseloads")
        _fits(alex)
        _whole_page(alex, "admin-caseloads")

        # The sampling plan of CMIACR, changed with a confirmation step; the report shows coverage over time.
        menu.get_by_role("link", name="Sampling report").click()
        alex.heading("Sampling report")
        expect(tool.get_by_role("heading", name="Coverage of units and evidence kinds over time")).to_be_visible()
        alex.step("admin-sampling-report")
        _fits(alex)
        _whole_page(alex, "admin-sampling-report")
        tool.get_by_role("link", name="Sampling plan per certification").click()
        alex.heading("Sampling plan")
        tool.get_by_label("Certification", exact=True).select_option("CMIACR")
        tool.get_by_role("button", name="Open the plan").click()
        alex.heading("Sampling plan for CMIACR")
        tool.get_by_label("Random share of the other decisions (%)").fill(share)
        tool.get_by_role("button", name="Review the change").click()
        expect(tool.get_by_role("heading", name="Confirm the new plan for CMIACR")).to_be_visible()
        alex.step("admin-sampling-plan-confirm")
        _fits(alex)
        tool.get_by_role("button", name="Save this plan").click()
        expect(tool.get_by_role("status").first).to_contain_text("Sampling plan for CMIACR saved.")
        expect(tool.get_by_label("Random share of the other decisions (%)")).to_have_value(f"{share}.0")
        expect(tool.get_by_text("CMIACR has its own plan.")).to_be_visible()
        alex.step("admin-sampling-plan-saved")

        # Revoking a staff role asks first; cancelling keeps it.
        menu.get_by_role("link", name="Staff roles").click()
        alex.heading("Staff roles")
        revoke = tool.get_by_role("button", name=re.compile(r"^Revoke .* from Sam Okafor")).first
        revoke.click()
        alex.heading(re.compile(r"^Revoke this role from Sam Okafor"))
        expect(tool.get_by_role("button", name="Yes, revoke the role")).to_be_visible()
        alex.step("admin-revoke-role-confirm")
        tool.get_by_role("link", name="Cancel").click()
        alex.heading("Staff roles")
        expect(tool.get_by_role("button", name=re.compile(r"^Revoke .* from Sam Okafor")).first).to_be_visible()
    finally:
        alex.close()


def _assess_queue(sam: Person, learner_name: str) -> None:
    tool = sam.tool
    try:
        sam.launch()
        sam.heading("Your work")
        tool.get_by_role("link", name="Awaiting assessment").click()
        sam.heading(re.compile(r"^Awaiting assessment"))
        # The filters other than the search are folded until one is in use.
        more = tool.locator("details.more-filters")
        expect(more).not_to_have_attribute("open", "")
        more.locator("summary").click()
        # Nothing is overdue yet; the filters say so and can be cleared.
        tool.get_by_label(re.compile(r"^Only overdue")).check()
        tool.get_by_role("button", name="Filter").click()
        expect(tool.get_by_text("Nothing waiting for you here matches these filters.")).to_be_visible()
        sam.step("queue-overdue-none")
        _fits(sam)
        # What Sam still holds (an earlier size's portfolio) he gives back, so that his caseload is this one.
        tool.get_by_label("Claimed", exact=True).select_option(label="Claimed by me")
        tool.get_by_label(re.compile(r"^Only overdue")).uncheck()
        tool.get_by_role("button", name="Filter").click()
        sam.frame.wait_for_url(re.compile(r"claimed=me(?!.*overdue)"))  # the page filtered so is in
        held = tool.get_by_role("button", name=re.compile("^Release the portfolio of"))
        for left in range(held.count(), 0, -1):
            held.first.click()
            expect(held).to_have_count(left - 1)
        tool.get_by_role("link", name="Clear filters").click()
        claim = tool.get_by_role("button", name=f"Claim the portfolio of {learner_name}")
        claim.click()
        expect(tool.get_by_role("status").first).to_contain_text("Claimed")
        # Claimed by me: mine, first.
        more.locator("summary").click()
        tool.get_by_label("Claimed", exact=True).select_option(label="Claimed by me")
        tool.get_by_role("button", name="Filter").click()
        expect(tool.get_by_role("link", name="Clear filters")).to_be_visible()  # the filtered page is in
        row = tool.get_by_role("row", name=re.compile(learner_name))
        expect(row).to_contain_text("You")
        expect(tool.get_by_role("row")).to_have_count(2)  # the heading row and mine
        sam.step("queue-claimed-by-me", scroll_to=row)
        _fits(sam)
        # The portfolio's audit trail, from the judging page.
        tool.get_by_role("link", name=f"Open the portfolio of {learner_name}").click()
        sam.heading(re.compile("^Assess"))
        tool.get_by_role("link", name="Audit trail").click()
        sam.heading(f"Audit trail: portfolio of {learner_name}")
        expect(tool.get_by_role("status").first).to_contain_text("Chain verified")
        expect(tool.get_by_text("work.claimed", exact=True)).to_be_visible()
        expect(tool.get_by_text("portfolio.submitted", exact=True)).to_be_visible()
        sam.step("portfolio-trail")
        _fits(sam)
        _whole_page(sam, "portfolio-trail")
    finally:
        sam.close()


def _instructor(iris: Person, learner_name: str) -> None:
    tool = iris.tool
    try:
        iris.launch()
        iris.heading(re.compile("learners and portfolios"))
        tool.get_by_label("State").select_option("submitted")
        tool.get_by_label("Sort by").select_option(label="Last change")
        tool.get_by_role("button", name="Show").click()
        expect(tool.get_by_role("link", name="Every learner by name")).to_be_visible()  # the narrowed page is in
        expect(tool.get_by_label("State")).to_have_value("submitted")
        link = tool.get_by_role("link", name=f"Portfolio of {learner_name}")
        expect(link).to_be_visible()
        iris.step("roster-submitted", scroll_to=link)
        _fits(iris)
        _whole_page(iris, "roster-submitted")
        link.click()
        iris.heading(f"Portfolio of {learner_name}")
        expect(tool.get_by_text("38 of 38 criteria with evidence")).to_be_visible()
        expect(tool.get_by_role("heading", name="Item 1: Work product")).to_be_visible()
        # Read only: no file, no form to change anything.
        expect(tool.locator("a[href*='/files/']")).to_have_count(0)
        expect(tool.locator("form[method='post']")).to_have_count(1)  # the language switch only
        iris.step("roster-portfolio")
        _fits(iris)
        _whole_page(iris, "roster-portfolio")
    finally:
        iris.close()

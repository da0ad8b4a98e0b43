"""The whole journey in a real browser, inside the demo LMS's iframe, with third-party cookies blocked:
the learner builds and submits a portfolio, the assessor judges it, the verifiers confirm it, the learner
sees the award and the LMS gradebook shows the outcome and the credits.

Each step leaves a screenshot under test-artifacts/browser/journey/ and is checked with axe-core.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from lti_tool.eqa import manifest
from tests.browser.pages import LiveServer, Person, Shots

ADA, SAM, VERA, ELI = "demo-learner-ada", "demo-assessor-sam", "demo-verifier-vera", "demo-verifier-eli"
UPLOAD_BYTES = 3 * 1024 * 1024


@pytest.fixture
def shots(axe_script: Path) -> Shots:
    return Shots.for_test("journey", axe_script)


def _work_report(path: Path) -> Path:
    """A PDF of a few MB: large enough for the upload progress bar to show."""
    filler = (b"central monitoring report, site 104, key risk indicators reviewed\n" * 50_000)[:UPLOAD_BYTES]
    head = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n2 0 obj\n<< /Length " + str(len(filler)).encode()
    path.write_bytes(head + b" >>\nstream\n" + filler + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return path


def _slow_uploads(person: Person, bytes_per_second: int) -> None:
    """Throttle the upload link (as on a phone network) so the progress bar is there long enough to see."""
    cdp = person.context.new_cdp_session(person.page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": bytes_per_second},
    )


def test_learner_to_award_and_gradebook(
    browser: Browser, live_server: LiveServer, shots: Shots, tmp_path: Path
) -> None:
    try:
        certificate = _journey(browser, live_server, shots, tmp_path)
        _gradebook_shows_the_award(browser, live_server, shots, certificate)
        _mailbox_has_the_award_mail(browser, live_server, shots, certificate)
        _external_quality_assurer_checks_the_portfolio(browser, live_server, shots, tmp_path)
    finally:
        shots.save_findings()


def _journey(browser: Browser, server: LiveServer, shots: Shots, tmp_path: Path) -> str:
    # --- the learner, on a phone ------------------------------------------------------------------------
    ada = Person(browser, server, ADA, shots, phone=True)
    ada.open_course()
    expect(ada.page.locator("#demo-platform")).to_have_attribute("data-tool-origin", server.tool_url)
    ada.step("learner-course-page", check_page=True)
    ada.launch()
    ada.heading(re.compile("Your portfolio for Qualified Clinical Research Central Monitor"))
    ada.step("learner-choose-route")
    ada.tool.get_by_label("Training route").check()
    ada.tool.get_by_role("button", name="Start my portfolio").click()
    ada.heading("Qualified Clinical Research Central Monitor")
    expect(ada.tool.get_by_text("Your portfolio is ready")).to_be_visible()
    ada.step("learner-portfolio-started")

    ada.tool.get_by_role("link", name="Add evidence").click()
    ada.heading("Add evidence")
    ada.tool.get_by_label("Kind of evidence").select_option(label="Work product")
    ada.tool.get_by_label("Title").fill("Central monitoring report, study CM-104")
    ada.tool.get_by_label("Description").fill(
        "The monthly central monitoring report I wrote for study CM-104: "
        "key risk indicators, site follow-up and escalations."
    )
    ada.tool.get_by_label("Choose one or more files").set_input_files(_work_report(tmp_path / "cm104-report.pdf"))
    units = ada.tool.locator("details[data-unit] > summary")  # the criteria picker's units start closed
    for i in range(units.count()):
        units.nth(i).click()
    criteria = ada.tool.locator('input[name="criteria"]')
    count = criteria.count()
    assert count >= 30, "the shipped CMIACR catalogue has every criterion on the form"
    for i in range(count):
        criteria.nth(i).check()
    ada.step("learner-evidence-form", scroll_to=ada.tool.get_by_role("button", name="Add evidence"))
    _slow_uploads(ada, 600_000)  # about five seconds: the progress bar stays while it is photographed and checked
    ada.tool.get_by_role("button", name="Add evidence").click()
    progress = ada.tool.get_by_role("progressbar", name="Upload progress")
    expect(progress).to_be_visible()
    expect(ada.tool.get_by_role("status")).to_contain_text("Upload")
    ada.step("learner-upload-progress", scroll_to=progress)
    expect(ada.tool.get_by_text("Evidence added.")).to_be_visible(timeout=30_000)
    _slow_uploads(ada, -1)
    expect(ada.tool.get_by_text(f"Criteria with evidence: {count} of {count}")).to_be_visible()
    expect(ada.tool.get_by_role("link", name="cm104-report.pdf")).to_be_visible()
    ada.step("learner-evidence-added")

    ada.tool.get_by_role("link", name="Submit for assessment").click()
    ada.heading("Submit for assessment")
    expect(ada.tool.get_by_text("Every criterion has at least one piece of evidence")).to_be_visible()
    ada.step("learner-submit")
    ada.tool.get_by_role("button", name="Submit for assessment").click()
    expect(ada.tool.get_by_text("Submitted. Your assessor has been told")).to_be_visible()
    ada.step("learner-submitted")
    ada.close()

    # --- the assessor ---------------------------------------------------------------------------------------
    sam = Person(browser, server, SAM, shots)
    sam.launch()
    sam.heading("Your work")
    sam.step("assessor-work")
    sam.tool.get_by_role("link", name="Awaiting assessment").click()
    # The queue page must have replaced the work page before axe runs in it, or the evaluation races the navigation.
    sam.heading(re.compile(r"^Awaiting assessment"))
    sam.step("assessor-queue")
    sam.tool.get_by_role("link", name="Open the portfolio of Ada Mensah").click()
    sam.heading(re.compile("Assess"))
    expect(sam.tool.locator("fieldset[data-criterion]")).to_have_count(count)
    # Units start folded but the one in hand: open each, then "All met" in every outcome.
    units = sam.tool.locator("details[data-unit]")
    for i in range(units.count()):
        if units.nth(i).get_attribute("open") is None:
            units.nth(i).locator(":scope > summary").click()
    all_met = sam.tool.get_by_role("button", name=re.compile("^All met in"))
    expect(all_met.first).to_be_visible()  # the page's script adds them
    for i in range(all_met.count()):
        all_met.nth(i).click()
    expect(sam.tool.locator("[data-judged-count]")).to_have_text(f"Judged {count} of {count}")
    sam.tool.get_by_label("Overall feedback to the learner").fill("Competent in every criterion; clear evidence.")
    sam.step("assessor-assess", scroll_to=sam.tool.get_by_role("button", name="Decide: competent"))
    sam.tool.get_by_role("button", name="Decide: competent").click()
    sam.heading(re.compile("^Confirm your decision"))
    sam.tool.get_by_label(re.compile("^This judgement is my own")).check()
    sam.tool.get_by_role("button", name="Confirm and record").click()
    sam.heading("Your work")
    expect(sam.tool.get_by_role("status")).to_contain_text("Decision recorded: competent")  # no cookie needed
    sam.close()

    # --- verification: step 1 when the decision is sampled (always for a new assessor), then step 2 ---
    vera = Person(browser, server, VERA, shots)
    vera.launch()
    vera.heading("Your work")
    waiting = int(vera.tool.locator('[data-queue="verification_1"]').inner_text())
    if waiting:
        vera.step("internal-verifier-work")
        _verify(vera, "Awaiting internal verification (step 1)", "Agree with the decision", "internal-verifier")
    vera.close()

    eli = Person(browser, server, ELI, shots)
    eli.launch()
    eli.heading("Your work")
    _verify(eli, "Awaiting independent verification (step 2)", "Confirm: the award is made", "independent-verifier")
    eli.close()

    # --- the learner sees the award -------------------------------------------------------------------------
    ada = Person(browser, server, ADA, shots, phone=True)
    ada.launch()
    expect(ada.tool.get_by_text("Awarded").first).to_be_visible()
    certificate_number = ada.tool.locator(".certificate-number")
    expect(certificate_number).to_have_text(re.compile(r"^CMIACR-\d{4}-\d{6}$"))
    number = certificate_number.inner_text()
    ada.step("learner-awarded", scroll_to=ada.tool.get_by_role("heading", name="Awarded"))
    ada.tool.get_by_role("link", name="My certificates").click()
    ada.heading("My certificates")
    expect(ada.tool.get_by_text(f"Certificate {number}")).to_be_visible()
    ada.step("learner-certificates")
    ada.tool.get_by_role("link", name="Printable certificate").click()
    ada.heading("Certificate of award")
    expect(ada.tool.get_by_text(number, exact=True)).to_be_visible()
    ada.step("learner-printable-certificate")
    ada.close()
    return number


def _verify(person: Person, queue: str, outcome: str, name: str) -> None:
    person.tool.get_by_role("link", name=queue).click()
    person.tool.get_by_role("link", name="Open the portfolio of Ada Mensah").click()
    person.heading(re.compile("Verification step"))
    person.step(f"{name}-decision")
    person.tool.get_by_label(outcome).check()
    person.tool.get_by_role("button", name="Record the outcome").click()
    person.heading(re.compile("^Confirm your outcome"))
    person.step(f"{name}-confirm")
    person.tool.get_by_label(re.compile("^This judgement is my own")).check()
    person.tool.get_by_role("button", name="Confirm and record").click()
    person.heading("Your work")
    expect(person.tool.get_by_role("status")).to_contain_text("Verification step")


def _gradebook_shows_the_award(browser: Browser, server: LiveServer, shots: Shots, number: str) -> None:
    """The grade worker delivers the award to the demo LMS: outcome 100, completed, the credits in its comment."""
    iris = Person(browser, server, "demo-instructor-iris", shots)
    page = iris.page
    outcome_row = page.locator("table").first.get_by_role("row", name=re.compile("Ada Mensah"))
    for _ in range(100):  # each pass waits up to 0.2 s for the row; the worker polls every 0.2 s
        page.goto(f"{server.demo_url}/demo/gradebook")
        try:
            expect(outcome_row).to_contain_text("FullyGraded", timeout=200)
            break
        except AssertionError:
            continue
    expect(outcome_row).to_contain_text("Completed / FullyGraded")
    expect(outcome_row.get_by_role("cell").nth(1)).to_have_text("100")
    expect(outcome_row).to_contain_text(number)
    # The credits travel in the outcome's comment; no second column unless the deployment opts in.
    expect(outcome_row.get_by_role("cell").nth(3)).to_contain_text("12 learning credits")
    expect(page.get_by_role("heading", name=re.compile("learning credits"))).to_have_count(0)
    page.screenshot(path=str(shots.path("lms-gradebook")), full_page=True)
    iris.check_axe("lms-gradebook", page)
    iris.close()


def _mailbox_has_the_award_mail(browser: Browser, server: LiveServer, shots: Shots, number: str) -> None:
    """The mail worker delivers the learner's notices into the demo mailbox: the award's mail names the
    certificate and links through the LMS, never with a session token."""
    ada = Person(browser, server, ADA, shots, phone=True)
    page = ada.page
    award_mail = page.get_by_role("link", name=re.compile("You have been awarded"))
    for _ in range(100):  # each pass waits up to 0.2 s; the mail worker polls every 0.2 s
        page.goto(f"{server.demo_url}/demo/mailbox?to=ada.mensah@demo-academy.example")
        try:
            expect(award_mail).to_have_count(1, timeout=200)
            break
        except AssertionError:
            continue
    expect(award_mail).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile("received"))).not_to_have_count(0)  # the submission's notice
    page.screenshot(path=str(shots.path("demo-mailbox")), full_page=True)
    ada.check_axe("demo-mailbox", page)
    award_mail.click()
    expect(page.get_by_text(number).first).to_be_visible()
    # The HTML part, in its sandboxed frame, says the same.
    expect(page.frame_locator(".mailbox-frame").get_by_text(number).first).to_be_visible()
    assert "_s=" not in page.content()
    page.screenshot(path=str(shots.path("demo-mailbox-award-mail")), full_page=True)
    ada.close()


def _external_quality_assurer_checks_the_portfolio(
    browser: Browser, server: LiveServer, shots: Shots, tmp_path: Path
) -> None:
    """Erin, the awarding body's external quality assurer, opens the activity, finds Ada's awarded portfolio,
    has its pack built and downloads it: a ZIP whose signed manifest checks offline."""
    erin = Person(browser, server, "demo-eqa-erin", shots)
    erin.launch()
    erin.heading("External quality assurance")
    erin.tool.get_by_label("Outcome").select_option(label="Awarded")
    erin.tool.get_by_role("button", name="Show matching portfolios").click()
    # The page before lists every portfolio on this server (Ben's too, when the cookieless test ran here first) with
    # a "Build the pack" of its own: wait for the filtered page, or the pack may be built from the page before.
    erin.frame.wait_for_url(re.compile(r"[?&]outcome=awarded"))
    expect(erin.tool.get_by_role("row", name=re.compile("Ada Mensah"))).to_be_visible()
    erin.step("eqa-sample")
    erin.tool.get_by_role("button", name="Build the pack").click()
    erin.heading("Your packs")
    download_link = erin.tool.get_by_role("link", name="Download ZIP")
    expect(download_link).to_be_visible(timeout=60_000)  # the page refreshes itself until the pack is ready
    erin.step("eqa-pack-ready")
    with erin.page.expect_download() as downloading:
        download_link.click()
    pack = tmp_path / "pack.zip"
    downloading.value.save_as(pack)
    report = manifest.verify(pack)
    assert report.ok, report.problems
    assert report.files_checked >= 3 and len(report.portfolios) == 1
    erin.close()

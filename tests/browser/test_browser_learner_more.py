"""More of the learner's experience (issue 16) in Chromium, on a desktop (1280 px) and a phone (390 px):

- a unit placement, added by the instructor through deep linking, opens the learner's one portfolio at that
  unit (no second portfolio, no second choice of route, one link in "My portfolios");
- audio and video evidence upload, and the phone capture inputs (photo, audio, video);
- mapping from the criterion's side: link an existing evidence item to a criterion, then unlink it;
- every learner and public page fits a 390 px screen, its tap targets are at least 44 px tall, and axe finds
  nothing serious;
- the certificate (issuer, logo, units, signature line, QR code) prints on one page of A4 and of Letter.

The flows run in the demo LMS's iframe against a server of their own (third-party cookies blocked). The page
sweep and the certificate are answered by the Flask test client (the page alone, as in the award page test).
Screenshots: test-artifacts/browser/learner-more-*/.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Frame, Page, Route, expect
from pypdf import PdfReader
from sqlalchemy import select

from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.portfolio.models import EvidenceItem, Portfolio
from lti_tool.store.db import db
from tests.browser.conftest import _serve
from tests.browser.pages import (
    ARTIFACTS,
    BLOCKING_IMPACTS,
    DESKTOP,
    PHONE,
    LiveServer,
    Person,
    Shots,
    axe_violations,
)
from tests.credential_helpers import award_through_workflow
from tests.lti_helpers import demo_launch

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\xff\xfb\x90\x64" + b"\x00" * 2000
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 4000
LEARNER = {"desktop": "demo-learner-ada", "phone": "demo-learner-ben"}
CERT_TITLE = "Qualified Clinical Research Central Monitor"
UNIT = "CM2"
NUMBER = "CMIACR-2025-000321"

# What a finger taps: every one at least 44 px tall (links inside running text are exempt, as in WCAG 2.5.8).
TAP_TARGETS = """() => {
  const selector = 'button, .button, summary, select, input[type=file], input[type=submit], nav a, .chip, '
    + '.card-actions a, .crit-links a, .unit-name a, .counts a, .check-row label, .capture-inputs label';
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === 'hidden') continue;
    if (el.closest('[hidden], .visually-hidden')) continue;
    const what = `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 40)}"`;
    if (box.height < 43.5) small.push(`${what} ${Math.round(box.height)} px`);
  }
  return small;
}"""


def _fits(target: Page | Frame, width: int) -> None:
    wide = target.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= width, f"{target.url} is {wide} px wide on a {width} px screen"


# --- in the demo LMS: unit placement, media evidence, mapping from the criterion's side -----------------------


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(tmp_path_factory, "browser-server-learner-more", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}) as server:
        yield server


@pytest.fixture(scope="module")
def unit_activity(browser: Browser, own_server: LiveServer, axe_script: Path) -> str:
    """The instructor adds unit CM2 to the demo course by deep linking; returns the new activity's title."""
    shots = Shots.for_test("learner-more-instructor", axe_script)
    iris = Person(browser, own_server, "demo-instructor-iris", shots)
    try:
        iris.open_course()
        iris.page.get_by_role("link", name="Add an activity from the tool (deep linking)").click()
        tool = iris.tool
        expect(tool.get_by_role("heading", level=1)).to_have_text("Add an accreditation activity to your course")
        tool.get_by_label(re.compile(rf"\(CMIACR unit {UNIT}\)")).check()
        iris.step("deep-link-unit")
        tool.get_by_role("button", name="Add to the course").click()
        expect(tool.get_by_role("heading", level=1)).to_have_text("The demo course received 1 item")
        iris.step("deep-link-returned", check_page=True)
        iris.open_course()
        heading = iris.page.get_by_role("heading", level=2, name=re.compile(rf"CMIACR unit {UNIT}"))
        expect(heading).to_be_visible()
        return heading.inner_text()
    finally:
        shots.save_findings()
        iris.close()


def _open_activity(person: Person, title: str) -> None:
    person.open_course()
    section = person.page.locator("section").filter(has=person.page.get_by_role("heading", level=2, name=title))
    section.get_by_role("link", name="Open in the page", exact=True).click()
    expect(person.tool.get_by_text("Signed in as")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_unit_placement_media_evidence_and_mapping_from_a_criterion(
    browser: Browser, own_server: LiveServer, axe_script: Path, tmp_path: Path, unit_activity: str, size: str
) -> None:
    shots = Shots.for_test(f"learner-more-{size}", axe_script)
    phone = size == "phone"
    width = PHONE["width"] if phone else DESKTOP["width"]
    person = Person(browser, own_server, LEARNER[size], shots, phone=phone)
    tool = person.tool
    try:
        # The whole certification first: the route is chosen here, once.
        _open_activity(person, "CMIACR accreditation portfolio")
        person.heading(re.compile("Your portfolio for"))
        expect(tool.get_by_text("You choose once for this certification")).to_be_visible()
        tool.get_by_label("Portfolio-only route").check()
        tool.get_by_role("button", name="Start my portfolio").click()
        person.heading(CERT_TITLE)

        # Audio and video evidence; the phone's camera and microphone are offered.
        tool.get_by_role("link", name="Add evidence").click()
        person.heading("Add evidence")
        for label, accept, capture in (
            ("Take a photo", "image/*", "environment"),
            ("Record audio", "audio/*", "user"),
            ("Record a video", "video/*", "environment"),
        ):
            field = tool.get_by_label(label)
            expect(field).to_have_attribute("accept", accept)
            expect(field).to_have_attribute("capture", capture)
        general = tool.get_by_label("Choose one or more files")
        for wanted in ("video/mp4", "audio/mpeg", "video/quicktime", ".m4a"):
            expect(general).to_have_attribute("accept", re.compile(re.escape(wanted)))
        person.step("evidence-form-capture", scroll_to=tool.get_by_label("Record a video"))
        tool.get_by_label("Kind of evidence").select_option(label="Professional discussion record")
        tool.get_by_label("Title").fill("Discussion with my line manager")
        (tmp_path / "discussion.mp3").write_bytes(MP3)
        (tmp_path / "site tour.mp4").write_bytes(MP4)
        general.set_input_files([tmp_path / "discussion.mp3", tmp_path / "site tour.mp4"])
        tool.get_by_role("button", name="Add evidence").click()
        expect(tool.get_by_text("Evidence added.")).to_be_visible()
        item = tool.locator("li.card").filter(has_text="Discussion with my line manager")
        expect(item.get_by_role("link", name="discussion.mp3")).to_be_visible()
        expect(item.get_by_role("link", name="site tour.mp4")).to_be_visible()
        expect(item).to_contain_text("Not mapped to any criterion yet")
        person.step("media-evidence-added", scroll_to=item)

        # The unit activity: the same portfolio, at that unit; the route is not asked again.
        _open_activity(person, unit_activity)
        person.heading(CERT_TITLE)
        focus = tool.locator("section.panel-focus")
        expect(focus.get_by_role("heading", level=2)).to_contain_text(f"Unit {UNIT}:")
        expect(focus).to_contain_text("part of your one portfolio")
        expect(tool.locator(f"#unit-{UNIT}.unit-focus")).to_be_visible()
        expect(item).to_be_visible()  # the evidence added from the other activity is here
        assert f"unit={UNIT}" in person.frame.url
        _fits(person.frame, width)
        person.step("unit-placement-focus")
        tool.get_by_role("link", name="My portfolios", exact=True).click()
        person.heading("My portfolios")
        expect(tool.get_by_role("link", name=CERT_TITLE)).to_have_count(1)
        _fits(person.frame, width)
        person.step("my-portfolios-one")

        # From a criterion of that unit: link the recording to it, then unlink it.
        tool.get_by_role("link", name=CERT_TITLE).click()
        person.heading(CERT_TITLE)
        criterion = tool.locator(f"#unit-{UNIT} li.crit").first
        code = criterion.locator(".crit-code").inner_text()
        criterion.locator("summary").click()
        criterion.get_by_role("link", name=f"Link or unlink evidence for {code}").click()
        person.heading(f"Criterion {code}")
        box = tool.get_by_label(re.compile("Discussion with my line manager"))
        expect(box).not_to_be_checked()
        box.check()
        person.step("criterion-link", scroll_to=box)
        tool.get_by_role("button", name="Save links").click()
        expect(tool.get_by_role("status")).to_contain_text("Links saved")
        expect(tool.get_by_label(re.compile("Discussion with my line manager"))).to_be_checked()
        expect(tool.locator(".badge").filter(has_text="Evidence mapped")).to_be_visible()
        _fits(person.frame, width)
        person.step("criterion-linked")
        tool.get_by_role("link", name="Back to the criteria map").click()
        person.heading(CERT_TITLE)
        expect(item.locator(".chip")).to_have_text([code])
        tool.get_by_role("link", name="My portfolios", exact=True).click()
        # The portfolio page has a link with that name too ("Current portfolio: ..."): wait for the list first.
        person.heading("My portfolios")
        tool.get_by_role("link", name=CERT_TITLE).click()
        person.heading(CERT_TITLE)
        criterion = tool.locator(f"#unit-{UNIT} li.crit").first
        criterion.locator("summary").click()
        criterion.get_by_role("link", name=f"Link or unlink evidence for {code}").click()
        person.heading(f"Criterion {code}")
        tool.get_by_label(re.compile("Discussion with my line manager")).uncheck()
        tool.get_by_role("button", name="Save links").click()
        expect(tool.get_by_role("status")).to_contain_text("Links saved")
        expect(tool.get_by_label(re.compile("Discussion with my line manager"))).not_to_be_checked()
        person.step("criterion-unlinked")
    finally:
        shots.save_findings()
        person.close()


# --- every learner and public page on a phone; the certificate on paper ----------------------------------------


def _answer_with(client: Any) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.hostname != "localhost":
            route.abort()
            return
        method = route.request.method
        body = route.request.post_data_buffer
        headers = {k: v for k, v in route.request.headers.items() if k.lower() in ("content-type",)}
        # Redirects are followed here: Chromium does not follow a redirect fulfilled for a navigation.
        resp = client.open(
            url.path + (f"?{url.query}" if url.query else ""),
            method=method,
            data=body,
            headers=headers,
            follow_redirects=True,
        )
        route.fulfill(status=resp.status_code, headers=dict(resp.headers), body=resp.get_data())

    return handle


Handlers = dict[str, Callable[[Route], None]]


@pytest.fixture
def learner_site(sqlite_app, shipped_catalogue) -> tuple[Handlers, dict[str, tuple[str, str]]]:
    """Ada with a portfolio holding evidence (a document and a recording), an award; Ben who has just launched;
    the addresses of every page a learner or the public can open, each with whose browser opens it."""
    client = sqlite_app.test_client()
    demo_launch(client, "demo-learner-ada")
    ben = sqlite_app.test_client()
    demo_launch(ben, "demo-learner-ben")

    def csrf() -> str:
        sess = db.session.get(ToolSession, client.get_cookie("lti_tool_session").value)
        return sess.csrf_token

    assert b"Which route are you on?" in client.get("/portfolio/placement").data
    resp = client.post("/portfolio/placement", data={"csrf_token": csrf(), "route": "training"})
    assert resp.status_code == 303, resp.data
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada"))
    portfolio = db.session.scalar(select(Portfolio).where(Portfolio.user_id == user.id))
    criteria = [c.id for u in portfolio.certification.units for o in u.outcomes for c in o.criteria]
    for title, files, mapped in (
        ("Monitoring plan for study CM-104", [(PDF, "plan.pdf")], criteria[:7]),
        ("Discussion with my line manager", [(MP3, "discussion.mp3")], criteria[7:9]),
    ):
        resp = client.post(
            f"/portfolio/{portfolio.id}/evidence/new",
            data={
                "csrf_token": csrf(),
                "kind": "work_product",
                "title": title,
                "description": "What I did and what it shows.",
                "criteria": [str(c) for c in mapped],
                "files": [(io.BytesIO(content), name) for content, name in files],
            },
            content_type="multipart/form-data",
        )
        assert resp.status_code == 303, resp.data
    item = db.session.scalar(select(EvidenceItem).where(EvidenceItem.portfolio_id == portfolio.id))
    award_through_workflow(user=user, number=NUMBER)
    base = f"/portfolio/{portfolio.id}"
    pages = dict(
        {
            "my-portfolios": "/portfolio/",
            "portfolio": base,
            "portfolio-unit-focus": f"{base}?unit=CM2",
            "add-evidence": f"{base}/evidence/new",
            "edit-evidence": f"{base}/evidence/{item.id}/edit",
            "remove-evidence": f"{base}/evidence/{item.id}/remove",
            "criterion": f"{base}/criteria/{criteria[0]}",
            "submit": f"{base}/submit",
            "appeal": f"/appeals/portfolio/{portfolio.id}",
            "notifications": "/notifications/",
            "my-certificates": "/awards",
            "award": f"/awards/{NUMBER}",
            "certificate": f"/awards/{NUMBER}/certificate",
            "home": "/",
            "verify-lookup": "/verify",
            "verify-valid": f"/verify/{NUMBER}",
            "verify-unknown": "/verify/CMIACR-2099-000001",
        }
    )
    addresses = {"choose-route": ("ben", "/portfolio/placement")}
    addresses.update({name: ("ada", url) for name, url in pages.items()})
    return {"ada": _answer_with(client), "ben": _answer_with(ben)}, addresses


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_learner_and_public_page_fits_the_screen_with_large_tap_targets(
    browser: Browser, axe_script: Path, learner_site, size: dict[str, int]
) -> None:
    handlers, pages = learner_site
    phone = size == PHONE
    folder = ARTIFACTS / f"learner-more-pages-{'phone' if phone else 'desktop'}"
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=size, is_mobile=phone, has_touch=phone)
    findings: dict[str, Any] = {}
    try:
        tabs = {}
        for who, handle in handlers.items():
            tabs[who] = context.new_page()
            tabs[who].route("**/*", handle)
        problems = []
        for name, (who, url) in pages.items():
            page = tabs[who]
            resp = page.goto(f"http://localhost{url}")
            assert resp is not None and resp.status < 500, f"{name}: {resp and resp.status}"
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            if wide > size["width"]:
                problems.append(f"{name} ({url}) is {wide} px wide")
            if phone:
                small = page.evaluate(TAP_TARGETS)
                if small:
                    problems.append(f"{name} ({url}) has small tap targets: {small[:5]}")
            violations = axe_violations(page, axe_script)
            findings[name] = violations
            blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
            if blocking:
                problems.append(f"{name} ({url}): axe {json.dumps(blocking)[:600]}")
        assert not problems, "\n".join(problems)
        assert len(pages) >= 17
    finally:
        (folder / "axe.json").write_text(json.dumps(findings, indent=2))
        context.close()


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_certificate_prints_on_one_page(browser: Browser, learner_site, paper: str) -> None:
    handlers, pages = learner_site
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.route("**/*", handlers["ada"])
        page.goto(f"http://localhost{pages['certificate'][1]}")
        certificate = page.locator("article.certificate")
        expect(certificate.locator("img.issuer-logo")).to_be_visible()
        expect(certificate.locator(".signature-line")).to_be_visible()
        expect(certificate.locator(".qr svg")).to_be_visible()
        expect(certificate.locator("table.units tbody tr")).not_to_have_count(0)
        page.emulate_media(media="print")
        expect(page.get_by_role("button", name="Print or save as PDF")).to_be_hidden()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"learner-more-certificate-print-{paper}.png"), full_page=True)
        pdf = page.pdf(format=paper, print_background=True)
        (ARTIFACTS / f"learner-more-certificate-{paper}.pdf").write_bytes(pdf)
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 1, f"the certificate takes {len(reader.pages)} pages of {paper}"
        text = unicodedata.normalize("NFKC", reader.pages[0].extract_text())  # "ﬁ" ligatures as "fi"
        for shown in ("Certificate of award", CERT_TITLE, NUMBER, "Units awarded", "For Accreditation portfolio"):
            assert shown in text, shown
    finally:
        context.close()

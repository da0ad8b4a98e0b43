"""What the browser tests share: the live server's addresses, people at the demo LMS, screenshots and axe."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, Request, expect
from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[2]
# Screenshots, axe findings, server logs and failures (failures.py); LTI_BROWSER_ARTIFACTS puts them elsewhere (the
# test of the failure artifacts does, for the failures it makes on purpose).
ARTIFACTS = Path(os.environ.get("LTI_BROWSER_ARTIFACTS") or ROOT / "test-artifacts" / "browser")
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TOOL_FRAME = 'iframe[name="tool-frame"]'
COOKIE_NAME = "lti_tool_session"
TOKEN = re.compile(r"[?&]_s=([A-Za-z0-9_-]+)")
BLOCKING_IMPACTS = ("serious", "critical")
# How long an action, and an assertion with expect() (conftest.py), waits for the page. Playwright's own default
# for expect() is 5 s: too little for a page that changes the record on two busy cores (two xdist workers, each
# with a Chromium and tool servers). The award, for one, signs a credential (2-3 s of JSON-LD canonicalization
# there) before it redirects: the page after it was not in 5 s after the click.
WAIT_MS = 15_000


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def demo_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tool_url(self) -> str:
        return f"http://localhost:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Shots:
    """Numbered screenshots of one test under test-artifacts/browser/<name>/, and the axe findings."""

    folder: Path
    axe: Path
    count: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_test(cls, name: str, axe: Path) -> Shots:
        folder = ARTIFACTS / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        return cls(folder=folder, axe=axe)

    def path(self, name: str) -> Path:
        self.count += 1
        return self.folder / f"{self.count:02d}-{name}.png"

    def save_findings(self) -> None:
        (self.folder / "axe.json").write_text(json.dumps(self.findings, indent=2))


def axe_violations(target: Page | Frame, axe_script: Path) -> list[dict[str, Any]]:
    """axe-core's violations on this document (frames are checked on their own). A page that moves on by
    itself meanwhile (an upload finishing) is checked again once it has loaded: that page needs it too."""
    for _ in range(2):
        try:
            return _run_axe(target, axe_script)
        except PlaywrightError as exc:
            if "Execution context was destroyed" not in str(exc):
                raise
            target.wait_for_load_state("load")
    return _run_axe(target, axe_script)


def _run_axe(target: Page | Frame, axe_script: Path) -> list[dict[str, Any]]:
    if not target.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol rather than added as a <script>: the tool's CSP (rightly)
        # refuses inline scripts, and the pages are checked under the real policy.
        target.evaluate(axe_script.read_text(encoding="utf-8"))
    return target.evaluate("""async () => {
        const result = await axe.run(document, {iframes: false, resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 6).map(n => n.target.join(' ') + ' -- ' + n.failureSummary)}));
    }""")


class Person:
    """Someone at the demo LMS in their own browser context (own cookies and storage), seeing the tool in the
    course page's iframe."""

    def __init__(self, browser: Browser, server: LiveServer, sub: str, shots: Shots, *, phone: bool = False):
        self.server, self.sub, self.shots = server, sub, shots
        self.context: BrowserContext = browser.new_context(
            viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone
        )
        self.context.set_default_timeout(WAIT_MS)
        self.page: Page = self.context.new_page()
        self.requests: list[Request] = []
        self.context.on("request", lambda request: self.requests.append(request))

    # --- where things are ---

    @property
    def tool(self) -> FrameLocator:
        return self.page.frame_locator(TOOL_FRAME)

    @property
    def frame(self) -> Frame:
        found = self.page.frame(name="tool-frame")
        assert found is not None, "the course page has no tool frame"
        return found

    def tool_requests(self) -> list[Request]:
        return [r for r in self.requests if r.url.startswith(self.server.tool_url + "/")]

    def tokens_seen(self) -> set[str]:
        """Every session token that travelled in a URL this person's browser requested."""
        return {m.group(1) for r in self.requests for m in TOKEN.finditer(r.url)}

    # --- doing things ---

    def open_course(self) -> None:
        self.page.goto(f"{self.server.demo_url}/demo/course/{self.sub}")
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()

    def launch(self, link: str = "Open in the page") -> None:
        """Click the activity in the course page; the tool signs them in inside the iframe."""
        self.open_course()
        self.page.get_by_role("link", name=link, exact=True).click()
        expect(self.tool.get_by_text("Signed in as")).to_be_visible()

    def heading(self, text: str | re.Pattern[str]) -> None:
        """The tool's page with this heading is in: the heading, then the whole document parsed and its scripts
        run (its load event). What a test counts next (criteria, units, the buttons a script adds) is then all
        there, not the part of a long page parsed so far: the heading comes first in the document."""
        expect(self.tool.get_by_role("heading", level=1)).to_have_text(text)
        self.frame.wait_for_load_state("load")

    def step(self, name: str, *, scroll_to: Any = None, check_page: bool = False) -> None:
        """A screenshot of what the person sees now, and axe on the tool's page (and the LMS page)."""
        if scroll_to is not None:
            scroll_to.scroll_into_view_if_needed()
        self.page.screenshot(path=str(self.shots.path(name)), full_page=True)
        targets: list[tuple[str, Page | Frame]] = []
        if self.frame.url.startswith(self.server.tool_url):
            targets.append(("tool", self.frame))
        if check_page or not targets:
            targets.append(("lms", self.page))
        for where, target in targets:
            self.check_axe(f"{name} ({where}: {target.url.split('?')[0]})", target)

    def check_axe(self, label: str, target: Page | Frame) -> None:
        violations = axe_violations(target, self.shots.axe)
        self.shots.findings.append({"page": label, "violations": violations})
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe found serious problems on {label}:\n" + json.dumps(blocking, indent=2)

    def close(self) -> None:
        self.context.close()

"""What a failed browser test leaves behind to show why: test-artifacts/browser/failures/<test id>/.

conftest's `browser` fixture hands the session's browser to WATCH, which then watches every context a test or a
fixture opens with `browser.new_context()`: it keeps the context's last console messages, page errors, failed
requests, error responses and frame navigations and, with LTI_BROWSER_TRACE=1, traces it (Playwright's trace:
screenshots, DOM snapshots, network; one chunk per test, a passing test's dropped unwritten). When a test fails
(its setup or its call: an assertion, a Playwright timeout, an error), its folder gets:

- failure.txt: the test, the error, each context's pages and frames;
- context-N/ for each context open at the failure: page-M.png (the full page), page-M.html and
  page-M.frame-K-<name>.html (the HTML of every frame: the tool runs in an iframe of the demo LMS's page),
  urls.txt (every page and its frame tree), console.txt, and trace.zip when traced
  (`.venv/bin/playwright show-trace .../trace.zip`);
- server-<name>.log: the end of the log of each `lti-tool serve` running (conftest's _serve).

A test closes its contexts itself, mostly in a `finally` while its failure is on the way up, or a fixture does
in its teardown: `close()` is wrapped to capture the context first when an exception is in flight or the test has
already failed. A context closed while the test was still passing is not captured (its trace is dropped).

The tracing is opt-in because it is not cheap: the whole browser suite took ~20 % more CPU with it (every
context recording screenshots and a DOM snapshot per action), against the 10 % allowed for it always on.
Everything else costs nothing while the tests pass. LTI_BROWSER_ARTIFACTS moves test-artifacts/browser
(pages.ARTIFACTS).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Frame, Page, Request, Response, WebError
from playwright.sync_api import Error as PlaywrightError

from tests.browser.pages import ARTIFACTS, LiveServer

FAILURES = ARTIFACTS / "failures"
TRACING = os.environ.get("LTI_BROWSER_TRACE", "") not in ("", "0")
LOG_ENTRIES = 300  # per context: its last console messages, page errors, failed requests, navigations
ENTRY_CHARS = 2_000
SERVER_LOG_TAIL = 64 * 1024  # bytes of the end of each server's log
SCREENSHOT_MS = 10_000
# Each test's setup, call and teardown reports (conftest's pytest_runtest_makereport).
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
# The `lti-tool serve` subprocesses running now (conftest's _serve), by name.
RUNNING_SERVERS: dict[str, LiveServer] = {}


def failure_dir(nodeid: str) -> Path:
    """The test's folder: its id with anything but letters, digits, '.', '_', '=' and '-' made '-'."""
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "-", nodeid.removeprefix("tests/browser/")).strip("-")
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]
    return FAILURES / name


def shown(path: Path) -> str:
    """The path as a CI log should show it: from the working directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def has_failed(item: pytest.Item) -> bool:
    """Its setup or its call failed."""
    reports = item.stash.get(REPORTS, {})
    return any(reports[when].failed for when in ("setup", "call") if when in reports)


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]  # as the server log's times, to read the two side by side


def _short(text: str) -> str:
    return text if len(text) <= ENTRY_CHARS else text[:ENTRY_CHARS] + f"... ({len(text)} characters)"


@dataclass(eq=False)
class Watched:
    """One browser context and what it said."""

    context: BrowserContext
    opened_by: str  # the test (or the fixture of the test) that opened it
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_ENTRIES))
    pages: dict[Page, int] = field(default_factory=dict)  # each page's number, in the order they opened
    tracing: bool = False
    closed: bool = False

    def page_label(self, page: Page | None) -> str:
        if page is None:
            return "-"
        if page not in self.pages:
            self.pages[page] = len(self.pages) + 1
        return f"page-{self.pages[page]}"

    def note(self, what: str, page: Page | None, text: str) -> None:
        self.log.append(f"{_now()} {self.page_label(page)} [{what}] {_short(text)}")


@dataclass
class Watch:
    """Every context of the session's browser; the test running now; what its failure left."""

    contexts: list[Watched] = field(default_factory=list)
    item: pytest.Item | None = None
    numbers: dict[Watched, int] = field(default_factory=dict)  # context-N of the current test's failure
    captured: dict[Watched, list[str]] = field(default_factory=dict)  # what each one showed, for failure.txt
    folder_used: bool = False

    # --- the browser and its contexts ---

    def attach(self, browser: Browser) -> None:
        """Watch every context opened from now on (a wrapper around browser.new_context)."""
        original = browser.new_context

        @functools.wraps(original)
        def new_context(*args: Any, **kwargs: Any) -> BrowserContext:
            context = original(*args, **kwargs)
            self._watch(context)
            return context

        browser.new_context = new_context  # type: ignore[method-assign]

    def _watch(self, context: BrowserContext) -> None:
        watched = Watched(context, self.item.nodeid if self.item is not None else "(no test)")
        self.contexts.append(watched)
        for event, handler in (
            ("page", self._watch_page),
            ("console", self._console),
            ("weberror", self._web_error),
            ("requestfailed", self._request_failed),
            ("response", self._response),
            ("framenavigated", self._navigated),
        ):
            context.on(event, _quietly(functools.partial(handler, watched)))
        context.on("close", lambda _: setattr(watched, "closed", True))
        original_close = context.close

        @functools.wraps(original_close)
        def close(*args: Any, **kwargs: Any) -> None:
            if not watched.closed and self._failing():
                self._capture_context(watched, "closed by the test after it failed", closing=True)
            watched.closed = True
            original_close(*args, **kwargs)

        context.close = close  # type: ignore[method-assign]
        if TRACING:
            context.tracing.start(screenshots=True, snapshots=True, sources=False, title=self._title())
            watched.tracing = True

    def _watch_page(self, watched: Watched, page: Page) -> None:
        label = watched.page_label(page)
        original_close = page.close

        @functools.wraps(original_close)
        def close(*args: Any, **kwargs: Any) -> None:
            if not page.is_closed() and self._failing():
                self._capture_closing_page(watched, page)
            original_close(*args, **kwargs)

        page.close = close  # type: ignore[method-assign]
        watched.note("page", page, f"{label} opened")

    def _console(self, watched: Watched, msg: ConsoleMessage) -> None:
        where = msg.location
        source = f" ({where.get('url')}:{where.get('lineNumber')})" if where and where.get("url") else ""
        watched.note(f"console.{msg.type}", msg.page, msg.text + source)

    def _web_error(self, watched: Watched, error: WebError) -> None:
        watched.note("page error", error.page, error.error.stack or error.error.message)

    def _request_failed(self, watched: Watched, request: Request) -> None:
        page = request.frame.page if request.frame is not None else None
        watched.note("request failed", page, f"{request.method} {request.url}: {request.failure}")

    def _response(self, watched: Watched, response: Response) -> None:
        if response.status >= 400:
            watched.note(f"HTTP {response.status}", response.frame.page, f"{response.request.method} {response.url}")

    def _navigated(self, watched: Watched, frame: Frame) -> None:
        name = "main frame" if frame.parent_frame is None else f"frame {frame.name or '(no name)'}"
        watched.note("navigated", frame.page, f"{name}: {frame.url}")

    # --- the test ---

    def begin(self, item: pytest.Item) -> None:
        """Before the test's setup (and so before any fixture of its opens a context)."""
        self.item, self.numbers, self.captured, self.folder_used = item, {}, {}, False
        shutil.rmtree(failure_dir(item.nodeid), ignore_errors=True)  # a former run's failure of this test

    def finish(self, item: pytest.Item) -> None:
        """After the test (its fixture's teardown, or its teardown report when it failed before that fixture):
        everything open is captured when the test failed, else its trace is dropped."""
        if self.item is not item:
            return
        failed = has_failed(item)
        self.contexts = [w for w in self.contexts if not w.closed]
        for watched in self.contexts:
            if failed:
                opened = "" if watched.opened_by == item.nodeid else f", opened by {watched.opened_by}"
                self._capture_context(watched, f"open at the end of the test{opened}")
                # Captured: closed now, or it would stay open in the shared browser through the tests that follow.
                watched.closed = True
                with contextlib.suppress(PlaywrightError):
                    watched.context.close()
            elif watched.tracing:  # the passing test's trace is dropped; the next test's begins
                watched.context.tracing.stop_chunk()
                watched.context.tracing.start_chunk(title=self._title())
        folder = failure_dir(item.nodeid)
        if failed:
            self._write_summary(item, folder)
        elif self.folder_used:  # captured while an exception went by, which the test then handled
            shutil.rmtree(folder, ignore_errors=True)
        self.item = None

    def _failing(self) -> bool:
        """During a test: an error or a pytest.fail() is on its way up, or the test's setup or call has failed."""
        if self.item is None:
            return False
        if isinstance(sys.exc_info()[1], Exception | pytest.fail.Exception):  # not a skip, not Ctrl-C
            return True
        return has_failed(self.item)

    # --- capturing ---

    def _folder(self) -> Path:
        assert self.item is not None
        folder = failure_dir(self.item.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        self.folder_used = True
        return folder

    def _context_folder(self, watched: Watched) -> Path:
        """context-N/ in the test's folder: N in the order the contexts were first captured."""
        number = self.numbers.setdefault(watched, len(self.numbers) + 1)
        folder = self._folder() / f"context-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _capture_context(self, watched: Watched, why: str, *, closing: bool = False) -> None:
        lines = self.captured.setdefault(watched, [])
        try:
            folder = self._context_folder(watched)
            problems: list[str] = []
            if watched.tracing:  # first, so that the trace ends with the failure rather than with what follows
                try:
                    watched.context.tracing.stop_chunk(path=folder / "trace.zip")
                except PlaywrightError as exc:
                    problems.append(f"trace.zip: {exc}")
            urls: list[str] = []
            for page in list(watched.context.pages):
                urls += _capture_page(page, folder, watched.page_label(page), problems)
            lines[:0] = [f"({why})", *urls]
            with open(folder / "urls.txt", "a") as out:
                out.write("\n".join(urls or ["(no page open)"]) + "\n")
            (folder / "console.txt").write_text("\n".join(watched.log or ["(nothing)"]) + "\n")
            if problems:
                with open(folder / "problems.txt", "a") as out:
                    out.write("\n".join(problems) + "\n")
            if watched.tracing and not closing:  # a context left open goes on tracing, for the next test
                watched.context.tracing.start_chunk(title=self._title())
            watched.tracing = watched.tracing and not closing
        except Exception as exc:  # never hide the test's own failure behind one of these
            lines.append(f"({why}) not captured: {exc!r}")

    def _capture_closing_page(self, watched: Watched, page: Page) -> None:
        """A page the test closes after it failed, into its context's folder (the rest of the context follows)."""
        lines = self.captured.setdefault(watched, [])
        try:
            folder = self._context_folder(watched)
            problems: list[str] = []
            urls = _capture_page(page, folder, watched.page_label(page), problems)
            urls[0] += " (closed by the test after it failed)"
            lines += urls
            with open(folder / "urls.txt", "a") as out:
                out.write("\n".join(urls + problems) + "\n")
        except Exception as exc:
            lines.append(f"a page closed after the failure: not captured: {exc!r}")

    def _title(self) -> str | None:
        return self.item.nodeid if self.item is not None else None

    def _write_summary(self, item: pytest.Item, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        reports = item.stash.get(REPORTS, {})
        errors = [
            f"({when}) {report.longreprtext}"
            for when in ("setup", "call")
            if (report := reports.get(when)) is not None and report.failed
        ]
        servers = []
        for name, server in sorted(RUNNING_SERVERS.items()):
            tail = _tail(server.log_path)
            (folder / f"server-{name}.log").write_bytes(tail)
            servers.append(f"server-{name}.log: the end of {server.log_path} ({server.demo_url}, {server.tool_url})")
        contexts = [
            f"context-{self.numbers.get(watched, '?')} " + "\n  ".join(self.captured[watched])
            for watched in sorted(self.captured, key=lambda watched: self.numbers.get(watched, 0))
        ]
        lines = [
            f"Test: {item.nodeid}",
            "",
            *(contexts or ["No browser context was open at the failure."]),
            "",
            *(servers or ["No tool server was running."]),
            "",
            f"A trace: .venv/bin/playwright show-trace {shown(folder)}/context-N/trace.zip (where Playwright's own"
            " Chromium is not installed, add --port 9323 and open http://127.0.0.1:9323)"
            if TRACING
            else "No trace: run the test again with LTI_BROWSER_TRACE=1 for one per context.",
            "",
            "The failure:",
            *errors,
        ]
        (folder / "failure.txt").write_text("\n".join(lines) + "\n")


def _quietly(handler: Callable[[Any], None]) -> Callable[[Any], None]:
    """An event handler that never breaks the test: what it could not note is left out."""

    def quiet(event: Any) -> None:
        try:
            handler(event)
        except Exception:  # a service worker's request has no frame, a page may be gone, ...
            pass

    return quiet


def _capture_page(page: Page, folder: Path, label: str, problems: list[str]) -> list[str]:
    """The page's full screenshot, the HTML of each of its frames; returns its URL and its frames' URLs."""
    urls = [f"{label}: {page.url}"]
    try:
        page.screenshot(path=folder / f"{label}.png", full_page=True, timeout=SCREENSHOT_MS)
    except PlaywrightError as exc:
        problems.append(f"{label}.png: {exc}")
    for number, frame in enumerate(page.frames):
        depth, parent = 0, frame.parent_frame
        while parent is not None:
            depth, parent = depth + 1, parent.parent_frame
        if frame == page.main_frame:
            name = f"{label}.html"
        else:
            name = f"{label}.frame-{number}" + (f"-{re.sub(r'[^A-Za-z0-9_-]+', '-', frame.name)}" if frame.name else "")
            name += ".html"
            urls.append(f"{'  ' * depth}frame {number} (name {frame.name!r}, {name}): {frame.url}")
        try:
            (folder / name).write_text(frame.content(), encoding="utf-8")
        except PlaywrightError as exc:
            problems.append(f"{name}: {exc}")
    return urls


def _tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - SERVER_LOG_TAIL))
            data = log.read()
    except OSError as exc:
        return f"(the log could not be read: {exc})\n".encode()
    if size > SERVER_LOG_TAIL:
        data = b"(...)\n" + data[data.find(b"\n") + 1 :]
    return data


WATCH = Watch()

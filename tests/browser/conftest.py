"""Browser tests: the real app over HTTP, driven by Debian's Chromium through Playwright.

One server and one browser per test session (per xdist worker; the tests share the group "browser", so
`--dist loadgroup` puts them all on one worker). The server is `lti-tool serve` in a subprocess on a free
port: SQLite in a temp dir, the demo platform with the shipped catalogue, the grade worker thread polling
fast. The demo LMS pages are http://127.0.0.1:PORT and the tool is http://localhost:PORT: two sites, so the
tool is a real third party in the demo course's iframe.

Chromium runs with third-party cookies blocked (--test-third-party-cookie-phaseout): everything here works
without the tool's cookie inside the iframe, as in current Chrome and Safari.

Playwright is a dev dependency (make install). Without Chromium or axe-core these tests skip and say why;
under CI=true they fail instead.

A failing test leaves screenshots, the HTML of every frame, the console messages, the end of the server's log (and
with LTI_BROWSER_TRACE=1 a Playwright trace) in test-artifacts/browser/failures/<test id>/ (failures.py); its
report names that folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.failures import REPORTS, RUNNING_SERVERS, WATCH, failure_dir, shown
from tests.browser.pages import ARTIFACTS, AXE_SCRIPT, WAIT_MS, LiveServer

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("LTI_TOOL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # What current browsers do to an LMS iframe: the tool's cookie is neither stored nor sent there.
    "--test-third-party-cookie-phaseout",
    # Keep cross-site iframes in the page's process. A launch moves the frame between the two sites four
    # times (tool login, platform auth, tool launch...); with each move a process swap, Playwright now and
    # then loses the frame and waits forever. Origins, cookies and postMessage behave the same either way.
    "--disable-features=IsolateOrigins,site-per-process",
    "--disable-site-isolation-trials",
]
HERE = Path(__file__).resolve().parent
# expect() waits as long as the actions do (pages.WAIT_MS), not Playwright's 5 s.
expect.set_options(timeout=WAIT_MS)


# tryfirst: xdist names each item's group in its own hook of the same name, which must see this mark. Without
# it the order depends on when this conftest was loaded, and `pytest tests/browser/...` lost the grouping.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("browser"))
            item.add_marker(pytest.mark.browser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real browser (tests/browser)")


@pytest.fixture(autouse=True)
def _grouped_on_one_worker(request: pytest.FixtureRequest) -> None:
    """Fail loudly when `--dist loadgroup` stops grouping (pytest 9.2 with xdist 3.8 does, silently:
    pytest-dev/pytest-xdist#1386). Then every worker starts its own browser and servers, and the suite takes
    minutes longer; pyproject.toml pins pytest below 9.2 for that reason."""
    # A worker's own options say dist "no"; the command line it was started from says what was asked for.
    main_argv = getattr(request.config, "workerinput", {}).get("mainargv", [])
    if any("loadgroup" in arg for arg in main_argv) and not request.node.nodeid.endswith("@browser"):
        pytest.fail("--dist loadgroup did not group the browser tests (see pyproject.toml's pytest pin)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The test about to run: the contexts opened and closed from now on are its own (even by a module fixture)."""
    WATCH.begin(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Each phase's report on the item, for _failure_artifacts to read; a failure's report names the folder of
    what it left (so a CI log points to it)."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    if report.failed and report.when in ("setup", "call"):
        report.sections.append(("browser failure artifacts", shown(failure_dir(item.nodeid))))
    if report.when == "teardown":
        WATCH.finish(item)  # when the test failed before _failure_artifacts was set up (a module fixture)
    return report


@pytest.fixture(autouse=True)
def _failure_artifacts(request: pytest.FixtureRequest) -> Iterator[None]:
    """When the test has failed: the state of every browser context still open (failures.py); otherwise its trace
    is dropped. Set up before the test's other function fixtures, so torn down after them: a context they close
    after the failure is captured as it closes."""
    yield
    WATCH.finish(request.node)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true requires the browser tests to run: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The tool server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"The tool server did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


# The servers several modules share: fixture name -> (server name, environment). Each is started by the first test
# that asks for it and stopped after the last one (in the order collected, which is the order run: `--dist loadgroup`
# runs the whole browser group on one worker, in order), not at the end of the session: an idle server still polls
# its database several times a second (grade, mail and pack workers), for the minutes the rest of the suite takes.
SHARED_SERVERS: dict[str, tuple[str, dict[str, str]]] = {
    # Without partitioned cookies (CHIPS) the tool's cookie is neither kept nor sent in the iframe: these tests
    # exercise the hardest path (platform storage, the session in links, the new-window handoff).
    "live_server": ("browser-server", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}),
    # The tool as shipped: partitioned cookies, which Chromium keeps in the iframe (tests on http://localhost).
    "live_server_chips": ("browser-server-chips", {}),
    # Without partitioned cookies, for the Moodle-mode tests only: the activities they add by deep linking must
    # not appear in the other tests' demo course.
    "live_server_moodle": ("browser-server-moodle", {"LTI_TOOL_PARTITIONED_COOKIES": "0"}),
}
_shared_running: dict[str, tuple[contextlib.ExitStack, LiveServer]] = {}
_shared_last_user: dict[str, str] = {}  # fixture name -> node id of the last test collected that uses it


def _shared_server(fixture: str, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The running shared server, started now if it is not (first use, or asked again after its last user)."""
    if fixture not in _shared_running:
        name, env = SHARED_SERVERS[fixture]
        stack = contextlib.ExitStack()
        server = stack.enter_context(_serve(tmp_path_factory, name, env))
        _shared_running[fixture] = (stack, server)
    return _shared_running[fixture][1]


def _stop_shared_server(fixture: str) -> None:
    running = _shared_running.pop(fixture, None)
    if running is not None:
        running[0].close()


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        for fixture in SHARED_SERVERS:
            if fixture in getattr(item, "fixturenames", ()):
                _shared_last_user[fixture] = item.nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the test's own teardown (its failure artifacts include the servers' logs): stop the shared servers
    whose last test this was."""
    try:
        return (yield)
    finally:
        for fixture in list(_shared_running):
            if nextitem is None or _shared_last_user.get(fixture) == item.nodeid:
                _stop_shared_server(fixture)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for fixture in list(_shared_running):
        _stop_shared_server(fixture)


@pytest.fixture
def live_server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    return _shared_server("live_server", tmp_path_factory)


@pytest.fixture
def live_server_chips(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The tool as shipped: partitioned cookies, which Chromium keeps in the iframe (tests on http://localhost)."""
    return _shared_server("live_server_chips", tmp_path_factory)


@pytest.fixture
def live_server_moodle(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """Without partitioned cookies, for the Moodle-mode tests only: the activities they add by deep linking
    must not appear in the other tests' demo course."""
    return _shared_server("live_server_moodle", tmp_path_factory)


@contextlib.contextmanager
def _serve(tmp_path_factory: pytest.TempPathFactory, name: str, extra_env: dict[str, str]) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp(name)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_") and k != "DATABASE_URL"}
    env.update(
        {
            "LTI_TOOL_INSTANCE_DIR": str(folder / "instance"),
            "LTI_TOOL_KEYS_DIR": str(folder / "keys"),
            "LTI_TOOL_DATABASE_URL": f"sqlite:///{folder / 'instance' / 'tool.sqlite3'}",
            "LTI_TOOL_SCHEMA_MODE": "upgrade",
            "LTI_TOOL_DEMO_PLATFORM": "1",  # also imports the shipped catalogue for the Demo Academy
            "LTI_TOOL_PORT": str(port),
            "LTI_TOOL_DEMO_BASE_URL": f"http://127.0.0.1:{port}",  # the tool defaults to http://localhost:PORT
            "LTI_TOOL_GRADING_THREAD": "1",
            "LTI_TOOL_GRADING_POLL_SECONDS": "0.2",
            "LTI_TOOL_MAIL_POLL_SECONDS": "0.2",  # the demo mailbox fills while the test looks
            "LTI_TOOL_PACK_POLL_SECONDS": "0.2",  # an EQA pack is built while the test looks
            "LTI_TOOL_LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
    )
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lti_tool.cli import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = LiveServer(port=port, process=process, log_path=log_path)
    RUNNING_SERVERS[name] = server
    try:
        _wait_until_up(server.demo_url + "/healthz", process, log_path)
        yield server
    finally:
        RUNNING_SERVERS.pop(name, None)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / ("server.log" if name == "browser-server" else f"{name}.log"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(
            f"no Chromium at {CHROMIUM} (make test installs Debian's chromium when it runs as root "
            "with apt; or set LTI_TOOL_CHROMIUM)"
        )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        WATCH.attach(chromium)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        _unavailable(f"axe-core is missing at {AXE_SCRIPT} (make test installs it with npm ci)")
    return AXE_SCRIPT

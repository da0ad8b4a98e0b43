"""Memory benchmark: what a large evidence upload costs a gunicorn worker, and what a worker costs at rest.

    .venv/bin/python bench/memory_bench.py                          # both parts, 20 and 200 MB, local and s3
    .venv/bin/python bench/memory_bench.py --part upload --sizes 20,200 --backends s3
    .venv/bin/python bench/memory_bench.py --part rest --workers 2 --threads 4

Upload part: for each backend (local disk; S3, against moto's standalone server in its own process, which
keeps the objects in *its* memory) and each size, a fresh gunicorn (one worker) on PostgreSQL in a throw-away
schema; a learner launches through LTI 1.3 (a simulated platform signs the id_token), gets a portfolio and the
evidence form (session cookie, CSRF token), and POSTs one evidence item whose file is `size` MB of random
bytes, as multipart/form-data streamed from a generator with a Content-Length, as a browser sends it (the
client never holds the file either). A small upload first warms the worker (imports, the boto3 client), then
the worker's peak RSS is reset (`5` to /proc/PID/clear_refs) and VmRSS is sampled from /proc every few ms
during the upload. Printed: VmRSS before, peak during (the larger of the samples and VmHWM), the increase.
The product's promise is that the increase stays a few MB and does not grow with the file's size.

Rest part: gunicorn with sync and with gthread workers, with and without --preload; VmRSS and PSS (shared
pages divided among the processes sharing them) of each worker just after start and after some launches and
page views, and of the master; also the `lti-tool grading worker` process after it has idled a few polls.

Linux only (/proc). Numbers depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    BIN,
    DEFAULT_PG_URL,
    ROOT,
    Gunicorn,
    GunicornSettings,
    Server,
    free_port,
    jwks_server,
    pg_schema,
    pss_kib,
    rss_kib,
)
from launch_bench import CLAIM, CLIENT_ID, DEPLOYMENT_ID, ISSUER, Browser, Platform  # noqa: E402

MIB = 1024 * 1024
CERTIFICATION = "CMIACR"  # shipped in config/catalogue
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}
SEND_BLOCK = MIB


def status_kib(pid: int, field: str) -> int:
    """One `Vm...` line of /proc/PID/status in KiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pid: int) -> bool:
    """Make VmHWM start again from the current RSS (Linux >= 4.0), so it shows the peak of what follows."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """VmRSS of one process every `interval` seconds, in a thread, until stopped."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the tool under gunicorn -------------------------------------------------------------------------------


@dataclass
class Tool:
    """What every gunicorn run of the tool shares: its schema, folders and keys."""

    db_url: str
    schema: str
    tmp: Path
    secret_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    evidence_key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    def overrides(self) -> dict[str, Any]:
        from lti_tool.config import engine_options

        return {
            "SQLALCHEMY_DATABASE_URI": self.db_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                **engine_options(self.db_url),
                "connect_args": {"options": f"-csearch_path={self.schema}", "application_name": "lti-membench"},
            },
            "INSTANCE_DIR": str(self.tmp / "instance"),
            "KEYS_DIR": str(self.tmp / "keys"),
            "SECRET_KEY": self.secret_key,
            "EVIDENCE_KEY": self.evidence_key,
            "DEMO_PLATFORM": False,
            "OUTBOUND_ALLOW_LOCAL": True,  # the stand-in platform listens on loopback
            # The schema is built once by prepare() (as `lti-tool db upgrade` would); workers check it.
            "SCHEMA_MODE": "check",
            # A handful of launches from one address; the limiter is not what is measured here.
            "RATE_LIMIT_ENABLED": False,
        }

    def start(self, settings: GunicornSettings, log_name: str, extra_env: dict[str, str] | None = None) -> Gunicorn:
        env = {
            **(extra_env or {}),
            # A 200 MB upload can outlast the default 30 s on a busy machine (a sync worker would be killed).
            "GUNICORN_CMD_ARGS": "--timeout 600",
        }
        return Gunicorn(
            f"lti_tool.app:create_app({self.overrides()!r})",
            settings,
            self.tmp / log_name,
            ready_path="/healthz",
            env=env,
        )


def prepare(tool: Tool, jwks_url: str) -> None:
    """Schema, catalogue and the platform's registration, in this process (the schema is only reachable so)."""
    from lti_tool.app import create_app
    from lti_tool.launch.models import Deployment, Registration
    from lti_tool.portfolio.catalogue.importer import import_catalogue
    from lti_tool.store.db import db

    app = create_app({**tool.overrides(), "SCHEMA_MODE": "upgrade"})
    with app.app_context():
        import_catalogue()
        reg = Registration(
            issuer=ISSUER,
            client_id=CLIENT_ID,
            name="Bench LMS",
            auth_login_url=ISSUER + "/auth",
            auth_token_url=ISSUER + "/token",
            key_set_url=jwks_url,
        )
        reg.deployments = [Deployment(deployment_id=DEPLOYMENT_ID)]
        db.session.add(reg)
        db.session.commit()
        db.engine.dispose()


# --- a learner in a browser --------------------------------------------------------------------------------


def launch(browser: Browser, base: str, platform: Platform, learner: int) -> str:
    """Launch a learner into a placement for CERTIFICATION; returns the URL of their new portfolio."""
    browser.cookies.clear()
    launch_url = base + "/lti/launch"
    link = f"link-{learner}"
    resp = browser.request(
        "GET",
        base
        + "/lti/login?"
        + urlencode(
            {
                "iss": ISSUER,
                "client_id": CLIENT_ID,
                "login_hint": f"learner-{learner}",
                "target_link_uri": launch_url,
                "lti_message_hint": link,
                "lti_deployment_id": DEPLOYMENT_ID,
            }
        ),
    )
    if resp.status != 302:
        raise RuntimeError(f"login: HTTP {resp.status} {resp.body[:300]!r}")  # type: ignore[attr-defined]
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    token = platform.id_token(
        learner,
        query["nonce"][0],
        launch_url,
        {
            CLAIM + "resource_link": {"id": link, "title": "Portfolio"},
            CLAIM + "custom": {"certification": CERTIFICATION, "route": "training"},
        },
    )
    resp = browser.request("POST", launch_url, {"id_token": token, "state": query["state"][0]})
    url = launch_url
    for _ in range(6):  # launch -> start -> placement -> the new portfolio
        if resp.status not in (301, 302, 303):
            break
        url = urljoin(url, resp.headers["Location"])
        resp = browser.request("GET", url)
    if resp.status != 200 or not re.search(r"/portfolio/\d+", urlsplit(url).path):
        raise RuntimeError(f"launch ended at {url}: HTTP {resp.status} {resp.body[:300]!r}")  # type: ignore[attr-defined]
    return url.split("?")[0]


def evidence_form(browser: Browser, portfolio_url: str) -> tuple[str, dict[str, str]]:
    """The form's action URL and the fields a browser would send besides the file (CSRF token first)."""
    url = portfolio_url + "/evidence/new"
    resp = browser.request("GET", url)
    page = resp.body.decode()  # type: ignore[attr-defined]
    if resp.status != 200:
        raise RuntimeError(f"evidence form: HTTP {resp.status} {page[:300]}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    criterion = re.search(r'name="criteria" value="(\d+)"', page)
    if not csrf or not criterion:
        raise RuntimeError("the evidence form has no CSRF token or no criteria")
    return url, {
        "csrf_token": csrf.group(1),
        "kind": "work_product",
        "title": "Monitoring visit report",
        "description": "A large scanned report.",
        "criteria": criterion.group(1),
    }


def _file_blocks(size: int) -> Iterator[bytes]:
    """A PDF-looking file of `size` bytes, random (so no two uploads share a blob), made as it is sent."""
    head = b"%PDF-1.7\n"
    yield head
    left = size - len(head)
    while left > 0:
        block = os.urandom(min(SEND_BLOCK, left))
        left -= len(block)
        yield block


def post_evidence(browser: Browser, url: str, fields: dict[str, str], size: int) -> float:
    """Multipart POST streamed block by block on a raw connection; seconds until the tool's answer."""
    boundary = "----membench" + uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="report.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    started = time.perf_counter()
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in browser.cookies.items()))
        conn.endheaders()
        conn.send(head)
        for block in _file_blocks(size):
            conn.send(block)
        conn.send(tail)
        resp = conn.getresponse()
        body = resp.read()
        seconds = time.perf_counter() - started
        if resp.status != 303:
            raise RuntimeError(f"upload of {size} bytes: HTTP {resp.status} {body[:500]!r}")
        return seconds
    finally:
        conn.close()


# --- part 1: one upload ------------------------------------------------------------------------------------


@dataclass
class UploadFigures:
    backend: str
    size_mb: int
    rss_start: int  # KiB, worker just started
    rss_warm: int  # after the small warm-up upload
    rss_before: int
    peak: int  # the larger of the samples and VmHWM
    samples: int
    seconds: float
    stored: str

    @property
    def increase(self) -> int:
        return self.peak - self.rss_before


class MotoServer(Server):
    """moto's S3 in a process of its own: it holds every uploaded object in memory, apart from the tool's."""

    def __init__(self, log_path: Path) -> None:
        port = free_port()
        super().__init__(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            port,
            log_path,
            env=AWS_ENV,
            ready_path="/moto-api/",
        )

    def new_bucket(self) -> str:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.base,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        name = f"evidence-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        return name


def measure_upload(
    tool: Tool,
    platform: Platform,
    backend: str,
    size_mb: int,
    settings: GunicornSettings,
    interval: float,
    moto: MotoServer | None,
    learner: int,
) -> UploadFigures:
    # The default limit (25 MB) refuses 200 MB; the backend is named even when local, whatever the shell says.
    extra_env = {"LTI_TOOL_MAX_UPLOAD_MB": str(size_mb + 8), "LTI_TOOL_EVIDENCE_STORAGE": backend}
    if backend == "s3":
        assert moto is not None
        extra_env |= {
            **AWS_ENV,
            "LTI_TOOL_S3_BUCKET": moto.new_bucket(),
            "LTI_TOOL_S3_ENDPOINT_URL": moto.base,
            "LTI_TOOL_S3_REGION": "us-east-1",
        }
    server = tool.start(settings, f"upload-{backend}-{size_mb}.log", extra_env)
    try:
        (pid,) = server.workers()
        time.sleep(0.5)
        rss_start = status_kib(pid, "VmRSS")
        browser = Browser(server.base)
        portfolio = launch(browser, server.base, platform, learner)
        url, fields = evidence_form(browser, portfolio)
        # Warm-up: first upload loads what uploads need once per process (the boto3 client and its model).
        post_evidence(browser, url, fields, MIB)
        url, fields = evidence_form(browser, portfolio)
        time.sleep(0.5)
        rss_warm = rss_before = status_kib(pid, "VmRSS")
        if not reset_peak(pid):
            print("  (cannot reset VmHWM; the peak is from the samples only)")
        with RssSampler(pid, interval) as sampler:
            seconds = post_evidence(browser, url, fields, size_mb * MIB)
        hwm = status_kib(pid, "VmHWM")
        stored = _stored(tool, backend, extra_env)
        return UploadFigures(
            backend, size_mb, rss_start, rss_warm, rss_before, max(sampler.peak, hwm), sampler.samples, seconds, stored
        )
    finally:
        server.stop()


def _stored(tool: Tool, backend: str, env: dict[str, str]) -> str:
    """Where the upload went and how big the blob is (proof the whole file was stored)."""
    if backend == "local":
        blobs = [p for p in (tool.tmp / "instance" / "evidence" / "blobs").rglob("*") if p.is_file()]
        largest = max((p.stat().st_size for p in blobs), default=0)
        return f"largest blob on disk {largest / MIB:.1f} MiB"
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=env["LTI_TOOL_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    objects = client.list_objects_v2(Bucket=env["LTI_TOOL_S3_BUCKET"]).get("Contents", [])
    largest = max((o["Size"] for o in objects), default=0)
    return f"largest object in the bucket {largest / MIB:.1f} MiB"


def run_uploads(args: argparse.Namespace, tool: Tool, platform: Platform) -> list[UploadFigures]:
    settings = GunicornSettings(1, args.worker_class, args.threads)
    results: list[UploadFigures] = []
    moto = MotoServer(tool.tmp / "moto.log") if "s3" in args.backends else None
    learner = 0
    try:
        for backend in args.backends:
            for size in args.sizes:
                learner += 1
                print(f"  upload {size} MB, {backend} ...", flush=True)
                fig = measure_upload(tool, platform, backend, size, settings, args.interval, moto, learner)
                results.append(fig)
                print(
                    f"    before {fig.rss_before / 1024:.1f} MiB, peak {fig.peak / 1024:.1f} MiB, "
                    f"+{fig.increase / 1024:.1f} MiB in {fig.seconds:.1f} s",
                    flush=True,
                )
                shutil.rmtree(tool.tmp / "instance" / "evidence", ignore_errors=True)
    finally:
        if moto:
            moto.stop()
    return results


# --- part 2: at rest ---------------------------------------------------------------------------------------


@dataclass
class RestFigures:
    label: str
    master: tuple[int, int]  # (VmRSS, PSS) KiB
    start: list[tuple[int, int]]  # per worker, just after start
    used: list[tuple[int, int]]  # per worker, after launches and page views


def _readings(pids: list[int]) -> list[tuple[int, int]]:
    return [(rss_kib(p), pss_kib(p)) for p in pids]


def measure_rest(
    tool: Tool, platform: Platform, settings: GunicornSettings, launches: int, first_learner: int
) -> RestFigures:
    server = tool.start(settings, f"rest-{settings.worker_class}{'-preload' if settings.preload else ''}.log")
    try:
        time.sleep(1.0)
        workers = server.workers()
        start = _readings(workers)
        for n in range(launches):
            # A new connection per learner, so the requests spread over the workers.
            browser = Browser(server.base)
            portfolio = launch(browser, server.base, platform, first_learner + n)
            evidence_form(browser, portfolio)
            browser.request("GET", portfolio)
        time.sleep(1.0)
        return RestFigures(settings.label(), _readings([server.proc.pid])[0], start, _readings(workers))
    finally:
        server.stop()


def measure_grade_worker(tool: Tool, seconds: float) -> tuple[int, int]:
    """VmRSS and PSS (KiB) of `lti-tool grading worker` after it has idled `seconds` (polling an empty queue)."""
    url = tool.db_url + ("&" if "?" in tool.db_url else "?") + "options=" + quote(f"-csearch_path={tool.schema}")
    env = {
        **os.environ,
        "LTI_TOOL_DATABASE_URL": url,
        "LTI_TOOL_INSTANCE_DIR": str(tool.tmp / "instance"),
        "LTI_TOOL_KEYS_DIR": str(tool.tmp / "keys"),
        "LTI_TOOL_SECRET_KEY": tool.secret_key,
        "LTI_TOOL_EVIDENCE_KEY": tool.evidence_key,
        "LTI_TOOL_GRADING_POLL_SECONDS": "1",
    }
    with open(tool.tmp / "grade-worker.log", "ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "lti-tool"), "grading", "worker"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
        try:
            time.sleep(seconds)
            if proc.poll() is not None:
                raise RuntimeError(f"the grade worker exited; see {tool.tmp / 'grade-worker.log'}")
            return rss_kib(proc.pid), pss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- report ------------------------------------------------------------------------------------------------


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def print_uploads(results: list[UploadFigures], settings_label: str) -> None:
    print(
        f"\nUpload of one evidence file through POST /portfolio/<id>/evidence/new (gunicorn, {settings_label}; "
        "RSS of the worker, MiB):"
    )
    print(
        f"  {'backend':<7} {'file':>7} {'started':>8} {'warm':>7} {'before':>7} {'peak':>7} {'increase':>9} "
        f"{'time':>7}  stored"
    )
    for r in results:
        print(
            f"  {r.backend:<7} {r.size_mb:>4} MB {_mib(r.rss_start):>8} {_mib(r.rss_warm):>7} "
            f"{_mib(r.rss_before):>7} {_mib(r.peak):>7} {'+' + _mib(r.increase):>9} {r.seconds:>5.1f} s  "
            f"{r.stored} ({r.samples} samples)"
        )
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in results if r.backend == backend]
        if len(mine) > 1:
            small, large = min(mine, key=lambda r: r.size_mb), max(mine, key=lambda r: r.size_mb)
            print(
                f"  {backend}: {small.size_mb} -> {large.size_mb} MB file, increase {_mib(small.increase)} -> "
                f"{_mib(large.increase)} MiB"
            )


def print_rest(results: list[RestFigures], grade_worker: tuple[int, int] | None) -> None:
    print("\nAt rest, VmRSS / PSS in MiB (PSS divides pages shared between processes among them):")
    for r in results:
        start = ", ".join(f"{_mib(a)}/{_mib(b)}" for a, b in r.start)
        used = ", ".join(f"{_mib(a)}/{_mib(b)}" for a, b in r.used)
        total = r.master[1] + sum(b for _, b in r.used)
        print(
            f"  {r.label}:\n    workers just started {start}; after launches {used}; master "
            f"{_mib(r.master[0])}/{_mib(r.master[1])}; PSS of master + workers {_mib(total)}"
        )
    if grade_worker:
        print(f"  lti-tool grading worker, idle: {_mib(grade_worker[0])}/{_mib(grade_worker[1])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["both", "upload", "rest"], default="both")
    parser.add_argument("--sizes", default="20,200", help="upload sizes in MB, comma-separated")
    parser.add_argument("--backends", default="local,s3", help="local and/or s3, comma-separated")
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default="gthread",
        help="worker class for the upload part (the rest part measures both)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--workers", type=int, default=2, help="workers for the rest part")
    parser.add_argument("--launches", type=int, default=8, help="launches before 'after launches' at rest")
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between RSS samples")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.backends = [b for b in args.backends.split(",") if b]
    if set(args.backends) - {"local", "s3"}:
        parser.error("--backends takes local and/or s3")

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"Machine: {os.cpu_count()} cores, load average {load} before the run.")
    platform = Platform()
    tmp = Path(tempfile.mkdtemp(prefix="lti-membench-"))
    print(f"Logs in {tmp}")
    jwks = jwks_server(platform.jwks, tmp / "jwks.log")
    uploads: list[UploadFigures] = []
    rest: list[RestFigures] = []
    grade_worker = None
    try:
        with pg_schema(args.database_url) as schema:
            tool = Tool(args.database_url, schema, tmp)
            prepare(tool, jwks.base + "/jwks")
            if args.part in ("both", "upload"):
                uploads = run_uploads(args, tool, platform)
            if args.part in ("both", "rest"):
                for n, (worker_class, preload) in enumerate(
                    [("sync", False), ("sync", True), ("gthread", False), ("gthread", True)]
                ):
                    settings = GunicornSettings(args.workers, worker_class, args.threads, preload)
                    print(f"  at rest: {settings.label()} ...", flush=True)
                    rest.append(measure_rest(tool, platform, settings, args.launches, 1000 + 100 * n))
                grade_worker = measure_grade_worker(tool, 5.0)
    finally:
        jwks.stop()
    if uploads:
        print_uploads(uploads, GunicornSettings(1, args.worker_class, args.threads).label())
    if rest:
        print_rest(rest, grade_worker)


if __name__ == "__main__":
    main()

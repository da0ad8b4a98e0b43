"""Pieces the benchmarks share: a throw-away PostgreSQL schema, gunicorn and helper processes on loopback,
and CPU / memory readings from /proc (Linux only)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards (the same isolation as tests/conftest.py)."""
    import psycopg

    name = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# --- CPU and memory from /proc ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), or 0 when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: resident memory with pages shared between processes divided among them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def pg_backend_pids(url: str, application_name: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return [r[0] for r in rows]


def pg_backend_finder(url: str, application_name: str) -> tuple[Callable[[], list[int]], Callable[[], None]]:
    """(find, close): `find` lists the backends of `application_name` over one kept connection (a
    connection per poll would itself cost the server a backend start each time)."""
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    lock = threading.Lock()

    def find() -> list[int]:
        with lock:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
            ).fetchall()
        return [r[0] for r in rows]

    return find, conn.close


class FollowedProcesses:
    """CPU of a set of processes that changes while it is measured (PostgreSQL backends: the tool's pool
    opens and closes connections during the run), found by `find_pids` every `interval` seconds.

    A process there at start() counts from its reading then; one that appears later counts from zero (all
    its CPU was used during the run, as it did not exist before). Each process's last reading is kept, so
    one that ends during the run still counts up to its last poll (at most `interval` of its CPU is lost).
    """

    def __init__(self, find_pids: Callable[[], list[int]], interval: float = 0.2) -> None:
        self.find_pids = find_pids
        self.interval = interval
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, first: bool = False) -> None:
        for pid in self.find_pids():
            reading = cpu_seconds(pid)
            if reading == 0.0 and pid not in self.last:
                continue  # gone before it could be read
            if pid not in self.base:
                self.base[pid] = reading if first else 0.0
            self.last[pid] = reading

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def start(self) -> None:
        self._poll(first=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._poll()
        return sum(self.last[pid] - self.base[pid] for pid in self.last)

    @property
    def seen(self) -> int:
        return len(self.last)


@dataclass
class CpuMeter:
    """CPU used between start() and stop() by named groups of processes, and by the machine as a whole.

    `followed` groups are sets of processes that change during the run (see FollowedProcesses)."""

    groups: dict[str, list[int]] = field(default_factory=dict)
    followed: dict[str, FollowedProcesses] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    machine_busy: float = 0.0
    machine_total: float = 0.0

    def _read(self, name: str) -> float:
        if name == "client":
            t = os.times()
            return t.user + t.system
        return sum(cpu_seconds(p) for p in self.groups[name])

    def start(self) -> None:
        self._start = {name: self._read(name) for name in [*self.groups, "client"]}
        for followed in self.followed.values():
            followed.start()
        self._machine = machine_cpu()

    def stop(self) -> None:
        self.used = {name: self._read(name) - self._start[name] for name in self._start}
        for name, followed in self.followed.items():
            self.used[name] = followed.stop()
        busy, total = machine_cpu()
        self.machine_busy = busy - self._machine[0]
        self.machine_total = total - self._machine[1]


# --- processes ------------------------------------------------------------------------------------------


class Server:
    """A process on loopback that answers `ready_path` once started; stopped by its own pid."""

    def __init__(
        self,
        args: list[str],
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        ready_path: str = "/",
        cwd: Path = ROOT,
    ) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, **(env or {})}
        )
        self._wait_ready(ready_path)

    def _wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.proc.args[0]} exited early; see {self.log_path}:\n" + self.log_path.read_text()[-3000:]
                )
            try:
                if requests.get(self.base + path, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.proc.args[0]} not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass(frozen=True)
class GunicornSettings:
    workers: int
    worker_class: str  # "sync" or "gthread"
    threads: int
    preload: bool = False

    def args(self) -> list[str]:
        args = ["--workers", str(self.workers), "--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        if self.preload:
            args.append("--preload")
        return args

    def label(self) -> str:
        extra = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"{self.workers} {self.worker_class} workers{extra}" + (", --preload" if self.preload else "")


class Gunicorn(Server):
    def __init__(
        self,
        app_spec: str,
        settings: GunicornSettings,
        log_path: Path,
        ready_path: str,
        pythonpath: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        port = free_port()
        args = [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            *settings.args(),
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        if pythonpath:
            args += ["--pythonpath", str(pythonpath)]
        super().__init__([*args, app_spec], port, log_path, env=env, ready_path=ready_path)
        self.settings = settings
        # Every worker must be up (not just the first) before anything is measured.
        deadline = time.monotonic() + 60
        while len(self.workers()) < settings.workers and time.monotonic() < deadline:
            time.sleep(0.1)

    def workers(self) -> list[int]:
        return children(self.proc.pid)


def jwks_server(jwks: dict, log_path: Path, delay_ms: float = 0.0) -> Server:
    """The platform's JWKS endpoint in its own process (its CPU is measured apart from the client's),
    answering after `delay_ms` (a platform across the internet)."""
    port = free_port()
    return Server(
        [sys.executable, str(ROOT / "bench" / "jwks_server.py"), str(port), json.dumps(jwks), str(delay_ms)],
        port,
        log_path,
        ready_path="/jwks",
    )

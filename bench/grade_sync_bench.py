"""Grade sync benchmark: a backlog of queued scores delivered by the real grade workers to local AGS endpoints.

    .venv/bin/python bench/grade_sync_bench.py                         # 10,000 scores, 1, 2 and 4 workers
    .venv/bin/python bench/grade_sync_bench.py --jobs 20000 --workers 2 --platforms 8
    .venv/bin/python bench/grade_sync_bench.py --token-lifetime 8      # tokens expire during the run
    .venv/bin/python bench/grade_sync_bench.py --jobs 4000 --profile /tmp/grades.prof  # one worker, cProfile

A throw-away PostgreSQL schema gets several platforms (registrations), resource links on each (half with a
linked gradebook column as Moodle sends it, half where the worker must find or create the columns), learners
with portfolios, and their grade jobs as the outbox writes them (payloads from lti_tool.grading.scores, one
learner's jobs numbered in order: started, submitted, referred with feedback, resubmitted, awarded with a
credits score). The jobs are inserted held back; once the workers (`lti-tool grading worker`, each its own
process) are up they are all made due at once, and the clock runs until none is pending or in progress.

The platforms' token and AGS endpoints are bench/ags_server.py, its own process: it checks each score as
Moodle would, requires a token it issued, and counts token requests per platform and every request.
Printed per worker count: scores per second, token requests per platform, HTTP requests per score, CPU per
score of the workers, their PostgreSQL backends, the AGS server and this script, and whether every job
arrived exactly once and in order. Numbers vary with the machine and whatever else runs on it: its load
average is printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BIN, DEFAULT_PG_URL, ROOT, Server, cpu_seconds, free_port, machine_cpu, pg_schema  # noqa: E402

TARGET_RATE = 500
WORKER_APP = "gradebench-worker"  # PostgreSQL application_name of the workers' connections
HELD = dt.datetime(2100, 1, 1)  # next_attempt_at of the seeded jobs until the clock starts
AGS_SCOPES = [
    f"https://purl.imsglobal.org/spec/lti-ags/scope/{s}"
    for s in ("lineitem", "lineitem.readonly", "result.readonly", "score")
]
FEEDBACK = (
    "Unit 2 criterion 2.3 is not yet met: the monitoring plan you uploaded was written by your "
    "manager. Add a plan you wrote yourself, with a reflective account of how you chose the risk "
    "indicators, and ask your supervisor for a witness testimony."
)
# Each learner's scores, in order (cycled through the learners): what a backlog of real portfolios holds.
CHAINS = [
    ["draft"],
    ["draft", "submitted"],
    ["draft", "submitted", "awarded"],
    ["draft", "submitted", "referred", "submitted"],
    ["draft", "submitted", "referred", "submitted", "awarded"],
]


# --- seeding -------------------------------------------------------------------------------------------


def app_overrides(db_url: str, schema: str, tmp: Path) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    from lti_tool.config import engine_options

    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            **engine_options(db_url),
            "connect_args": {"options": f"-csearch_path={schema}", "application_name": "gradebench-seed"},
        },
        "SCHEMA_MODE": "create",
        "INSTANCE_DIR": str(tmp / "instance"),
        "KEYS_DIR": str(tmp / "keys"),
        "SECRET_KEY": uuid.uuid4().hex,
        "EVIDENCE_KEY": Fernet.generate_key().decode(),
        "DEMO_PLATFORM": False,
        "OUTBOUND_ALLOW_LOCAL": True,  # the stand-in platform listens on loopback
        "GRADING_WORKER_THREAD": False,
    }


@dataclass
class World:
    """What was seeded: which platform each resource link belongs to, and the jobs' rows."""

    link_platform: dict[int, str] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    learners: int = 0


def seed_platforms(ags_base: str, platforms: int, links: int) -> World:
    from lti_tool.launch.models import Deployment, Registration, ResourceLink
    from lti_tool.store.db import db

    world = World()
    for n in range(1, platforms + 1):
        issuer = f"https://lms{n}.bench.example"
        reg = Registration(
            issuer=issuer,
            client_id=f"bench-client-{n}",
            name=f"Bench LMS {n}",
            auth_login_url=issuer + "/auth",
            auth_token_url=f"{ags_base}/p/{n}/token",
        )
        dep = Deployment(deployment_id="1")
        reg.deployments = [dep]
        db.session.add(reg)
        db.session.flush()
        for k in range(links // platforms):
            link = ResourceLink(
                deployment_id=dep.id,
                resource_link_id=f"link-{n}-{k}",
                title=f"Portfolio {k}",
                ags_lineitems_url=f"{ags_base}/p/{n}/lineitems",
                ags_scopes=AGS_SCOPES,
            )
            if k % 2 == 0:  # Moodle sends the column's URL when one line item is linked to the activity
                link.ags_lineitem_url = f"{ags_base}/p/{n}/lineitems/linked-{n}-{k}"
            db.session.add(link)
            db.session.flush()
            world.link_platform[link.id] = str(n)
    db.session.commit()
    return world


def seed_learners(world: World, jobs: int) -> None:
    """Learners with a portfolio each on the links round-robin, and their jobs' rows (not yet inserted)."""
    from lti_tool.launch.models import LtiUser
    from lti_tool.portfolio.catalogue.models import Certification
    from lti_tool.portfolio.models import Portfolio
    from lti_tool.store.db import db

    certs = [
        Certification(
            code=code,
            version=1,
            title=title,
            isced_level="ED5",
            isced_field="0919",
            credits=credits,
            content_hash=code.ljust(64, "0"),
        )
        for code, title, credits in [
            ("CMIACR", "Qualified Clinical Research Central Monitor", 12),
            ("CMICRA", "Certified Clinical Research Associate", 18),
            ("CMIDM", "Clinical Data Manager", 0),
        ]
    ]
    db.session.add_all(certs)
    db.session.flush()
    links = list(world.link_platform)
    plan = learner_plan(certs, jobs)
    users = [
        LtiUser(issuer="https://lms.bench.example", sub=f"learner-{i:06d}", name=f"Learner {i}")
        for i in range(len(plan))
    ]
    db.session.add_all(users)
    db.session.flush()
    portfolios = [
        Portfolio(user_id=u.id, resource_link_id=links[i % len(links)], certification_id=plan[i][0].id, state="draft")
        for i, u in enumerate(users)
    ]
    db.session.add_all(portfolios)
    db.session.flush()
    for i, (cert, states) in enumerate(plan):
        world.jobs.extend(job_rows(portfolios[i], users[i].sub, cert, states, i))
    del world.jobs[jobs:]
    world.learners = len(plan)
    db.session.commit()


def learner_plan(certs: list[Any], jobs: int) -> list[tuple[Any, list[str]]]:
    """(certification, states) per learner, until the learners' scores add up to `jobs`."""
    plan: list[tuple[Any, list[str]]] = []
    total = 0
    while total < jobs:
        i = len(plan)
        cert, states = certs[i % len(certs)], CHAINS[i % len(CHAINS)]
        plan.append((cert, states))
        total += len(states) + ("awarded" in states and cert.credits > 0)
    return plan


def job_rows(portfolio: Any, sub: str, cert: Any, states: list[str], i: int) -> list[dict[str, Any]]:
    """The outbox rows for one learner's states, built by the same functions the outbox uses."""
    from lti_tool.grading import scores
    from lti_tool.grading.models import CREDITS, MAIN, PENDING

    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    rows: list[dict[str, Any]] = []
    sequence = {MAIN: 0, CREDITS: 0}
    previous: dict[str, str | None] = {MAIN: None, CREDITS: None}
    number = f"{cert.code}-{i:06d}"

    def add(target: str, state: str, payload_of: Any, line_item: dict[str, Any]) -> None:
        stamp = scores.next_timestamp(moment, previous[target])
        previous[target] = stamp
        sequence[target] += 1
        rows.append(
            {
                "portfolio_id": portfolio.id,
                "resource_link_id": portfolio.resource_link_id,
                "user_id": portfolio.user_id,
                "lms_user_id": sub,
                "target": target,
                "state": state,
                "sequence": sequence[target],
                "payload": payload_of(stamp),
                "line_item": line_item,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": HELD,
                "last_error": "",
            }
        )

    for step, state in enumerate(states):
        moment += dt.timedelta(days=step)
        add(
            MAIN,
            state,
            lambda stamp, state=state: scores.score_payload(
                state,
                user_id=sub,
                timestamp=stamp,
                feedback=FEEDBACK,
                certificate_number=number,
                credits=cert.credits,
                cpd_points=cert.credits * 10,
            ),
            scores.main_line_item(cert.code, cert.title),
        )
        if state == "awarded" and cert.credits > 0:
            add(
                CREDITS,
                state,
                lambda stamp: scores.credits_payload(
                    user_id=sub,
                    timestamp=stamp,
                    credits_earned=cert.credits,
                    credits_available=cert.credits,
                    certificate_number=number,
                    cpd_points=cert.credits * 10,
                ),
                scores.credits_line_item(cert.code, cert.credits),
            )
    return rows


def queue_jobs(world: World) -> None:
    """A fresh backlog: earlier runs' jobs, line items and cached tokens are gone; the jobs are held."""
    from sqlalchemy import delete, insert

    from lti_tool.grading.models import GradeJob, GradeLineItem, ServiceToken
    from lti_tool.store.db import db

    for model in (GradeJob, GradeLineItem, ServiceToken):
        db.session.execute(delete(model))
    db.session.execute(insert(GradeJob), world.jobs)
    db.session.commit()
    db.session.execute(db.text("ANALYZE grade_job"))
    db.session.commit()


def release_jobs() -> None:
    from sqlalchemy import update

    from lti_tool.grading.models import GradeJob
    from lti_tool.store.db import db, utcnow

    db.session.execute(update(GradeJob).values(next_attempt_at=utcnow()))
    db.session.commit()


def open_jobs() -> tuple[int, int]:
    """(pending or in progress, failed)."""
    from sqlalchemy import func, select

    from lti_tool.grading.models import FAILED, IN_PROGRESS, PENDING, GradeJob
    from lti_tool.store.db import db

    rows = dict(db.session.execute(select(GradeJob.status, func.count()).group_by(GradeJob.status)).all())
    db.session.commit()
    return rows.get(PENDING, 0) + rows.get(IN_PROGRESS, 0), rows.get(FAILED, 0)


# --- processes -----------------------------------------------------------------------------------------


def ags_server(tmp: Path, lifetime: int) -> Server:
    port = free_port()
    return Server(
        [sys.executable, str(ROOT / "bench" / "ags_server.py"), str(port), str(lifetime)],
        port,
        tmp / "ags.log",
        ready_path="/stats",
    )


def worker_env(overrides: dict[str, Any], db_url: str, schema: str, tmp: Path) -> dict[str, str]:
    options = quote(f"-csearch_path={schema}")
    sep = "&" if "?" in db_url else "?"
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LTI_TOOL_DATABASE_URL": f"{db_url}{sep}options={options}&application_name={WORKER_APP}",
        "LTI_TOOL_KEYS_DIR": overrides["KEYS_DIR"],
        "LTI_TOOL_INSTANCE_DIR": str(tmp / "worker"),
        "LTI_TOOL_SECRET_KEY": overrides["SECRET_KEY"],
        "LTI_TOOL_EVIDENCE_KEY": overrides["EVIDENCE_KEY"],
        "LTI_TOOL_SCHEMA_MODE": "check",
        "LTI_TOOL_DEMO_PLATFORM": "0",
        "LTI_TOOL_OUTBOUND_ALLOW_LOCAL": "1",  # the stand-in platform listens on loopback
        "LTI_TOOL_LOG_FORMAT": "json",
        "LTI_TOOL_GRADING_POLL_SECONDS": "0.2",
        "LTI_TOOL_HTTP_TIMEOUT": "30",
    }


def start_workers(count: int, env: dict[str, str], tmp: Path, label: str) -> list[subprocess.Popen]:
    """`lti-tool grading worker` processes, each up (schema checked, polling) before this returns."""
    procs = []
    for i in range(count):
        out = open(tmp / f"{label}-worker{i}.out", "wb")  # noqa: SIM115  (the process holds it)
        err = open(tmp / f"{label}-worker{i}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen([str(BIN / "lti-tool"), "grading", "worker"], env=env, cwd=ROOT, stdout=out, stderr=err)
        )
    deadline = time.monotonic() + 120
    for i, proc in enumerate(procs):
        while b"running" not in (tmp / f"{label}-worker{i}.out").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker {i} did not start; see {tmp / f'{label}-worker{i}.log'}")
            time.sleep(0.05)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # finishes the job in hand, then exits
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pg_pids(db_url: str) -> list[int]:
    from harness import pg_backend_pids

    return pg_backend_pids(db_url, WORKER_APP)


class GroupCpu:
    """CPU of a group of processes whose members may appear during the run (new PostgreSQL backends)."""

    def __init__(self, find: Any) -> None:
        self.find = find
        self.start = {pid: cpu_seconds(pid) for pid in find()}

    def used(self) -> float:
        return sum(cpu_seconds(pid) - self.start.get(pid, 0.0) for pid in set(self.find()) | set(self.start))


# --- one run -------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    workers: int
    seconds: float
    delivered: int
    failed: int
    stats: dict[str, Any]
    cpu: dict[str, float]
    machine_busy: float
    check: dict[str, int]
    attempts_over_one: int
    load_before: str
    timed_out: bool

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def run(
    count: int, world: World, env: dict[str, str], ags: Server, tmp: Path, db_url: str, timeout: float
) -> RunReport:
    queue_jobs(world)
    requests.post(ags.base + "/reset", timeout=10)
    procs = start_workers(count, env, tmp, f"w{count}")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        groups = {
            "workers": GroupCpu(lambda: [p.pid for p in procs]),
            "postgres": GroupCpu(lambda: pg_pids(db_url)),
            "ags server": GroupCpu(lambda: [ags.proc.pid]),
            "this script": GroupCpu(lambda: [os.getpid()]),
        }
        machine = machine_cpu()
        started = time.perf_counter()
        release_jobs()
        waiting, failed = open_jobs()
        while waiting and time.perf_counter() - started < timeout:
            time.sleep(0.05)
            waiting, failed = open_jobs()
        seconds = time.perf_counter() - started
        cpu = {name: g.used() for name, g in groups.items()}
        busy = machine_cpu()[0] - machine[0]
    finally:
        stop_workers(procs)
    stats = requests.get(ags.base + "/stats?detail=1", timeout=60).json()
    check, retried = verify(world, stats["received"])
    delivered = len(world.jobs) - waiting - failed
    return RunReport(count, seconds, delivered, failed, stats, cpu, busy, check, retried, load, bool(waiting))


def profile_run(world: World, ags: Server, path: Path, limit: int) -> None:
    """One worker in this process under cProfile (no timing figures: the profiler slows it)."""
    import cProfile
    import pstats

    from lti_tool.grading.worker import process_due_jobs

    queue_jobs(world)
    requests.post(ags.base + "/reset", timeout=10)
    release_jobs()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    done = 0
    with profiler:
        while done < limit and open_jobs()[0]:
            done += sum(process_due_jobs("profiler", limit=min(100, limit - done)).values())
    seconds = time.perf_counter() - started
    profiler.dump_stats(path)
    print(f"{done} jobs in {seconds:.1f} s under cProfile; profile in {path}")
    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(45)


def verify(world: World, received: list[list[str]]) -> tuple[dict[str, int], int]:
    """Each job's score arrived exactly once, nothing else arrived, and each learner's scores in order."""
    from sqlalchemy import select

    from lti_tool.grading.models import GradeJob, GradeLineItem
    from lti_tool.store.db import db

    items = {
        (r.resource_link_id, r.target): r.url.rsplit("/", 1)[-1] for r in db.session.scalars(select(GradeLineItem))
    }
    jobs = list(db.session.scalars(select(GradeJob)))
    expected = Counter(
        (
            world.link_platform[j.resource_link_id],
            items.get((j.resource_link_id, j.target), "?"),
            j.payload["userId"],
            j.payload["timestamp"],
        )
        for j in jobs
    )
    got = Counter(tuple(r) for r in received)
    last: dict[tuple[str, str, str], str] = {}
    out_of_order = 0
    for platform, item, user, stamp in received:
        key = (platform, item, user)
        out_of_order += key in last and stamp <= last[key]
        last[key] = stamp
    check = {
        "missing": sum((expected - got).values()),
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "unexpected": sum(n for k, n in got.items() if k not in expected),
        "out of order": out_of_order,
    }
    db.session.commit()
    return check, sum(1 for j in jobs if j.attempts > 1)


# --- report --------------------------------------------------------------------------------------------


def print_run(rep: RunReport, platforms: int, lifetime: int) -> None:
    stats, n = rep.stats, max(rep.delivered, 1)
    verdict = "meets" if rep.rate >= TARGET_RATE else "MISSES"
    print(
        f"\n[{rep.workers} worker process{'es' if rep.workers > 1 else ''}]  {rep.delivered} scores delivered in "
        f"{rep.seconds:.1f} s = {rep.rate:.0f} scores/s ({verdict} the target of {TARGET_RATE}/s)"
        + ("  TIMED OUT" if rep.timed_out else "")
        + f"; failed jobs {rep.failed}; load average before {rep.load_before}"
    )
    tokens = stats["token_requests"]
    per_platform = ", ".join(f"{p}: {tokens.get(str(p), 0)}" for p in range(1, platforms + 1))
    allowed = 1 + int(rep.seconds // max(lifetime - min(60, lifetime / 10), 1))
    worst = max((tokens.get(str(p), 0) for p in range(1, platforms + 1)), default=0)
    print(
        f"  token requests per platform: {per_platform} ({'ok' if worst <= allowed else 'TOO MANY'}: at most "
        f"{allowed} each with tokens living {lifetime} s)"
    )
    reqs = stats["requests"]
    total = sum(reqs.values()) + stats["unauthorized"]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(reqs.items()))
    print(
        f"  HTTP requests: {total} = {total / n:.3f} per score ({kinds}"
        f", answered 401 {stats['unauthorized']}); line items created {sum(stats['line_items'].values())}"
    )
    cpu = ", ".join(f"{k} {v / n * 1000:.2f} ms" for k, v in rep.cpu.items())
    cores = ", ".join(f"{k} {v / rep.seconds:.2f}" for k, v in rep.cpu.items())
    print(f"  CPU per score: {cpu}")
    print(
        f"  cores busy: {rep.machine_busy / rep.seconds:.2f} of {os.cpu_count()} ({cores}; other processes "
        f"{(rep.machine_busy - sum(rep.cpu.values())) / rep.seconds:.2f})"
    )
    check = ", ".join(f"{k} {v}" for k, v in rep.check.items())
    ok = not any(rep.check.values()) and not stats["invalid"] and not rep.failed
    print(
        f"  exactly once: {'ok' if ok else 'FAILED'} ({check}; scores refused as invalid {stats['invalid']}"
        + (f" first: {stats['first_invalid']}" if stats["invalid"] else "")
        + f"; jobs attempted more than once "
        f"{rep.attempts_over_one})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000, help="queued scores to deliver")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker process counts, one run each")
    parser.add_argument("--platforms", type=int, default=4)
    parser.add_argument("--links", type=int, default=200, help="resource links, spread over the platforms")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="expires_in of the platforms' tokens")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="instead: deliver --profile-jobs in this process under cProfile, stats to FILE",
    )
    parser.add_argument("--profile-jobs", type=int, default=2000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="lti-gradebench-"))
    print(f"Logs in {tmp}")
    from lti_tool.app import create_app
    from lti_tool.store.db import db

    ags = ags_server(tmp, args.token_lifetime)
    try:
        with pg_schema(args.database_url) as schema:
            overrides = app_overrides(args.database_url, schema, tmp)
            app = create_app(overrides)
            with app.app_context():
                world = seed_platforms(ags.base, args.platforms, args.links)
                seed_learners(world, args.jobs)
                print(
                    f"Seeded {len(world.jobs)} jobs for {world.learners} learners on {len(world.link_platform)} "
                    f"resource links of {args.platforms} platforms."
                )
                if args.profile:
                    profile_run(world, ags, args.profile, args.profile_jobs)
                    return
                env = worker_env(overrides, args.database_url, schema, tmp)
                reports = [run(c, world, env, ags, tmp, args.database_url, args.timeout) for c in counts]
                db.session.remove()
                db.engine.dispose()
    finally:
        ags.stop()
    print(
        f"\nMachine: {os.cpu_count()} cores, shared with whatever else runs on it (load average before each run "
        "is printed). PostgreSQL CPU is that of the workers' own backends."
    )
    for rep in reports:
        print_run(rep, args.platforms, args.token_lifetime)
    print(json.dumps({r.workers: round(r.rate) for r in reports}))


if __name__ == "__main__":
    main()

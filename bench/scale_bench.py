"""Scale benchmark: how three everyday pages hold up as the database grows to 100,000 learners, ~1,000,000
evidence items and ~200,000 submissions (PostgreSQL, in a schema of its own that is dropped at the end).

    .venv/bin/python bench/scale_bench.py                          # 1/10 of the size, then full size
    .venv/bin/python bench/scale_bench.py --learners 20000 --scales 0.5,1 --requests 100
    .venv/bin/python bench/scale_bench.py --pages queue,roster --keep   # keep the schema to EXPLAIN by hand
    .venv/bin/python bench/scale_bench.py --learners 10000 --scales 1 --pages learner --profile 30

The pages, each requested as the person who sees it, with the session a real LTI 1.3 launch gave them:
  learner   /portfolio/<id>         a learner's portfolio: evidence and the coverage of every criterion
  queue     /staff/queue/assessment an assessor's queue of submissions awaiting assessment (first page)
  home      /staff/                 the staff home: how many items wait in each of the person's queues
  roster    /grading/roster         an instructor's course roster (NRPS members merged with portfolios)

The data is seeded by bench/scale_seed.py (set-based INSERT ... SELECT, so the full size takes minutes, not
hours) into the tables the migrations create. Learners are added in rounds: the first measurement is made at
the first scale, then the same database grows to the next. Courses and staff are fixed, so what grows is
what a growing tool sees: bigger courses, longer queues, more rows around every learner's own.

Requests go through the Flask app in this process (app.test_client, cookies as a browser keeps them): the
latency is the app's and PostgreSQL's work, without HTTP or gunicorn. Each page is first requested once per
person (warm-up), then --requests times round-robin over the people (different learners, assessors and
courses). Printed per page and scale: p50 / p95 / max latency, SQL statements per request (counted with a
before_cursor_execute listener) and the page size; then whether the statement counts stayed the same as the
data grew. The target is a p95 under 50 ms with no statement count that grows with the data.
Figures depend on the machine and on what else runs on it: its load average is printed alongside.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import DEFAULT_PG_URL, pg_schema  # noqa: E402
from launch_bench import Platform, percentile  # noqa: E402
from scale_seed import (  # noqa: E402
    COURSES,
    INSTRUCTOR,
    LEARNER,
    SCOPES,
    Course,
    World,
    database_size,
    seed_learners,
    seed_reference,
    table_counts,
)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
TARGET_MS = 50.0
PAGES = ("learner", "queue", "home", "roster")
BASE = "http://localhost"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.contextmanager
def kept_schema(url: str) -> Iterator[str]:
    """Like harness.pg_schema, but left in place afterwards (to EXPLAIN queries by hand)."""
    import psycopg

    name = f"bench_kept_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name


def make_app(url: str, schema: str, tmp: Path) -> Any:
    from cryptography.fernet import Fernet

    from lti_tool.app import create_app
    from lti_tool.config import engine_options

    overrides = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {**engine_options(url), "connect_args": {"options": f"-csearch_path={schema}"}},
        # The tables come from the migrations, as in production (and as `lti-tool db upgrade` makes them).
        "SCHEMA_MODE": "upgrade",
        "INSTANCE_DIR": str(tmp / "instance"),
        "KEYS_DIR": str(tmp / "keys"),
        "SECRET_KEY": uuid.uuid4().hex,
        "EVIDENCE_KEY": Fernet.generate_key().decode(),
        "DEMO_PLATFORM": False,
        "OUTBOUND_ALLOW_LOCAL": True,  # the stand-in platform listens on loopback
        # Hundreds of launches from one address in a few seconds.
        "RATE_LIMIT_ENABLED": False,
    }
    app = create_app(overrides)
    logging.getLogger().setLevel(logging.WARNING)  # no log line per request on the terminal
    return app


# --- launching: a real session for each person ------------------------------------------------------


@dataclass(frozen=True)
class Person:
    label: str
    issuer: str
    client_id: str
    deployment_id: str
    sub: str
    roles: tuple[str, ...]
    course: Course | None


def launch(client: Any, platform: Platform, person: Person) -> str:
    """The whole LTI 1.3 launch a browser makes (login, signed id_token, launch, landing redirects), leaving
    the session cookie in `client`. Returns the path the person lands on."""
    course = person.course
    link_hint = course.link_id if course else f"staff-room-{person.sub}"
    resp = client.get(
        "/lti/login",
        query_string={
            "iss": person.issuer,
            "client_id": person.client_id,
            "login_hint": person.sub,
            "target_link_uri": BASE + "/lti/launch",
            "lti_message_hint": link_hint,
            "lti_deployment_id": person.deployment_id,
        },
    )
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.location).query)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": person.issuer,
        "aud": person.client_id,
        "sub": person.sub,
        "iat": now,
        "exp": now + 300,
        "nonce": query["nonce"][0],
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": person.deployment_id,
        CLAIM + "target_link_uri": BASE + "/lti/launch",
        CLAIM + "roles": list(person.roles),
    }
    if course is not None:
        claims |= {
            CLAIM + "resource_link": {"id": course.link_id},
            CLAIM + "context": {"id": course.context_id},
            CLAIM + "custom": {"certification": course.code},
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": SCOPES,
                "lineitems": f"{course.issuer}/ags/{course.context_id}/lineitems",
                "lineitem": f"{course.issuer}/ags/{course.context_id}/lineitems/1",
            },
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{course.issuer}/nrps/{course.context_id}",
                "service_versions": ["2.0"],
            },
        }
    else:  # staff open the tool from a staff room course of their own
        claims |= {
            CLAIM + "resource_link": {"id": link_hint},
            CLAIM + "context": {"id": link_hint},
            CLAIM + "custom": {"certification": "CMIACR"},
        }
    token = jwt.encode(claims, platform.key, algorithm="RS256", headers={"kid": platform.jwk["kid"]})
    resp = client.post("/lti/launch", data={"id_token": token, "state": query["state"][0]})
    assert resp.status_code == 303, resp.text
    for _ in range(6):
        location = urlsplit(resp.location).path
        resp = client.get(resp.location)
        if resp.status_code != 303:
            break
    assert resp.status_code == 200, f"{person.label} landed on {location} with {resp.status_code}"
    return location


def learners_to_measure(world: World, count: int) -> list[Person]:
    """Spread over everyone seeded so far (so over every state, course and partner)."""
    n = min(count, world.learners)
    out = []
    for j in range(n):
        i = j * world.learners // n
        course = world.courses[i % COURSES]
        out.append(
            Person(
                f"learner-{i}",
                course.issuer,
                course.client_id,
                course.deployment_id,
                f"learner-{i}",
                (LEARNER,),
                course,
            )
        )
    return out


def instructors_to_measure(world: World, count: int) -> list[Person]:
    n = min(count, len(world.courses))
    courses = [world.courses[j * len(world.courses) // n] for j in range(n)]
    return [
        Person(f"instructor-{c.k}", c.issuer, c.client_id, c.deployment_id, f"instructor-{c.k}", (INSTRUCTOR,), c)
        for c in courses
    ]


def assessors_to_measure(world: World) -> list[Person]:
    return [Person(a.sub, a.issuer, a.client_id, a.deployment_id, a.sub, (INSTRUCTOR,), None) for a in world.assessors]


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class PageResult:
    page: str
    people: int
    latencies: list[float] = field(default_factory=list)  # seconds
    statements: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    stopped: bool = False

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1000


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


def measure_page(
    page: str,
    targets: list[tuple[Any, str]],
    counter: StatementCounter,
    requests: int,
    max_seconds: float,
    profiler: cProfile.Profile | None = None,
) -> PageResult:
    result = PageResult(page, len(targets))
    warm_until = time.monotonic() + max_seconds / 3  # a slow page must leave time for the timed requests
    for client, url in targets:  # warm-up: each person's page once
        resp = client.get(url)
        assert resp.status_code == 200, f"{page} {url}: {resp.status_code}"
        if time.monotonic() > warm_until:
            break
    deadline = time.monotonic() + max_seconds
    for r in range(requests):
        client, url = targets[r % len(targets)]
        counter.count = 0
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        resp = client.get(url)
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
        assert resp.status_code == 200, f"{page} {url}: {resp.status_code}"
        result.latencies.append(elapsed)
        result.statements.append(counter.count)
        result.sizes.append(len(resp.data))
        if time.monotonic() > deadline:
            result.stopped = r + 1 < requests
            break
    return result


def measure(
    app: Any, world: World, platform: Platform, args: argparse.Namespace, counter: StatementCounter
) -> dict[str, PageResult]:
    people: dict[str, list[Person]] = {
        "learner": learners_to_measure(world, args.people),
        "queue": assessors_to_measure(world),
        "home": assessors_to_measure(world),
        "roster": instructors_to_measure(world, args.people),
    }
    paths: dict[str, Callable[[str], str]] = {
        "learner": lambda landed: landed,
        "queue": lambda _: "/staff/queue/assessment",
        "home": lambda _: "/staff/",
        "roster": lambda _: "/grading/roster",
    }
    results = {}
    sessions: dict[str, tuple[Any, str]] = {}
    for page in args.pages:
        targets = []
        for person in people[page]:
            if person.label not in sessions:
                client = app.test_client()
                sessions[person.label] = (client, launch(client, platform, person))
            client, landed = sessions[person.label]
            if page == "learner":
                assert landed.startswith("/portfolio/"), f"{person.label} landed on {landed}"
            targets.append((client, paths[page](landed)))
        profiler = cProfile.Profile() if args.profile else None
        results[page] = measure_page(page, targets, counter, args.requests, args.max_seconds, profiler)
        if profiler:
            print(f"\n-- cProfile of {page} ({len(results[page].latencies)} requests), by cumulative time:")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    return results


# --- reporting ----------------------------------------------------------------------------------------


def print_scale(
    learners: int, counts: dict[str, int], size: int, seed_seconds: float, results: dict[str, PageResult], load: str
) -> None:
    print(f"\n== {learners:,} learners: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"   schema {size / 2**30:.2f} GiB; seeded in {seed_seconds:.0f} s; load average {load}")
    print(
        f"   {'page':<8} {'people':>6} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  "
        f"{'SQL/request':>12} {'KiB':>6}  target"
    )
    for r in results.values():
        lo, hi = min(r.statements), max(r.statements)
        sql = f"{lo}" if lo == hi else f"{lo}-{hi}"
        verdict = "ok" if r.ms(95) < TARGET_MS else "MISSED"
        stopped = " (time budget reached)" if r.stopped else ""
        print(
            f"   {r.page:<8} {r.people:>6} {len(r.latencies):>8} {r.ms(50):>8.1f} {r.ms(95):>8.1f} "
            f"{r.max_ms:>8.1f}  {sql:>12} {statistics.mean(r.sizes) / 1024:>6.0f}  {verdict}{stopped}"
        )


def print_growth(rounds: list[tuple[int, dict[str, PageResult]]]) -> None:
    if len(rounds) < 2:
        return
    (small, first), (large, last) = rounds[0], rounds[-1]
    print(f"\nSQL statements per request, {small:,} -> {large:,} learners (most frequent count, max):")
    for page, r in last.items():
        if page not in first:
            continue
        before, after = first[page], r
        a = (statistics.mode(before.statements), max(before.statements))
        b = (statistics.mode(after.statements), max(after.statements))
        # Either figure growing counts: a page capped at N items can keep its maximum while its usual count grows.
        verdict = "same" if b[0] <= a[0] and b[1] <= a[1] else "GROWS"
        print(
            f"   {page:<8} {a[0]} (max {a[1]}) -> {b[0]} (max {b[1]})  {verdict};  "
            f"p95 {before.ms(95):.1f} -> {after.ms(95):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=100_000, help="learners at full size (scale 1)")
    parser.add_argument("--scales", default="0.1,1", help="comma-separated fractions of --learners, ascending")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page and scale")
    parser.add_argument("--people", type=int, default=200, help="learners and instructors (courses) measured")
    parser.add_argument("--pages", default=",".join(PAGES), help=f"any of {', '.join(PAGES)}")
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="stop a page's timed requests after this long (for slow pages)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run each page's timed requests under cProfile and print its top N functions",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed) to EXPLAIN by hand")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = set(args.pages) - set(PAGES)
    if unknown:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))}")
    scales = [float(s) for s in args.scales.split(",")]
    sizes = [max(1, round(args.learners * s)) for s in scales]
    if sizes != sorted(sizes):
        parser.error("--scales must be ascending (the database grows from one to the next)")

    from sqlalchemy import event

    from lti_tool.store.db import db

    print(f"Load average before: {load_average()} ({os.cpu_count()} CPUs)")
    platform = Platform()
    tmp = Path(tempfile.mkdtemp(prefix="lti-scale-"))
    rounds: list[tuple[int, dict[str, PageResult]]] = []
    with kept_schema(args.database_url) if args.keep else pg_schema(args.database_url) as schema:
        print(f"Schema {schema}")
        app = make_app(args.database_url, schema, tmp)
        counter = StatementCounter()
        with app.app_context():
            world = seed_reference(platform.jwks)
            event.listen(db.engine, "before_cursor_execute", counter)
        lo = 0
        for hi in sizes:
            started = time.perf_counter()
            timing = seed_learners(args.database_url, schema, world, lo, hi)
            print(
                f"\nSeeded learners {lo:,}..{hi - 1:,} in {time.perf_counter() - started:.0f} s: "
                + ", ".join(f"{label} {s:.1f}" for label, s in timing.steps if s >= 0.5)
            )
            lo = hi
            load = load_average()
            results = measure(app, world, platform, args, counter)
            print_scale(
                hi,
                table_counts(args.database_url, schema),
                database_size(args.database_url, schema),
                timing.total,
                results,
                load,
            )
            rounds.append((hi, results))
        print_growth(rounds)
        print(f"\nLoad average after: {load_average()}")
        with app.app_context():
            db.engine.dispose()
        if args.keep:
            print(
                f"Schema {schema} kept: psql {args.database_url} -c 'SET search_path = {schema}' ...; "
                f'drop it with DROP SCHEMA "{schema}" CASCADE'
            )


if __name__ == "__main__":
    main()

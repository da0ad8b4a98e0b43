"""Where a launch spends its time: the same flow as launch_bench.py, one learner after another, in this
process through Flask's test client on PostgreSQL, under cProfile, with the SQL statements counted.

    .venv/bin/python bench/profile_launch.py [--launches 300] [--sort tottime] [--top 40] [--sql]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import DEFAULT_PG_URL, jwks_server, pg_schema  # noqa: E402
from launch_bench import CLIENT_ID, COURSES, DEPLOYMENT_ID, ISSUER, PAGE_MARK, Platform, register_platform  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=300)
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sql", action="store_true", help="print each distinct SQL statement and its count")
    parser.add_argument("--sql-width", type=int, default=150, help="characters of each statement to print")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print the SQL statements of one returning learner's launch, request by request",
    )
    parser.add_argument(
        "--by-package",
        action="store_true",
        help="also print the profiled time by the package its code is in (sqlalchemy, jinja2, lti_tool.launch...)",
    )
    parser.add_argument(
        "--callees", metavar="PATTERN", help="also print what the functions matching PATTERN (a regex) called"
    )
    parser.add_argument("--no-profile", action="store_true", help="only time the launches (no profiler overhead)")
    parser.add_argument(
        "--only",
        choices=("login", "launch", "page"),
        help="profile only this request of each launch (GET /lti/login, POST /lti/launch, the first page)",
    )
    parser.add_argument("--database-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()

    from cryptography.fernet import Fernet
    from sqlalchemy import event

    from lti_tool.app import create_app
    from lti_tool.config import engine_options
    from lti_tool.store.db import db

    platform = Platform()
    tmp = Path(tempfile.mkdtemp(prefix="lti-profile-"))
    jwks = jwks_server(platform.jwks, tmp / "jwks.log")
    try:
        with pg_schema(args.database_url) as schema:
            overrides = {
                "SQLALCHEMY_DATABASE_URI": args.database_url,
                "SQLALCHEMY_ENGINE_OPTIONS": {
                    **engine_options(args.database_url),
                    "connect_args": {"options": f"-csearch_path={schema}"},
                },
                "INSTANCE_DIR": str(tmp / "instance"),
                "KEYS_DIR": str(tmp / "keys"),
                "SECRET_KEY": uuid.uuid4().hex,
                "EVIDENCE_KEY": Fernet.generate_key().decode(),
                "DEMO_PLATFORM": False,
                "OUTBOUND_ALLOW_LOCAL": True,  # the stand-in platform listens on loopback
                # Every simulated learner comes from 127.0.0.1: the per-IP limit stays on (its cost is measured) but
                # high enough never to refuse.
                "RATE_LIMIT_LAUNCH": "1000000/minute",
                "SCHEMA_MODE": "upgrade",  # a fresh schema: the workers migrate it under the start-up lock
            }
            register_platform(overrides, jwks.base + "/jwks")
            app = create_app(overrides)
            logging.getLogger().setLevel(logging.WARNING)  # no line per launch on the terminal
            client = app.test_client()
            base = "http://localhost"
            statements: Counter[str] = Counter()
            commits = [0]
            hops = [0]
            with app.app_context():
                trace: list[str] = []
                event.listen(
                    db.engine,
                    "before_cursor_execute",
                    lambda conn, cur, stmt, *a: (statements.update([stmt]), trace.append(stmt)),
                )
                event.listen(db.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))

            profiler = cProfile.Profile(time.process_time)
            by_request: Counter[str] = Counter()
            statements_by_request: Counter[str] = Counter()

            only = {"login": "GET /lti/login", "launch": "POST /lti/launch", "page": "GET /portfolio/<id>"}.get(
                args.only or ""
            )
            profiling = [False]  # the timed run has begun

            def request(method: str, url: str, **kwargs: object) -> object:
                path = url.split("?")[0].removeprefix(base)
                name = f"{method} {'/portfolio/<id>' if path.startswith('/portfolio/') else path}"
                trace.append(f"--- {method} {path}")
                observed = only is not None and name == only and profiling[0]
                if observed:
                    profiler.enable()
                started = time.process_time()
                before = sum(statements.values())
                try:
                    return client.open(url, method=method, **kwargs)
                finally:
                    if observed:
                        profiler.disable()
                    by_request[name] += time.process_time() - started
                    statements_by_request[name] += sum(statements.values()) - before

            def flow(n: int) -> None:
                client._cookies.clear()
                resp = request(
                    "GET",
                    "/lti/login",
                    query_string={
                        "iss": ISSUER,
                        "client_id": CLIENT_ID,
                        "login_hint": "x",
                        "target_link_uri": base + "/lti/launch",
                        "lti_message_hint": f"link-{n % COURSES}",
                        "lti_deployment_id": DEPLOYMENT_ID,
                    },
                )
                assert resp.status_code == 302, resp.text
                query = parse_qs(urlsplit(resp.location).query)
                token = platform.id_token(n % args.learners, query["nonce"][0], base + "/lti/launch")
                resp = request("POST", "/lti/launch", data={"id_token": token, "state": query["state"][0]})
                assert resp.status_code == 303, resp.text
                hops[0] += 1
                while resp.status_code in (302, 303):  # as a browser: to the first real page
                    resp = request("GET", resp.location)
                    hops[0] += 1
                assert resp.status_code == 200 and PAGE_MARK in resp.data, resp.text

            for n in range(args.learners):  # first launches (users, memberships) and warm caches
                flow(n)
            if args.trace:
                trace.clear()
                flow(0)
                for line in trace:
                    print(line if line.startswith("---") else "    " + " ".join(line.split())[: args.sql_width])
                return
            statements.clear()
            by_request.clear()
            statements_by_request.clear()
            commits[0] = 0
            hops[0] = 0
            started = time.process_time()
            profiling[0] = not args.no_profile
            if profiling[0] and only is None:
                profiler.enable()
            for n in range(args.launches):
                flow(n)
            profiler.disable()
            cpu = time.process_time() - started
            with app.app_context():
                db.engine.dispose()
    finally:
        jwks.stop()
    calls = ""
    if not args.no_profile:
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.top)
        if args.callees:
            stats.print_callees(args.callees)
            stats.print_callers(args.callees)
        # Python function calls: steadier than CPU time on a busy machine, to compare one change with another.
        calls = f"{stats.total_calls / args.launches:,.0f} Python function calls per launch ({only or 'all'}); "  # type: ignore[attr-defined]
        if args.by_package:
            print_by_package(stats, args.launches)
    total = sum(statements.values())
    overhead = "" if args.no_profile else ", and the profiler's own overhead"
    print(
        f"{args.launches} launches: {cpu / args.launches * 1000:.2f} ms CPU each (Flask's test client and the "
        f"platform's signing included{overhead}); {calls}{total / args.launches:.1f} SQL statements and "
        f"{commits[0] / args.launches:.1f} commits per launch, "
        f"{hops[0] / args.launches:.1f} HTTP requests per launch"
    )
    for name, seconds in by_request.most_common():
        print(
            f"  {name}: {seconds / args.launches * 1000:.2f} ms CPU, "
            f"{statements_by_request[name] / args.launches:.1f} SQL statements per launch"
        )
    if args.sql:
        for stmt, count in statements.most_common():
            print(f"{count / args.launches:5.2f}  {' '.join(stmt.split())[: args.sql_width]}")


def package_of(filename: str) -> str:
    """`sqlalchemy`, `jinja2`, `lti_tool.launch`, `(templates)`, `(stdlib)`... for a profiled function's file."""
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lti_tool/templates/" in path or path.endswith(".html"):
        return "(templates)"
    if "/lti_tool/" in path:
        parts = path.split("/lti_tool/", 1)[1].split("/")
        return "lti_tool." + parts[0].removesuffix(".py") if len(parts) > 1 else "lti_tool"
    if path.startswith("~") or path.startswith("<"):
        return "(built-in)"
    return "(stdlib)"


def print_by_package(stats: pstats.Stats, launches: int) -> None:
    """Own time (tottime) and calls summed per package: where the time is spent rather than which call leads to
    it. The profiler's per-call overhead weighs on code made of many small calls (templates, the ORM) more than
    on code that spends its time in C (signatures, the database driver's waits); the calls are steady."""
    own: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for (filename, _line, _name), (_cc, nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and callers:
            # A built-in (str.join, a socket's recv, an RSA signature) counts for the package that called it.
            for (caller_file, _l, _n), edge in callers.items():
                own[package_of(caller_file)] += edge[2]
                calls[package_of(caller_file)] += edge[1]
        else:
            own[package_of(filename)] += tottime
            calls[package_of(filename)] += nc
    total = sum(own.values()) or 1.0
    print("own time and Python calls per launch by package:")
    for package, seconds in own.most_common(20):
        print(f"  {100 * seconds / total:5.1f}%  {calls[package] / launches:8,.0f}  {package}")


if __name__ == "__main__":
    main()

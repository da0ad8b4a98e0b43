"""Launch benchmark: the whole LTI 1.3 launch of many learners at once, the tool against a plain-pylti1p3
baseline, both under the same gunicorn settings on loopback, with PostgreSQL for the tool.

    .venv/bin/python bench/launch_bench.py                      # both, default settings
    .venv/bin/python bench/launch_bench.py --target ours --duration 30 --workers 4 --worker-class sync

Each simulated learner does what a browser does after clicking the activity in an LMS:
GET /lti/login (third-party initiated login) -> read state and nonce from the redirect to the platform ->
the platform signs an id_token (RS256, inside the client: it carries the nonce, so it cannot be signed ahead;
its time is in the latency and also printed apart) -> POST /lti/launch with the state cookie -> GET the page
the launch redirects to, with the session it set, following the redirects to the learner's portfolio page
(created on the first launch). Latency is that whole flow. Each learner comes with a new browser (no cookies,
a new connection, kept alive for that learner's requests), so the gunicorn workers share the load as they
accept connections; the warm-up is repeated until every worker has had a fair share of it.

The platform registers with its JWKS URL, served by a small local server (bench/jwks_server.py): the tool
caches the key set in its database, the baseline fetches it at every launch as pylti1p3 does without a cache.
Also printed: the cost of the RS256 verification alone (jwt.decode of the same tokens, in this process),
the CPU each party used during the timed run (PostgreSQL: every backend of the tool's connections seen
during it, those opened meanwhile too), and the resident memory of each gunicorn worker at rest.
Numbers vary with the machine and with whatever else runs on it: the machine's own load is printed too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    DEFAULT_PG_URL,
    ROOT,
    CpuMeter,
    FollowedProcesses,
    Gunicorn,
    GunicornSettings,
    cpu_seconds,
    jwks_server,
    pg_backend_finder,
    pg_schema,
    pss_kib,
    rss_kib,
)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ISSUER = "https://lms.bench.example"
CLIENT_ID = "bench-client"
CERTIFICATION = "CMIACR"
PAGE_MARK = b"Central Monitor"  # on the learner's portfolio page: the launch reached the real first page
MAX_REDIRECTS = 5
BASELINE_MARK = b"Welcome"  # the baseline's first page (it has no portfolio)
DEPLOYMENT_ID = "bench-deployment"
COURSES = 20
APP_NAME = "lti-bench"  # PostgreSQL application_name of the tool's connections, to find their backends


class Platform:
    """The simulated LMS: its RSA key and the id_tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwk_obj = JWK.from_pem(public_pem)
        self.jwk = {**json.loads(jwk_obj.export_public()), "kid": jwk_obj.thumbprint(), "alg": "RS256", "use": "sig"}
        self.jwks = {"keys": [self.jwk]}

    def id_token(self, learner: int, nonce: str, launch_url: str, extra: dict[str, Any] | None = None) -> str:
        """`extra` adds or replaces claims (e.g. the custom parameters a placement carries)."""
        now = int(time.time())
        course = learner % COURSES
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": f"learner-{learner}",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": f"Learner {learner}",
            "given_name": "Learner",
            "family_name": str(learner),
            "email": f"learner{learner}@bench.example",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT_ID,
            CLAIM + "target_link_uri": launch_url,
            CLAIM + "resource_link": {"id": f"link-{course}", "title": "Portfolio"},
            CLAIM + "custom": {"certification": CERTIFICATION, "route": "training"},
            CLAIM + "context": {"id": f"course-{course}", "title": f"Course {course}", "label": f"C{course}"},
            CLAIM + "roles": [LEARNER_ROLE],
            **(extra or {}),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.jwk["kid"]})


# --- the client ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    flows: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sign_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    tokens: list[str] = field(default_factory=list)
    cpu: CpuMeter | None = None


class FlowError(Exception):
    pass


class Browser:
    """Just enough browser for a launch, on http.client: one connection (kept alive when the server allows)
    and the cookies of one site. `new_learner` makes it a new browser: no cookies, a new connection.

    Not requests: it cost about 1.3 ms of CPU per request here, and the client shares the machine's two
    cores with the server, so every millisecond the client saves is one the server gets.
    """

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def new_learner(self) -> None:
        """Each learner comes with their own browser, so with their own connection: gunicorn's workers then
        share the learners as they accept connections, rather than one worker keeping every kept-alive
        connection it accepted first (the warm-up then warmed one worker only, and the timed run's load
        stayed wherever the first connections landed)."""
        self.cookies.clear()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, url: str, form: dict[str, str] | None = None) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.body = resp.read()  # type: ignore[attr-defined]
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server had closed meanwhile: nothing was processed, try anew.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if resp.will_close:
            self.conn.close()
            self.conn = None
        for header in resp.headers.get_all("Set-Cookie") or []:
            # By hand: http.cookies drops a whole header with an attribute it does not know (Partitioned).
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            max_age = next(
                (a.split("=", 1)[1].strip() for a in attributes.split(";") if a.strip().lower().startswith("max-age=")),
                None,
            )
            if max_age in ("0", "-1"):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return resp


def one_flow(
    browser: Browser, base: str, platform: Platform, learner: int, mark: bytes = PAGE_MARK
) -> tuple[float, float, str]:
    """One learner's launch, as a browser does it: (latency, seconds spent signing, the id_token)."""
    browser.new_learner()  # nothing carried over from the previous learner: cookies, connection
    launch_url = base + "/lti/launch"
    start = time.perf_counter()
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
                "lti_message_hint": f"link-{learner % COURSES}",
                "lti_deployment_id": DEPLOYMENT_ID,
            }
        ),
    )
    if resp.status != 302:
        raise FlowError(f"login: HTTP {resp.status} {resp.body[:200]!r}")
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    signed = time.perf_counter()
    token = platform.id_token(learner, query["nonce"][0], launch_url)
    sign_seconds = time.perf_counter() - signed
    resp = browser.request("POST", launch_url, {"id_token": token, "state": query["state"][0]})
    if resp.status not in (302, 303):
        raise FlowError(f"launch: HTTP {resp.status} {resp.body[:200]!r}")
    for _hop in range(MAX_REDIRECTS):  # as a browser: follow the tool's redirects to its first page
        resp = browser.request("GET", urljoin(base, resp.headers["Location"]))
        if resp.status not in (302, 303):
            break
    if resp.status != 200 or mark not in resp.body:
        raise FlowError(f"first page: HTTP {resp.status} {resp.body[:200]!r}")
    return time.perf_counter() - start, sign_seconds, token


def run_clients(
    base: str,
    platform: Platform,
    clients: int,
    learners: int,
    *,
    mark: bytes = PAGE_MARK,
    duration: float | None = None,
    count: int | None = None,
    meter: CpuMeter | None = None,
) -> RunResult:
    """`clients` threads launch learners round-robin until `duration` seconds or `count` flows are done."""
    result = RunResult()
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = [0.0]

    def worker() -> None:
        browser = Browser(base)
        latencies: list[float] = []
        tokens: list[str] = []
        signing = 0.0
        while True:
            with lock:
                n = next(counter)
            if (count is not None and n >= count) or (duration is not None and time.perf_counter() >= deadline[0]):
                break
            try:
                latency, sign_seconds, token = one_flow(browser, base, platform, n % learners, mark)
                latencies.append(latency)
                tokens.append(token)
                signing += sign_seconds
            except (FlowError, OSError, http.client.HTTPException, KeyError) as exc:
                kind = type(exc).__name__
                with lock:
                    result.errors[kind] = result.errors.get(kind, 0) + 1
                    result.first_error = result.first_error or str(exc)
        with lock:
            result.latencies.extend(latencies)
            result.tokens.extend(tokens)
            result.sign_seconds += signing

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    if meter:
        meter.start()
    started = time.perf_counter()
    deadline[0] = started + (duration or 0)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    if meter:
        meter.stop()
        result.cpu = meter
    result.flows = len(result.latencies)
    return result


# --- the two servers -----------------------------------------------------------------------------------


def start_ours(
    settings: GunicornSettings, db_url: str, schema: str, tmp: Path, jwks_url: str, engine_options: dict[str, Any]
) -> Gunicorn:
    from cryptography.fernet import Fernet

    from lti_tool.config import engine_options as default_engine_options

    overrides = {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            **default_engine_options(db_url),
            **engine_options,
            "connect_args": {"options": f"-csearch_path={schema}", "application_name": APP_NAME},
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
    # Every worker starts at once on an empty schema: tables and keys are made under the startup lock.
    server = Gunicorn(f"lti_tool.app:create_app({overrides!r})", settings, tmp / "ours.log", ready_path="/healthz")
    register_platform(overrides, jwks_url)
    return server


def register_platform(overrides: dict[str, Any], jwks_url: str) -> None:
    """What `lti-tool registration add` does, in this process (the schema is only reachable this way)."""
    from lti_tool.app import create_app
    from lti_tool.audit.actor import Actor
    from lti_tool.identity.partners import add_partner, set_deployment_partner
    from lti_tool.launch.models import Deployment, Registration
    from lti_tool.portfolio.catalogue.importer import import_catalogue
    from lti_tool.portfolio.catalogue.offerings import offer_certification
    from lti_tool.store.db import db

    app = create_app(overrides)
    with app.app_context():
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
        db.session.flush()
        # A partner that owns the deployment and offers the shipped certifications, so that the first page
        # is the learner's real portfolio, created on the first launch, as in production.
        bench = Actor(label="bench")
        partner = add_partner(bench, "bench-academy", "Bench Academy", "academy")
        import_catalogue(actor_label="bench")
        offer_certification(partner, CERTIFICATION, actor_label="bench")
        set_deployment_partner(bench, reg.deployments[0], partner)
        db.session.commit()
        db.engine.dispose()


def start_baseline(settings: GunicornSettings, tmp: Path, jwks_url: str, tool_key: rsa.RSAPrivateKey) -> Gunicorn:
    folder = tmp / "baseline"
    folder.mkdir()
    (folder / "private.key").write_bytes(
        tool_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (folder / "public.key").write_bytes(
        tool_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config = {
        ISSUER: [
            {
                "default": True,
                "client_id": CLIENT_ID,
                "auth_login_url": ISSUER + "/auth",
                "auth_token_url": ISSUER + "/token",
                "key_set_url": jwks_url,
                "key_set": None,
                "private_key_file": str(folder / "private.key"),
                "public_key_file": str(folder / "public.key"),
                "deployment_ids": [DEPLOYMENT_ID],
            }
        ]
    }
    (folder / "config.json").write_text(json.dumps(config))
    spec = f"baseline_app:create_app({str(folder / 'config.json')!r}, {uuid.uuid4().hex!r})"
    return Gunicorn(spec, settings, tmp / "baseline.log", ready_path="/start", pythonpath=ROOT / "bench")


# --- measuring and reporting ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def verify_cost(platform: Platform, tokens: list[str]) -> float:
    """Seconds per RS256 verification of the run's own id_tokens with an already parsed public key."""
    sample = tokens[-3000:]
    key = platform.key.public_key()
    start = time.perf_counter()
    for token in sample:
        jwt.decode(token, key, algorithms=["RS256"], audience=CLIENT_ID, leeway=600)
    return (time.perf_counter() - start) / len(sample)


@dataclass
class TargetReport:
    name: str
    run: RunResult
    rss_after_warmup: list[int]
    rss_after_run: list[int]
    pss_after_run: list[int]
    pg_backends_seen: int
    verify_seconds: float
    warm_share: list[float]
    run_share: list[float]

    @property
    def rate(self) -> float:
        return self.run.flows / self.run.seconds


def measure(
    name: str, server: Gunicorn, platform: Platform, args: argparse.Namespace, jwks_pid: int, db_url: str
) -> TargetReport:
    mark = PAGE_MARK if name == "ours" else BASELINE_MARK
    workers = server.workers()
    before = [cpu_seconds(p) for p in workers]
    warm_tokens: list[str] = []
    # Every worker must have served a fair share of the warm-up (its pool, caches and code paths warm), or the
    # timed run starts with one worker cold: repeat the warm-up (at most 3 times) until each has.
    for _round in range(3):
        warm = run_clients(server.base, platform, args.clients, args.learners, mark=mark, count=args.learners)
        if warm.errors:
            raise SystemExit(f"{name}: warm-up failed {warm.errors}: {warm.first_error}\nlog: {server.log_path}")
        warm_tokens = warm.tokens
        warm_cpu = [cpu_seconds(p) - b for p, b in zip(workers, before, strict=True)]
        if min(warm_cpu) >= 0.5 * sum(warm_cpu) / len(warm_cpu):
            break
    warm_share = [c / max(sum(warm_cpu), 1e-9) for c in warm_cpu]
    time.sleep(1.0)
    rss_warm = [rss_kib(p) for p in workers]
    followed: dict[str, FollowedProcesses] = {}
    close_finder = None
    if name == "ours":
        # Every backend of the tool's connections seen during the run, those its pool opens meanwhile too.
        find, close_finder = pg_backend_finder(db_url, APP_NAME)
        followed["postgres"] = FollowedProcesses(find)
    meter = CpuMeter(groups={"server": [server.proc.pid, *workers], "jwks": [jwks_pid]}, followed=followed)
    worker_before = [cpu_seconds(p) for p in workers]
    verify_before = verify_cost(platform, warm_tokens)
    try:
        run = run_clients(
            server.base, platform, args.clients, args.learners, mark=mark, duration=args.duration, meter=meter
        )
    finally:
        if close_finder:
            close_finder()
    if "postgres" not in meter.used:
        meter.used["postgres"] = 0.0
    run_cpu = [cpu_seconds(p) - b for p, b in zip(workers, worker_before, strict=True)]
    run_share = [c / max(sum(run_cpu), 1e-9) for c in run_cpu]
    pg_seen = followed["postgres"].seen if followed else 0
    # Just before and just after the run, so that it sees about the same machine (other load comes and goes).
    verify = (verify_before + verify_cost(platform, run.tokens)) / 2
    time.sleep(1.0)
    rss_run = [rss_kib(p) for p in server.workers()]
    pss_run = [pss_kib(p) for p in server.workers()]
    return TargetReport(name, run, rss_warm, rss_run, pss_run, pg_seen, verify, warm_share, run_share)


def print_report(
    reports: list[TargetReport], platform: Platform, args: argparse.Namespace, settings: GunicornSettings
) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nMachine: {cores} cores, load average before the run {args.load_before}. "
        f"Server: gunicorn, {settings.label()}. Clients: {args.clients} threads, one process, "
        f"{args.learners} learners in {COURSES} courses, {args.duration:.0f} s per target after warm-up. "
        f"Platform JWKS answers " + (f"after {args.jwks_delay_ms:.0f} ms." if args.jwks_delay_ms else "at once.")
    )
    for rep in reports:
        run, cpu = rep.run, rep.run.cpu
        assert cpu is not None
        lat = [x * 1000 for x in run.latencies]
        print(
            f"\n[{rep.name}]  {run.flows} launches in {run.seconds:.1f} s = {rep.rate:.0f} launches/s"
            f"   errors: {sum(run.errors.values())}" + (f" {run.errors} first: {run.first_error}" if run.errors else "")
        )
        print(
            f"  whole flow latency (login + launch + first page): p50 {percentile(lat, 50):.1f} ms, "
            f"p95 {percentile(lat, 95):.1f} ms, p99 {percentile(lat, 99):.1f} ms, mean {statistics.mean(lat):.1f} ms"
        )
        per = {k: v / max(run.flows, 1) * 1000 for k, v in cpu.used.items()}
        other = cpu.machine_busy - sum(cpu.used.values())
        print(
            f"  CPU per launch: server {per['server']:.2f} ms, postgres {per['postgres']:.2f} ms, "
            f"jwks server {per['jwks']:.2f} ms, client {per['client']:.2f} ms "
            f"(of which signing {run.sign_seconds / max(run.flows, 1) * 1000:.2f} ms)"
        )
        own = per["server"] + per["postgres"] + per["jwks"] + per["client"]
        print(
            f"  with the {cores} cores to itself at this CPU per launch (server, postgres, jwks server and "
            f"client): at most {cores * 1000 / own:.0f} launches/s"
        )
        print(
            f"  cores busy during the run: {cpu.machine_busy / run.seconds:.2f} of {cores} "
            f"(server {cpu.used['server'] / run.seconds:.2f}, postgres {cpu.used['postgres'] / run.seconds:.2f}, "
            f"client {cpu.used['client'] / run.seconds:.2f}, jwks {cpu.used['jwks'] / run.seconds:.2f}, "
            f"other processes {other / run.seconds:.2f})"
        )
        print(
            f"  share of the server CPU by worker: warm-up "
            f"{' / '.join(f'{x:.0%}' for x in rep.warm_share)}, run {' / '.join(f'{x:.0%}' for x in rep.run_share)}"
            + (f"; PostgreSQL backends seen during the run: {rep.pg_backends_seen}" if rep.name == "ours" else "")
        )
        print(
            f"  memory per worker at rest (VmRSS): after warm-up "
            f"{', '.join(f'{r / 1024:.1f}' for r in rep.rss_after_warmup)} MiB; after the run "
            f"{', '.join(f'{r / 1024:.1f}' for r in rep.rss_after_run)} MiB (PSS, shared pages divided: "
            f"{', '.join(f'{r / 1024:.1f}' for r in rep.pss_after_run)} MiB)"
        )
        verify = rep.verify_seconds
        print(
            f"  RS256 verification alone (jwt.decode of the run's id_tokens, parsed key, in this process, "
            f"before and after the run): {verify * 1e6:.0f} us"
        )
        print(f"  server CPU per launch / RS256 verification: {per['server'] / 1000 / verify:.0f}x")
    if len(reports) == 2:
        ours, base = reports
        cpu_ours = ours.run.cpu.used["server"] / ours.run.flows
        cpu_base = base.run.cpu.used["server"] / base.run.flows
        print(
            f"\nours / baseline: throughput {ours.rate / base.rate:.2f}x, p99 latency "
            f"{percentile(ours.run.latencies, 99) / percentile(base.run.latencies, 99):.2f}x, "
            f"server CPU per launch {cpu_ours / cpu_base:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["both", "ours", "baseline"], default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="gthread")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker with --worker-class gthread")
    parser.add_argument("--preload", action="store_true", help="gunicorn --preload (app loaded before forking)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent simulated browsers")
    parser.add_argument("--learners", type=int, default=500, help="distinct learners (first launches in warm-up)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of timed launches per target")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--jwks-delay-ms",
        type=float,
        default=0.0,
        help="the platform's JWKS answers after this long, as across the internet (default: at once)",
    )
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="SQLAlchemy engine option for the tool, e.g. pool_pre_ping=false (to compare settings)",
    )
    args = parser.parse_args()
    args.load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    settings = GunicornSettings(args.workers, args.worker_class, args.threads, args.preload)

    platform = Platform()
    tmp = Path(tempfile.mkdtemp(prefix="lti-bench-"))
    print(f"Logs and keys in {tmp}")
    jwks = jwks_server(platform.jwks, tmp / "jwks.log", args.jwks_delay_ms)
    reports: list[TargetReport] = []
    try:
        with pg_schema(args.database_url) as schema:
            if args.target in ("both", "ours"):
                engine_options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.engine_option)}
                server = start_ours(settings, args.database_url, schema, tmp, jwks.base + "/jwks", engine_options)
                try:
                    reports.append(measure("ours", server, platform, args, jwks.proc.pid, args.database_url))
                finally:
                    server.stop()
            if args.target in ("both", "baseline"):
                tool_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                server = start_baseline(settings, tmp, jwks.base + "/jwks", tool_key)
                try:
                    reports.append(measure("baseline", server, platform, args, jwks.proc.pid, args.database_url))
                finally:
                    server.stop()
    finally:
        jwks.stop()
    print_report(reports, platform, args, settings)


if __name__ == "__main__":
    main()

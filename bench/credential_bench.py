"""Credential benchmark: award portfolios (each award issues its signed credential, as the second verifier's
confirmation does), verify the credentials, and print where the time goes. A script that prints figures, not
a test.

    .venv/bin/python bench/credential_bench.py                      # 3 rounds of 40 awards
    .venv/bin/python bench/credential_bench.py --awards 100 --rounds 5
    .venv/bin/python bench/credential_bench.py --profile --top 30   # and cProfile's top functions

A throw-away instance (SQLite, its own issuer keys) in a temporary folder. Each round seeds `--awards`
portfolios waiting for the second verifier, with their Award rows (not timed), then times each award: the
transition to 'awarded' with its listeners (the credential signed as VC-JWT and with an embedded
eddsa-rdfc-2022 proof, the grade job, the notices) and the commit, which is what the verifier's request does
beyond its own page; and, for as many other awards, the credential alone (`issue_for_award` and the commit,
as `lti-tool credential issue` does for an award that has none). Then each credential is verified: the
embedded proof (`verify_json_here`, RDFC-1.0 canonicalization) and the VC-JWT (`verify_here`), both with the
status list.

Printed, wall-clock and CPU time (this process's) in ms per operation: the first award in a fresh process
(the JSON-LD contexts read and processed once), then each round; then, on one credential, the parts of an
issue (canonical N-Quads of the document and of the proof configuration, the strict JSON-LD check, the
signatures); then a cProfile of the awards and of the verifications in buckets (JSON-LD expansion and its
context processing and resolution, RDF, RDFC-1.0, signatures; the rest is the database, the ORM and the
workflow). cProfile slows Python code more than C code, so its shares are indications. This VM's speed varies
between minutes: compare runs made one after another.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVIDENCE_KEY = "mZ9b2Zr6v3JmQp6b7Qk9y3K1o8x9dVf2h4c6e8g0i2k="

# (file path ending, function name) -> bucket; cumulative time, so a bucket includes what it calls.
BUCKETS: list[tuple[str, list[tuple[str, str]]]] = [
    ("credential issued (issue_for_award)", [("credentials/issuance.py", "issue_for_award")]),
    ("embedded proof verified (verify_proof)", [("credentials/data_integrity.py", "verify_proof")]),
    ("canonical N-Quads (canonical_nquads)", [("credentials/jsonld_docs.py", "canonical_nquads")]),
    ("  JSON-LD expansion (every expansion)", [("pyld/jsonld.py", "_expand")]),
    ("    context processing", [("pyld/jsonld.py", "_process_context")]),
    ("    context resolution (URL and JCS keys)", [("pyld/context_resolver.py", "resolve")]),
    ("  to RDF (node map, triples)", [("pyld/jsonld.py", "_create_node_map"), ("pyld/jsonld.py", "_graph_to_rdf")]),
    ("  RDFC-1.0 (URDNA2015)", [("pyld/canon.py", "main")]),
    ("VC-JWT signature (RS256)", [("credentials/vc_jwt.py", "sign")]),
    ("VC-JWT verification", [("credentials/vc_jwt.py", "decode_verified")]),
]


def _app(instance: Path) -> Any:
    from lti_tool.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SCHEMA_MODE": "create",
            "INSTANCE_DIR": str(instance),
            "KEYS_DIR": str(instance / "keys"),
            "DEMO_PLATFORM": False,
            "SECRET_KEY": "bench",
            "EVIDENCE_KEY": EVIDENCE_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'bench.sqlite3'}",
            "RATE_LIMIT_ENABLED": False,
        }
    )


def _seed(count: int, start: int) -> list[Any]:
    """`count` portfolios in the second verification, each with its Award row (as make_award leaves it)."""
    from lti_tool.store.db import db
    from tests.credential_helpers import learner, ready_for_award

    pending = []
    for n in range(start, start + count):
        user = learner(sub=f"bench-{n}", name=f"Learner {n:05d}", email=f"learner{n}@example.org")
        pending.append(ready_for_award(user=user, number=f"CMIACR-2025-{n:06d}"))
    db.session.commit()
    return pending


def _award(portfolio: Any) -> None:
    from lti_tool.portfolio import workflow
    from lti_tool.store.db import db

    workflow.transition(portfolio, workflow.AWARDED, duty="independent_verifier", rationale="Confirmed")
    db.session.commit()


def _issue(award: Any) -> None:
    from lti_tool.credentials.issuance import issue_for_award
    from lti_tool.store.db import db

    issue_for_award(award)
    db.session.commit()


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _summary(samples: list[tuple[float, float]]) -> str:
    walls = sorted(w for w, _ in samples)
    cpus = [c for _, c in samples]
    p95 = walls[min(len(walls) - 1, int(len(walls) * 0.95))]
    return (
        f"{statistics.mean(walls):6.1f} ms wall (p50 {statistics.median(walls):.1f}, p95 {p95:.1f}, "
        f"max {walls[-1]:.1f}), {statistics.mean(cpus):6.1f} ms CPU"
    )


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def _round(count: int, start: int, profile: cProfile.Profile | None) -> tuple[list[Any], dict[str, Any]]:
    from lti_tool.credentials.issuance import credential_for
    from lti_tool.credentials.verify import verify_here, verify_json_here

    pending = _seed(count, start)
    # Awards made without their credential, then issued it as `lti-tool credential issue` does: the
    # credential's own share of an award (not in the profiled round, whose figures are per award).
    alone = _seed(count, start + count) if profile is None else []
    if profile:
        profile.enable()
    awards = [_timed(lambda p=portfolio: _award(p)) for portfolio, _ in pending]
    issued = [_timed(lambda a=award: _issue(a)) for _, award in alone]
    rows = [credential_for(award) for _, award in pending]
    proofs = []
    jwts = []
    for row in rows:
        assert row is not None and row.proofed is not None
        proofs.append(_timed(lambda r=row: _check(verify_json_here(r.proofed))))
        jwts.append(_timed(lambda r=row: _check(verify_here(r.jwt))))
    if profile:
        profile.disable()
    return rows, {"award": awards, "issue": issued, "verify_proof": proofs, "verify_jwt": jwts}


def _check(result: Any) -> None:
    if not result.valid:
        raise SystemExit(f"a credential did not verify: {result.problems}")


def _parts(sample: dict[str, Any], repeat: int) -> list[tuple[str, float]]:
    """The pieces of one issue, each timed alone (median CPU ms)."""
    from lti_tool.credentials import data_integrity, issuer, jsonld_docs, vc_jwt

    proofed, credential = sample["proofed"], sample["credential"]
    document = {k: v for k, v in proofed.items() if k != "proof"}
    config = {k: v for k, v in proofed["proof"].items() if k != "proofValue"}
    config["@context"] = document["@context"]
    ed_key = issuer.ed25519_signing_key()
    rsa_key = issuer.signing_key()
    method, created = proofed["proof"]["verificationMethod"], proofed["proof"]["created"]
    return [
        (
            "embedded proof made (add_proof)",
            _median_ms(lambda: data_integrity.add_proof(credential, ed_key.private_key, method, created), repeat),
        ),
        ("  canonical N-Quads of the document", _median_ms(lambda: jsonld_docs.canonical_nquads(document), repeat)),
        ("    of which the strict JSON-LD check", _median_ms(lambda: jsonld_docs.strict_problems(document), repeat)),
        (
            "  canonical N-Quads of the proof configuration",
            _median_ms(lambda: jsonld_docs.canonical_nquads(config), repeat),
        ),
        ("    of which the strict JSON-LD check", _median_ms(lambda: jsonld_docs.strict_problems(config), repeat)),
        ("  Ed25519 signature", _median_ms(lambda: ed_key.private_key.sign(b"x" * 64), repeat)),
        ("VC-JWT signature (RS256)", _median_ms(lambda: vc_jwt.sign(credential, rsa_key, sample["kid"]), repeat)),
    ]


def _buckets(profile: cProfile.Profile, operations: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    out = []
    for label, functions in BUCKETS:
        total = sum(
            row[3]
            for (path, _line, name), row in stats.items()
            if any(path.endswith(ending) and name == fn for ending, fn in functions)
        )
        out.append((label, total * 1000 / operations))
    return out


def _cold(instance: Path) -> str:
    """The first canonicalization of a credential in a fresh process (contexts read and processed), then the
    second, in a child process."""
    child = subprocess.run(
        [sys.executable, __file__, "--cold-child", str(instance / "credential.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit("the cold-start child failed")
    first, second = json.loads(child.stdout.strip().splitlines()[-1])
    return f"{first:.1f} ms, then {second:.1f} ms"


def _cold_child(path: str) -> None:
    from lti_tool.credentials import jsonld_docs

    document = json.loads(Path(path).read_text())
    times = []
    for _ in range(2):
        started = time.perf_counter()
        jsonld_docs.canonical_nquads(document)
        times.append((time.perf_counter() - started) * 1000)
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--awards", type=int, default=40, help="awards per round (default 40)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=50, help="repetitions of each part timed alone (default 50)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cold-child", help=argparse.SUPPRESS)  # internal: the first canonicalization
    args = parser.parse_args()
    if args.cold_child:
        _cold_child(args.cold_child)
        return

    from lti_tool.credentials import issuer
    from lti_tool.credentials.issuance import credential_for
    from lti_tool.store.db import db

    instance = Path(tempfile.mkdtemp(prefix="credential-bench-"))
    try:
        app = _app(instance)
        with app.app_context():
            issuer.signing_key(), issuer.ed25519_signing_key()  # a new instance: its keys are made here, untimed
            (portfolio, award), *_ = _seed(1, 0)
            first = _timed(lambda: _award(portfolio))
            row = credential_for(award)
            assert row is not None and row.proofed is not None
            sample = {"proofed": row.proofed, "credential": row.credential, "kid": row.kid}
            (instance / "credential.json").write_text(
                json.dumps({k: v for k, v in row.proofed.items() if k != "proof"})
            )
            print(f"First award in this process:              {first[0]:.1f} ms wall, {first[1]:.1f} ms CPU")
            print(f"First canonical N-Quads in a new process: {_cold(instance)}")
            start = 1
            for n in range(args.rounds):
                _, times = _round(args.awards, start, None)
                start += 2 * args.awards
                print(f"Round {n + 1}, {args.awards} awards:")
                print(f"  award with its credential     {_summary(times['award'])}")
                print(f"  the credential alone          {_summary(times['issue'])}")
                print(f"  verify the embedded proof     {_summary(times['verify_proof'])}")
                print(f"  verify the VC-JWT             {_summary(times['verify_jwt'])}")
                db.session.expunge_all()
            print(f"One credential's parts, each timed alone (median of {args.repeat}, CPU):")
            for label, ms in _parts(sample, args.repeat):
                print(f"  {label:<50} {ms:6.2f} ms")
            profile = cProfile.Profile()
            _round(args.awards, start, profile)
            total = pstats.Stats(profile).total_tt * 1000 / args.awards  # type: ignore[attr-defined]
            print(
                f"cProfile of {args.awards} awards and their verifications: {total:.1f} ms per award under the "
                "profiler (which slows Python code most); cumulative, per award and as a share of it:"
            )
            for label, ms in _buckets(profile, args.awards):
                print(f"  {label:<50} {ms:6.2f} ms {100 * ms / total:5.1f}%")
            if args.profile:
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
                print(out.getvalue())
            db.session.remove()
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()

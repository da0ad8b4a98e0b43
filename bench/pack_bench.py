"""EQA pack benchmark: build one pack of many portfolios with large evidence, and print the builder's time
and peak memory. A script that prints figures, not a test.

    .venv/bin/python bench/pack_bench.py                                  # 100 portfolios x 3 MB (~300 MB)
    .venv/bin/python bench/pack_bench.py --portfolios 100 --mb 20         # ~2 GB of evidence
    .venv/bin/python bench/pack_bench.py --portfolios 20 --mb 5 --files 2 --keep

Seeding (in this process): a throw-away instance (SQLite, local encrypted evidence storage) with
`--portfolios` learners, each with a submitted portfolio holding `--files` evidence files of random bytes
(`--mb` MB per portfolio in total, streamed into storage, never whole in memory), judged competent by an
assessor. Building (in a fresh child process, so its figures are the builder's alone): the pack is requested
and built as the background worker builds it (lti_tool.eqa.jobs), then checked with `pack verify`'s function.

Printed for the child: RSS before the build (the app loaded), peak RSS (ru_maxrss, the process's high-water
mark), the increase, the peak of Python allocations during the build (tracemalloc), build and verify time,
and the pack's size. The promise: peak memory stays flat as the evidence grows (files are copied in 1 MiB
pieces), so the 2 GB run peaks at about what the 300 MB run does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVIDENCE_KEY = "mZ9b2Zr6v3JmQp6b7Qk9y3K1o8x9dVf2h4c6e8g0i2k="


class RandomStream:
    """`size` random bytes, read in pieces (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


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
            "PACK_MAX_PORTFOLIOS": 100_000,
        }
    )


def seed(instance: Path, portfolios: int, mb: float, files: int) -> list[int]:
    from lti_tool.identity import staff
    from lti_tool.portfolio.evidence.storage import storage
    from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
    from lti_tool.portfolio.review import assessment
    from lti_tool.portfolio.review.assessment_models import COMPETENT
    from lti_tool.store.db import db
    from tests import assessment_factories as af

    app = _app(instance)
    ids: list[int] = []
    per_file = int(mb * 1024 * 1024 / files)
    with app.app_context():
        acme = af.partner("acme")
        cert = af.certification(units=3, criteria_per_unit=3)
        assessor = af.user("Sam Assessor")
        af.grant(assessor, staff.ASSESSOR)
        db.session.commit()
        store = storage()
        criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
        for n in range(portfolios):
            learner = af.user(f"Learner {n:04d}")
            row = af.portfolio(learner, cert, acme, with_file=False)
            row.evidence.clear()
            for f in range(files):
                put = store.put(RandomStream(per_file))  # type: ignore[arg-type]
                db.session.add(StoredFile(sha256=put.sha256, size=put.size, media_type="application/pdf"))
                item = EvidenceItem(portfolio_id=row.id, kind="work_product", title=f"Evidence {n}.{f}")
                item.criteria = list(criteria)
                item.files = [EvidenceFile(sha256=put.sha256, filename=f"evidence-{n}-{f}.pdf")]
                db.session.add(item)
            db.session.flush()
            db.session.refresh(row)
            af.submit(row)
            ids.append(row.id)
            judgements = {c.id: assessment.Judgement(True, "Seen and sufficient") for c in criteria}
            assessment.decide(row.id, assessor, COMPETENT, judgements, "Competent", rng=af.NeverSample())
            db.session.commit()
    return ids


def build(instance: Path, ids: list[int]) -> dict[str, Any]:
    from lti_tool.audit.actor import Actor
    from lti_tool.eqa import jobs
    from lti_tool.eqa import manifest as mf
    from lti_tool.store.db import db

    app = _app(instance)
    with app.app_context():
        before_kib = _rss_kib()
        tracemalloc.start()
        started = time.perf_counter()
        job = jobs.request_pack(Actor(label="bench"), ids, kind="sample")
        db.session.commit()
        jobs.process_queue("bench")
        db.session.refresh(job)
        built = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if job.state != "ready":
            raise SystemExit(f"the pack failed: {job.error}")
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = mf.verify(job.file_path)
        verified = time.perf_counter() - started
        return {
            "rss_before_mib": before_kib / 1024,
            "peak_rss_mib": peak_kib / 1024,
            "python_peak_mib": traced_peak / 1024 / 1024,
            "build_s": built,
            "verify_s": verified,
            "verify_ok": report.ok,
            "files": report.files_checked,
            "pack_mib": job.size / 1024 / 1024,
            "path": job.file_path,
        }


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portfolios", type=int, default=100)
    parser.add_argument("--mb", type=float, default=3.0, help="MB of evidence per portfolio (default 3)")
    parser.add_argument("--files", type=int, default=1, help="evidence files per portfolio (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (prints where)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: build in a fresh process
    args = parser.parse_args()
    if args.child:
        instance, ids = Path(args.child), json.loads(sys.stdin.read())
        print(json.dumps(build(instance, ids)))
        return

    instance = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    total_mb = args.portfolios * args.mb
    print(f"Seeding {args.portfolios} portfolios x {args.mb} MB ({total_mb:.0f} MB of evidence) in {instance} ...")
    started = time.perf_counter()
    ids = seed(instance, args.portfolios, args.mb, args.files)
    print(f"  seeded in {time.perf_counter() - started:.1f} s")
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(instance)],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit("the build failed")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"Pack of {args.portfolios} portfolios: {r['pack_mib']:.0f} MiB, {r['files']} files")
    print(f"  build:   {r['build_s']:.1f} s ({total_mb / max(r['build_s'], 1e-9):.0f} MB/s of evidence)")
    print(f"  verify:  {r['verify_s']:.1f} s ({'OK' if r['verify_ok'] else 'FAILED'})")
    print(
        f"  RSS before the build {r['rss_before_mib']:.0f} MiB, peak {r['peak_rss_mib']:.0f} MiB "
        f"(+{r['peak_rss_mib'] - r['rss_before_mib']:.0f} MiB); Python allocations peak {r['python_peak_mib']:.1f} MiB"
    )
    if args.keep:
        print(f"Kept {instance} (pack at {r['path']})")
    else:
        import shutil

        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()

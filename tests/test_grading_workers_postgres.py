"""Several grade workers against one PostgreSQL: separate `lti-tool grading worker` processes, each with its own
database connections, deliver a backlog to the demo platform's AGS endpoint served on a loopback port. Every job
arrives exactly once, none is lost, and each learner's scores arrive in order.

SQLite runs a single in-process worker (the embedded setup), so this is a PostgreSQL-only test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from lti_tool.demo_platform.models import DemoLineItem, DemoScore
from lti_tool.demo_platform.services import token_requests
from lti_tool.grading.models import DELIVERED, MAIN, GradeJob
from lti_tool.grading.outbox import enqueue_for_state
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.store.db import db
from tests.conftest import PG_URL, _postgres_schema
from tests.grading_helpers import jobs, live_app, make_certification, make_portfolio, submit
from tests.lti_helpers import demo_launch

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEARNERS = 100  # two jobs each (started, submitted): 200 jobs
WORKERS = 3
ROOT = Path(__file__).resolve().parent.parent


def _worker_env(app, tmp_path: Path) -> dict[str, str]:
    schema = _postgres_schema()
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options={quote(f'-csearch_path={schema}')}"
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LTI_TOOL_DATABASE_URL": url,
        "LTI_TOOL_KEYS_DIR": app.config["KEYS_DIR"],
        "LTI_TOOL_INSTANCE_DIR": str(tmp_path / "worker"),
        "LTI_TOOL_SECRET_KEY": "test-secret",
        "LTI_TOOL_EVIDENCE_KEY": app.config["EVIDENCE_KEY"],
        "LTI_TOOL_SCHEMA_MODE": "check",
        "LTI_TOOL_DEMO_PLATFORM": "0",
        "LTI_TOOL_OUTBOUND_ALLOW_LOCAL": "1",  # the demo platform serving AGS listens on loopback
        "LTI_TOOL_LOG_FORMAT": "json",
        "LTI_TOOL_GRADING_POLL_SECONDS": "0.05",
        "LTI_TOOL_HTTP_TIMEOUT": "30",
        "LTI_TOOL_GRADING_BACKOFF_SECONDS": "0.05",
        "LTI_TOOL_GRADING_BACKOFF_MAX_SECONDS": "0.2",
    }


def _backlog(client) -> list[GradeJob]:
    demo_launch(client, "demo-learner-ada")
    ada = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada"))
    link = db.session.scalar(select(ResourceLink))
    cert = make_certification()
    for i in range(LEARNERS):
        learner = LtiUser(issuer=ada.issuer, sub=f"learner-{i:03d}", name=f"Learner {i}")
        db.session.add(learner)
        db.session.flush()
        portfolio = make_portfolio(learner, link, cert)
        enqueue_for_state(portfolio)
        submit(portfolio)
    db.session.commit()
    return jobs()


def test_workers_in_separate_processes_deliver_every_job_exactly_once(tmp_path, keys_dir):
    with live_app("postgresql", tmp_path, keys_dir) as (app, _base):
        queued = _backlog(app.test_client())
        assert len(queued) == 2 * LEARNERS and {j.target for j in queued} == {MAIN}
        env = _worker_env(app, tmp_path)
        command = [sys.executable, "-c", "from lti_tool.cli import main; main()", "grading", "worker"]
        workers = [
            subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(WORKERS)
        ]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                waiting = db.session.scalar(select(func.count()).where(GradeJob.status != DELIVERED))
                db.session.commit()
                if not waiting or any(w.poll() is not None for w in workers):
                    break
                time.sleep(0.2)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)  # a graceful stop: finish the job in hand, then exit
            outputs = [w.communicate(timeout=60) for w in workers]
        for w, (out, err) in zip(workers, outputs, strict=True):
            assert w.returncode == 0, err[-3000:]  # SIGTERM let it finish and report
            assert out.strip().splitlines()[-1].startswith("Delivered "), out

        db.session.expire_all()
        delivered = jobs()
        assert [j.status for j in delivered] == [DELIVERED] * len(queued), [
            (j.id, j.status, j.last_error) for j in delivered if j.status != DELIVERED
        ]
        assert all(j.attempts == 1 for j in delivered)  # no job claimed twice
        # Several processes shared the work (each claims with SELECT ... FOR UPDATE SKIP LOCKED).
        by_worker = Counter(j.leased_by for j in delivered)
        assert len(by_worker) >= 2, by_worker
        logged = sorted(
            int(json.loads(line)["msg"].split()[2])
            for _, err in outputs
            for line in err.splitlines()
            if line.startswith("{") and "delivered (attempt" in line
        )
        assert logged == sorted(j.id for j in delivered)  # each delivery logged once across the workers' JSON logs

        # What the platform received: each job's score exactly once, nothing else.
        received = [s for s in db.session.scalars(select(DemoScore).order_by(DemoScore.id))]
        counts = Counter(json.dumps(s.payload, sort_keys=True) for s in received)
        assert counts == Counter(json.dumps(j.payload, sort_keys=True) for j in delivered)
        assert set(counts.values()) == {1} and len(received) == len(queued)
        # Each learner's scores in order: started before submitted.
        per_learner: dict[str, list[str]] = defaultdict(list)
        for score in received:
            per_learner[score.user_id].append(score.payload["activityProgress"])
        assert len(per_learner) == LEARNERS
        assert all(progress == ["Started", "Submitted"] for progress in per_learner.values())
        # One gradebook column for the placement despite concurrent first deliveries; one token for every
        # worker (shared via the database, fetched by whichever took the platform's token lock first).
        assert len(list(db.session.scalars(select(DemoLineItem)))) == 1
        assert token_requests() == 1


@pytest.fixture(autouse=True)
def _postgres_only():
    _postgres_schema()  # skips without PostgreSQL, and fails under CI=true

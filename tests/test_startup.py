"""Several processes starting at once (gunicorn workers) on one database, and secret files they share."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from lti_tool.store.files import create_exclusive
from tests.conftest import PG_URL, TEST_EVIDENCE_KEY, _postgres_schema

PROCESSES = 4

# Each process builds the app as a gunicorn worker does, with the demo platform (tables, tool key, demo
# registration and catalogue import), then reports what it sees.
WORKER = textwrap.dedent("""
    import json, sys
    from lti_tool.app import create_app
    from lti_tool.store.db import db
    from lti_tool.launch.keys import key_store
    from lti_tool.launch.models import Registration
    from lti_tool.identity.partners import Partner
    app = create_app(json.loads(sys.argv[1]))
    with app.app_context():
        print(json.dumps({"kid": key_store().signing_key().kid, "secret": app.config["SECRET_KEY"],
                          "registrations": db.session.query(Registration).count(),
                          "partners": db.session.query(Partner).count()}))
""")


def _start_at_once(config: dict) -> list[dict]:
    import json

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _config(tmp_path: Path) -> dict:
    # No SECRET_KEY: every process must read the one that the first of them generated.
    # SCHEMA_MODE upgrade: every process migrates at start, so the migrations themselves must be serialised.
    return {
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "KEYS_DIR": str(tmp_path / "keys"),
        "DEMO_PLATFORM": True,
        "SCHEMA_MODE": "upgrade",
        "DEMO_BASE_URL": "http://localhost",
        "EVIDENCE_KEY": TEST_EVIDENCE_KEY,
    }


def _check_one_of_everything(results: list[dict], tmp_path: Path) -> None:
    assert len({r["kid"] for r in results}) == 1
    assert len({r["secret"] for r in results}) == 1
    assert all(r["registrations"] == 1 and r["partners"] == 1 for r in results)
    assert len(list((tmp_path / "keys").glob("tool-*.pem"))) == 1
    assert not list((tmp_path / "keys").glob(".tmp-*"))


@pytest.mark.postgres
@pytest.mark.slow
def test_workers_starting_at_once_on_an_empty_postgresql_schema(tmp_path: Path) -> None:
    _postgres_schema()  # skips (or fails under CI) when PostgreSQL is unreachable
    import psycopg

    schema = f"startup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        config = {
            **_config(tmp_path),
            "SQLALCHEMY_DATABASE_URI": PG_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
        }
        _check_one_of_everything(_start_at_once(config), tmp_path)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.slow
def test_workers_starting_at_once_on_a_new_sqlite_file(tmp_path: Path) -> None:
    config = {**_config(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db' / 'tool.sqlite3'}"}
    _check_one_of_everything(_start_at_once(config), tmp_path)


def test_create_exclusive_writes_once_and_privately(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "secret"
    assert create_exclusive(path, b"first")
    assert not create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret"]


@pytest.mark.parametrize("name", ["secret_key", "evidence_key"])
def test_generated_secrets_are_reused(tmp_path: Path, name: str) -> None:
    from lti_tool.config import load_config

    first = load_config({"INSTANCE_DIR": str(tmp_path)})
    again = load_config({"INSTANCE_DIR": str(tmp_path)})
    key = "SECRET_KEY" if name == "secret_key" else "EVIDENCE_KEY"
    assert first[key] == again[key] == (tmp_path / name).read_text().strip()


def test_a_forked_worker_does_not_reuse_the_parents_connections(sqlite_app) -> None:
    """`gunicorn --preload` forks workers after the app (and its pool) exist in the master."""
    from sqlalchemy import text

    from lti_tool.store.db import db

    db.session.execute(text("SELECT 1"))
    db.session.commit()
    assert db.engine.pool.checkedin() == 1
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, without pytest's teardown
        os._exit(0 if db.engine.pool.checkedin() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert db.engine.pool.checkedin() == 1  # the parent keeps its own

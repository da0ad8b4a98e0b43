"""Test fixtures: an app per test on SQLite, and on PostgreSQL too where one is reachable.

Under CI=true PostgreSQL must be reachable (the PostgreSQL runs may not silently skip).
Each test session works in its own PostgreSQL schema so parallel runs never collide.
"""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper
from sqlalchemy.util import LRUCache
from sqlalchemy.util.langhelpers import HasMemoized
from werkzeug.routing import Rule

from lti_tool.app import create_app
from lti_tool.store.db import db

if TYPE_CHECKING:
    from tests.lti_helpers import JwksServer

# A fixed, well-formed key (tests compare stored blobs across apps).
TEST_EVIDENCE_KEY = "mZ9b2Zr6v3JmQp6b7Qk9y3K1o8x9dVf2h4c6e8g0i2k="
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# `make test-fast` leaves PostgreSQL out: it deselects the tests marked `postgres`, and this guards the rest.
NO_POSTGRES = os.environ.get("LTI_TEST_NO_POSTGRES", "") not in ("", "0")
_pg_state: dict[str, object] = {}


def _postgres_schema() -> str:
    """Create this session's schema once; return its name, or skip/fail with the reason."""
    if NO_POSTGRES:
        pytest.skip("PostgreSQL left out (LTI_TEST_NO_POSTGRES, as in `make test-fast`): mark this test `postgres`")
    if "schema" in _pg_state:
        return str(_pg_state["schema"])
    if "error" in _pg_state:
        _pg_unavailable(str(_pg_state["error"]))
    try:
        import psycopg

        conn = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except Exception as exc:  # any reason it is unreachable
        _pg_state["error"] = f"PostgreSQL not reachable at {PG_URL}: {exc}".strip()
        _pg_unavailable(str(_pg_state["error"]))
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    conn.close()
    _pg_state["schema"] = schema
    return schema


def _pg_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    pytest.skip(reason)


def _share_url_builders() -> None:
    """Every test makes its own app, and werkzeug compiles a URL builder (Python source, through `ast` and
    `compile`) for each of its ~100 rules: a third of an app's start-up. The code depends only on the rule's
    parsed parts and defaults, so one process compiles each once; each rule still binds its own copy."""
    original = Rule._compile_builder
    if getattr(original, "shared_by_tests", False):
        return
    compiled: dict[tuple, Callable[..., Any]] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown)
        func = compiled.get(key)
        if func is None:
            func = compiled[key] = original(self, append_unknown)
        return func

    shared.shared_by_tests = True
    Rule._compile_builder = shared  # type: ignore[method-assign]


class _SharedCompiledCache(LRUCache):
    """SQLAlchemy's compiled statements, shared by the engines of one test process. Each test makes its own app,
    so its own engine, whose cache starts empty: about a quarter of a typical test's time went to compiling the
    same statements again. The cache's keys name the dialect object; here they name what the compiled SQL depends
    on instead (the dialect's class, server version, parameter style, default schema and name lengths), so an
    engine reuses what an equivalent one compiled (same database server, same schema)."""

    @staticmethod
    def _shared_key(key: Any) -> Any:
        d = key[0]
        dialect = (
            type(d),
            d.server_version_info,
            d.paramstyle,
            d.default_schema_name,
            d.max_identifier_length,
            d.label_length,
        )
        return (dialect, *key[1:])

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._shared_key(key), default)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._shared_key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._shared_key(key), value)


def _share_compiled_statements() -> None:
    """Every engine Flask-SQLAlchemy makes in this process uses one _SharedCompiledCache, and so does each
    mapper's cache of the INSERT, UPDATE and DELETE statements of a flush (which outlives engines, but whose
    keys named each engine's dialect)."""
    original = SQLAlchemy._make_engine
    if getattr(original, "shared_by_tests", False):
        return
    cache = _SharedCompiledCache(5000)

    def _compiled_cache(self: Mapper[Any]) -> _SharedCompiledCache:
        return _SharedCompiledCache(self._compiled_cache_size)

    Mapper._compiled_cache = HasMemoized.memoized_attribute(_compiled_cache)  # type: ignore[assignment]

    def make_engine(self: SQLAlchemy, bind_key: str | None, options: dict[str, Any], app: Flask) -> Engine:
        engine = original(self, bind_key, options, app)
        if engine._compiled_cache is not None:  # not turned off (query_cache_size=0)
            engine._compiled_cache = cache
        return engine

    make_engine.shared_by_tests = True  # type: ignore[attr-defined]
    SQLAlchemy._make_engine = make_engine  # type: ignore[method-assign]


def _calmer_garbage_collection() -> None:
    """Tests allocate many short-lived objects (SQLAlchemy rows, requests, apps): at Python's default
    threshold the cyclic collector ran so often, over every module object imported, that it took about a sixth
    of the suite's CPU. The objects alive after collection are frozen out of its scans, and it runs less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def pytest_configure(config: pytest.Config) -> None:
    _share_url_builders()
    _share_compiled_statements()
    _calmer_garbage_collection()
    config.addinivalue_line(
        "markers", "postgres: runs against PostgreSQL (set on every backend=postgresql parametrization by conftest)"
    )
    config.addinivalue_line(
        "markers", "slow: seconds each (subprocesses, large files, whole matrices); `make test-fast` leaves it out"
    )


# Whole modules `make test` runs and the fast loop leaves out (marked `slow` here, in one place): generated
# inputs (hypothesis) and the regressions they found, injected faults (database blips, full disks, dropped
# connections), an emulated S3, a real SMTP server, EQA packs (ZIPs and PDFs), `make` in a copy of the repository,
# and the signatures checked again by independent libraries. Seconds of CPU each, and far from most edits.
SLOW_MODULES = frozenset(
    {
        "test_fuzz_audit.py",
        "test_fuzz_launch.py",
        "test_fuzz_registration.py",
        "test_fuzz_upload_names.py",
        "test_fuzz_regressions.py",
        "test_notification_mail.py",
        "test_eqa_packs.py",
        "test_eqa_pack_language.py",
        "test_translations_build.py",
        "test_submission_faults.py",
        "test_storage_faults.py",
        "test_upload_interrupted.py",
        "test_launch_faults.py",
        "test_evidence_s3.py",
        "test_credential_proofs.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL runs of backend-parametrized tests (the `backend` fixture, or a module's own), and
    every test of the modules in SLOW_MODULES as slow."""
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    schema = _pg_state.get("schema")
    if schema:
        import psycopg

        own = _pg_state.pop("conn", None)
        if own is not None:
            own.close()
        conn = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; DROP SCHEMA IF EXISTS "{schema}_seed" CASCADE')
        conn.close()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


def make_test_app(backend: str, tmp_path: Path, keys_dir: Path, **extra: object) -> Flask:
    config: dict[str, object] = {
        "TESTING": True,
        "SCHEMA_MODE": "create",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "KEYS_DIR": str(keys_dir),
        "DEMO_PLATFORM": True,
        # Tests build their own small catalogues; the shipped one is imported only where a test asks.
        "DEMO_CATALOGUE": False,
        "DEMO_BASE_URL": "http://localhost",
        "DEMO_TOOL_URL": "http://localhost",
        "SECRET_KEY": "test-secret",
        "EVIDENCE_KEY": TEST_EVIDENCE_KEY,
        # Tests launch many times from one address; tests/test_rate_limits.py turns the limits on.
        "RATE_LIMIT_ENABLED": False,
    }
    # The demo platform's rows are the same for every test that keeps the demo settings: copied with the
    # tables (SQLite) or restored from a snapshot (PostgreSQL) instead of seeded again by each app (create_app
    # still checks them, finding them there).
    seeded = not any(k.startswith(("DEMO_", "CATALOGUE")) or k in _SEED_SETTINGS for k in extra)
    if backend == "sqlite":
        db_file = tmp_path / "test.sqlite3"
        template = _sqlite_template(keys_dir, config if seeded else None)
        if template and not db_file.exists():
            shutil.copyfile(template, db_file)  # a copy is much faster than creating every table
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    else:
        schema = _postgres_schema()
        config["SQLALCHEMY_DATABASE_URI"] = PG_URL
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": f"-csearch_path={schema}"}}
        snapshot = _reset_postgres(schema, str(keys_dir) if seeded else None)
    config.update(extra)
    application = create_app(config)
    application.jinja_env.bytecode_cache = TEMPLATE_CACHE
    if backend != "sqlite" and seeded and not snapshot:
        _snapshot_postgres(schema, str(keys_dir))
    return application


class _SharedTemplateCache(BytecodeCache):
    """Compiled templates shared by the apps of one test process. Each test makes its own app, and compiling
    the same templates again for every one of them cost more than most tests did. Jinja keys a template by
    name and checks its source's checksum, so an edited template is compiled again."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self._compiled:
            bucket.bytecode_from_string(self._compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = _SharedTemplateCache()


_sqlite_templates: dict[tuple[str, bool], Path | None] = {}
# Settings that change what the demo seed writes (or whether it runs): a test setting one gets unseeded tables.
_SEED_SETTINGS = frozenset({"SCHEMA_MODE", "KEYS_DIR", "SQLALCHEMY_DATABASE_URI", "PUBLIC_URL", "EVIDENCE_KEY"})


def _sqlite_template(keys_dir: Path, seed_with: dict[str, object] | None = None) -> Path | None:
    """A schema made once per run, copied for each SQLite test: tables only, or (given the test's own
    settings) tables and the demo platform's rows as create_app seeds them."""
    key = (str(keys_dir), seed_with is not None)
    if key not in _sqlite_templates:
        import tempfile

        from lti_tool.store.db import db as _db

        folder = Path(tempfile.mkdtemp(prefix="lti-template-"))
        path = folder / "template.sqlite3"
        config: dict[str, object] = {
            "TESTING": True,
            "SCHEMA_MODE": "create",
            "KEYS_DIR": str(keys_dir),
            "DEMO_PLATFORM": False,
            "SECRET_KEY": "x",
            "EVIDENCE_KEY": TEST_EVIDENCE_KEY,
        }
        if seed_with is not None:
            config.update(seed_with)
        config["INSTANCE_DIR"] = str(folder)
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
        template_app = create_app(config)
        with template_app.app_context():
            _db.engine.dispose()
        _sqlite_templates[key] = path
    return _sqlite_templates[key]


def _pg_connection() -> Any:
    """This process's own connection for resetting its schema between tests (one, not one per test)."""
    import psycopg

    conn = _pg_state.get("conn")
    if conn is None or conn.closed:
        conn = _pg_state["conn"] = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    return conn


def _reset_postgres(schema: str, seed_for_keys: str | None) -> bool:
    """Each PostgreSQL test starts from empty tables, or (seed_for_keys: the demo settings with that keys
    directory) from the demo platform's rows as create_app seeds them, restored from a snapshot taken after
    the first such app of this process (as SQLite copies its template): create_app then finds them and only
    checks them, instead of seeding again. DELETE with triggers off is much faster than TRUNCATE on many small
    tables. alembic_version is kept, so create_app finds the schema current instead of creating every table
    and stamping it again; sequences keep counting, so the snapshot's ids never collide with new rows.
    Returns whether the seeded rows were restored."""
    conn = _pg_connection()
    with conn.cursor() as cur:
        tables = _pg_state.get("tables")
        if tables is None:
            present = _pg_tables(cur, schema)
            tables = [t for t in present if t != "alembic_version"]
            if "alembic_version" in present:
                _pg_state["tables"] = tables  # the schema is made and stamped: its tables no longer change
        if not tables:
            return False
        snapshot = _pg_state.get("snapshot")
        restore = seed_for_keys is not None and snapshot is not None and snapshot[0] == seed_for_keys
        statements = ["SET session_replication_role = replica"]
        statements += [f'DELETE FROM "{schema}"."{t}"' for t in tables]
        if restore:
            seed_schema = f"{schema}_seed"
            statements += [f'INSERT INTO "{schema}"."{t}" SELECT * FROM "{seed_schema}"."{t}"' for t in snapshot[1]]
        statements.append("SET session_replication_role = DEFAULT")
        cur.execute("; ".join(statements))
    return restore


def _pg_tables(cur: Any, schema: str) -> list[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    return [r[0] for r in cur.fetchall()]


def _snapshot_postgres(schema: str, keys_dir: str) -> None:
    """Keep the demo platform's rows create_app has just seeded (a copy of each table that has any) in a
    schema beside this process's, for _reset_postgres to restore before the next test."""
    if "snapshot" in _pg_state:
        return
    seed_schema = f"{schema}_seed"
    conn = _pg_connection()
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{seed_schema}" CASCADE; CREATE SCHEMA "{seed_schema}"')
        filled = []
        for table in _pg_tables(cur, schema):
            if table == "alembic_version":
                continue
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")')
            if cur.fetchone()[0]:
                cur.execute(f'CREATE TABLE "{seed_schema}"."{table}" AS SELECT * FROM "{schema}"."{table}"')
                filled.append(table)
    _pg_state["snapshot"] = (keys_dir, filled)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(backend: str, tmp_path: Path, keys_dir: Path) -> Iterator[Flask]:
    application = make_test_app(backend, tmp_path, keys_dir)
    with application.app_context():
        yield application
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def sqlite_app(tmp_path: Path, keys_dir: Path) -> Iterator[Flask]:
    """For tests about things that do not depend on the database backend."""
    application = make_test_app("sqlite", tmp_path, keys_dir)
    with application.app_context():
        yield application
        db.session.remove()


def table_count(model: type) -> int:
    from sqlalchemy import func, select

    return db.session.scalar(select(func.count()).select_from(model)) or 0


def count_statements(client, url: str) -> int:
    """SQL statements one GET of `url` runs (it must answer 200)."""
    from sqlalchemy import event

    count = [0]

    def counter(*args: object) -> None:
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        # A context (so a database session) of its own, as a real request has: nothing the test loaded
        # is found in the session's identity map instead of being queried.
        with client.application.app_context():
            resp = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    assert resp.status_code == 200, resp.data
    return count[0]


@contextmanager
def counting() -> Iterator[dict[str, int]]:
    """SQL statements and commits run inside the block (on the current app's engine)."""
    counts = {"statements": 0, "commits": 0}

    def statement(*args: object) -> None:
        counts["statements"] += 1

    def commit(*args: object) -> None:
        counts["commits"] += 1

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


__all__ = ["count_statements", "counting", "table_count", "make_test_app", "text"]


@pytest.fixture
def shipped_catalogue(request: pytest.FixtureRequest) -> None:
    """Import the catalogue shipped in config/catalogue for the Demo Academy, as the demo does."""
    from lti_tool.demo_platform import people
    from lti_tool.demo_platform.catalogue_seed import ensure_demo_catalogue
    from lti_tool.identity.partners import find_partner

    name = "app" if "app" in request.fixturenames else "sqlite_app"
    request.getfixturevalue(name)
    ensure_demo_catalogue(find_partner(people.PARTNER_SLUG))
    db.session.commit()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    """A platform's JWKS endpoint on loopback (tests.lti_helpers.JwksServer), closed after the test. The one
    such fixture: test modules build their platforms (tests.lti_helpers.TestPlatform) on it."""
    from tests.lti_helpers import JwksServer

    server = JwksServer()
    yield server
    server.close()

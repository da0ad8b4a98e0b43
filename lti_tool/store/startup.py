"""Start-up with several processes: gunicorn starts every worker at once (two `CREATE TABLE`s or two first
keys racing each other make a worker fail to boot), and with `--preload` it forks them from a master that
already opened database connections."""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from lti_tool.store.db import db

LOCK_NAME = "lti_tool.init_storage:"


@contextlib.contextmanager
def startup_lock() -> Iterator[None]:
    """Held while the block runs; other processes on the same database wait for it.

    PostgreSQL: a session-level advisory lock keyed by the schema, so separate schemas (tests, benchmarks)
    do not wait for each other. A SQLite file: an exclusive lock on a file beside it. In-memory SQLite
    belongs to one process and needs none.
    """
    url = db.engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        with db.engine.connect() as conn:
            key = {"name": LOCK_NAME}
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:name || current_schema()))"), key)
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name || current_schema()))"), key)
                except Exception:
                    # Never return a connection that may still hold the lock to the pool.
                    conn.invalidate()
                    raise
    elif backend == "sqlite" and url.database not in (None, "", ":memory:"):
        import fcntl

        path = Path(url.database + ".startup-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        yield


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    # The parent's pooled connections are its own; the child opens new ones (SQLAlchemy's advice for fork).
    for engine in list(_engines):
        engine.dispose(close=False)


def dispose_pool_after_fork(engine: Engine) -> None:
    if engine.url.database not in (None, "", ":memory:"):  # an in-memory database lives in its pool
        _engines.add(engine)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)

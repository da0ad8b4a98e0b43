"""Shared short-lived values in the database, so every process sees the same state and nonces.

Every launch reads and writes here several times, so these are plain SQL statements built once (no ORM
objects, one round trip each). `commit=False` leaves the write in the caller's transaction, so a login or
a launch commits everything it wrote at once.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.sql import Executable

from lti_tool.launch.models import CacheEntry
from lti_tool.store.db import Model, db, rowcount, utcnow

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


def _table_of(model: type[Model]) -> Table:
    # `__table__` is declared as any FromClause (a model may map a join); a model declared by columns has a Table.
    table = model.__table__
    assert isinstance(table, Table)
    return table


_table = _table_of(CacheEntry)
_GET = select(_table.c.value, _table.c.expires_at).where(_table.c.key == bindparam("key"))
_CONSUME = delete(_table).where(_table.c.key == bindparam("key")).returning(_table.c.value, _table.c.expires_at)
_upserts: dict[str, Executable] = {}


def _upsert() -> Executable | None:
    """INSERT ... ON CONFLICT UPDATE: two processes setting the same key at once (two first launches
    fetching one platform's JWKS) both succeed."""
    dialect = db.session.get_bind().dialect.name
    if dialect not in _upserts:
        stmt: PostgresInsert | SqliteInsert
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgres_insert

            stmt = postgres_insert(_table)
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(_table)
        else:
            return None
        _upserts[dialect] = stmt.on_conflict_do_update(
            index_elements=[_table.c.key], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
        )
    return _upserts[dialect]


def cache_get(key: str) -> Any | None:
    found = cache_get_entry(key)
    return found[0] if found is not None else None


def cache_get_entry(key: str) -> tuple[Any, dt.datetime] | None:
    """(value, when it expires), or None when there is none or it has expired."""
    row = db.session.execute(_GET, {"key": key}).first()
    if row is None or row.expires_at <= utcnow():
        return None
    return json.loads(row.value), row.expires_at


def cache_set(key: str, value: Any, ttl_seconds: int, *, commit: bool = True) -> None:
    values = {"key": key, "value": json.dumps(value), "expires_at": utcnow() + dt.timedelta(seconds=ttl_seconds)}
    stmt = _upsert()
    if stmt is not None:
        db.session.execute(stmt, values)
    else:
        db.session.merge(CacheEntry(**values))
    if commit:
        db.session.commit()


def cache_consume(key: str, *, commit: bool = True) -> Any | None:
    """Return the value and delete it, in one statement: of two concurrent callers only one gets it (the
    other's DELETE waits for the first transaction and then finds nothing)."""
    row = db.session.execute(_CONSUME, {"key": key}).first()
    if commit:
        db.session.commit()
    if row is None or row.expires_at <= utcnow():
        return None
    return json.loads(row.value)


def cache_purge_expired() -> int:
    result = db.session.execute(delete(CacheEntry).where(CacheEntry.expires_at <= utcnow()))
    db.session.commit()
    return rowcount(result) or 0

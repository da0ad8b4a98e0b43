"""The one SQLAlchemy handle and small column helpers shared by every model module."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import TYPE_CHECKING, Any, cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CursorResult, Engine, MetaData, Result, Text, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so migrations (Alembic) can address them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel

    class Model(_FlaskModel, Base):
        """What `db.Model` is at run time (Flask-SQLAlchemy's mixins over `Base`), as a class a type checker
        accepts as a base: mypy cannot subclass an attribute of an instance such as `db.Model`."""

        __abstract__ = True

else:
    Model = db.Model


@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL: a reading request never blocks another request's commit (the embedded setup serves several
    # threads and the grade worker from one SQLite file).
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=10000")


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. `Session.execute` is declared to return a plain `Result`; for
    these statements it is the engine's `CursorResult`, which carries the count."""
    return cast("CursorResult[Any]", result).rowcount


def utcnow() -> dt.datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONText(TypeDecorator):
    """JSON kept as text so it behaves identically on SQLite and PostgreSQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)

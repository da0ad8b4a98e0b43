"""Database schema: Alembic migrations (through Flask-Migrate), and the start-up check that refuses a
database that is behind the code."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate, stamp, upgrade
from sqlalchemy import inspect

from lti_tool.store.db import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Batch mode lets SQLite (which cannot ALTER most things) follow the same migrations as PostgreSQL.
migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)


class SchemaBehind(SystemExit):
    pass


@functools.cache
def head_revision() -> str | None:
    # The migrations ship with the code: read once per process (alembic loads every revision file to know).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    if not (MIGRATIONS_DIR / "env.py").exists():
        return None
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_schema(app: Flask) -> None:
    """SCHEMA_MODE 'check' (default): refuse to start unless the database is at the latest migration.
    'upgrade': migrate first (the embedded `make run` setup). 'create': build from the models and mark
    as current (tests, where speed matters; a migration test proves both paths give the same schema)."""
    mode = app.config["SCHEMA_MODE"]
    if mode == "skip":  # the `db` commands themselves
        return
    if mode == "create":
        if current_revision() == head_revision():
            return  # made from these models and stamped already (tests copy such a database for each app)
        db.create_all()
        stamp(directory=str(MIGRATIONS_DIR), revision="head")
        return
    if mode == "upgrade":
        before = current_revision()
        upgrade(directory=str(MIGRATIONS_DIR))
        after = current_revision()
        if before != after:
            logging.getLogger(__name__).warning("database schema upgraded from %s to %s", before or "nothing", after)
        return
    current, head = current_revision(), head_revision()
    if current != head:
        state = "empty" if not inspect(db.engine).get_table_names() else f"at revision {current or 'none'}"
        raise SchemaBehind(
            f"The database schema is behind the code (database {state}, code at {head}). Run: lti-tool db upgrade"
        )

"""Migrations build the same schema as the models, on SQLite and PostgreSQL; a stale database is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lti_tool.app import create_app
from lti_tool.store.db import db
from lti_tool.store.schema import SchemaBehind, head_revision
from tests.conftest import PG_URL, TEST_EVIDENCE_KEY, _postgres_schema


def _config(backend: str, tmp_path: Path, keys_dir: Path, mode: str) -> dict:
    config = {
        "TESTING": True,
        "SCHEMA_MODE": mode,
        "INSTANCE_DIR": str(tmp_path / "inst"),
        "KEYS_DIR": str(keys_dir),
        "DEMO_PLATFORM": False,
        "SECRET_KEY": "s",
        "EVIDENCE_KEY": TEST_EVIDENCE_KEY,
    }
    if backend == "sqlite":
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        import psycopg

        schema = _postgres_schema() + "_mig"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        config["SQLALCHEMY_DATABASE_URI"] = PG_URL
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": f"-csearch_path={schema}"}}
    return config


def _drop_pg_schema(config: dict) -> None:
    options = config.get("SQLALCHEMY_ENGINE_OPTIONS")
    if options:
        import psycopg

        schema = options["connect_args"]["options"].split("=", 1)[1]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_upgrade_from_nothing_matches_the_models(backend, tmp_path, keys_dir):
    config = _config(backend, tmp_path, keys_dir, "upgrade")
    try:
        app = create_app(config)
        with app.app_context():
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
                assert context.get_current_revision() == head_revision()
            assert diff == [], f"models and migrations differ: {diff}"
            db.engine.dispose()
    finally:
        _drop_pg_schema(config)


def test_stale_database_is_refused_with_the_command_to_run(backend, tmp_path, keys_dir):
    config = _config(backend, tmp_path, keys_dir, "check")
    try:
        with pytest.raises(SchemaBehind, match="Run: lti-tool db upgrade"):
            create_app(config)
    finally:
        _drop_pg_schema(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param

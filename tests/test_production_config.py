"""Production settings: database pool sizes for PostgreSQL from the environment."""

from __future__ import annotations

import pytest

from lti_tool.config import load_config
from lti_tool.store.db import db
from tests.conftest import PG_URL, TEST_EVIDENCE_KEY, _postgres_schema, make_test_app


def _options(monkeypatch, tmp_path, url: str, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_config(
        {
            "INSTANCE_DIR": str(tmp_path),
            "SECRET_KEY": "x",
            "EVIDENCE_KEY": TEST_EVIDENCE_KEY,
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )["SQLALCHEMY_ENGINE_OPTIONS"]


def test_postgresql_pool_sizes_come_from_the_environment(monkeypatch, tmp_path):
    assert _options(monkeypatch, tmp_path, "postgresql://db/lti") == {
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 10,
    }
    assert _options(
        monkeypatch, tmp_path, "postgresql+psycopg://db/lti", LTI_TOOL_DB_POOL_SIZE="12", LTI_TOOL_DB_MAX_OVERFLOW="0"
    ) == {"pool_pre_ping": True, "pool_size": 12, "max_overflow": 0}
    # SQLite has no server connections to pool; only the pre-ping applies.
    assert _options(monkeypatch, tmp_path, "sqlite:///x.db") == {"pool_pre_ping": True}
    with pytest.raises(SystemExit, match="LTI_TOOL_DB_POOL_SIZE must be a whole number"):
        _options(monkeypatch, tmp_path, "postgresql://db/lti", LTI_TOOL_DB_POOL_SIZE="lots")


@pytest.mark.postgres
def test_the_engine_uses_the_pool_settings(monkeypatch, tmp_path, keys_dir):
    options = _options(monkeypatch, tmp_path, PG_URL, LTI_TOOL_DB_POOL_SIZE="3", LTI_TOOL_DB_MAX_OVERFLOW="2")
    options["connect_args"] = {"options": f"-csearch_path={_postgres_schema()}"}  # this run's schema
    app = make_test_app("postgresql", tmp_path, keys_dir, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        pool = db.engine.pool
        assert pool.size() == 3 and pool._max_overflow == 2 and pool._pre_ping
        db.engine.dispose()

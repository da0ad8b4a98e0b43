"""`lti-tool housekeeping purge` removes only what has expired."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from lti_tool.housekeeping import housekeeping_cli
from lti_tool.launch.cache import cache_get, cache_set
from lti_tool.launch.models import CacheEntry, ToolSession
from lti_tool.store.db import db, utcnow
from tests.conftest import table_count
from tests.lti_helpers import demo_launch


def test_purge_removes_expired_cache_entries_and_sessions_only(app, client):
    demo_launch(client, "demo-learner-ada")
    demo_launch(app.test_client(), "demo-learner-ben")
    old, current = db.session.scalars(select(ToolSession).order_by(ToolSession.created_at)).all()
    old.expires_at = utcnow() - dt.timedelta(minutes=1)
    cache_set("abandoned-login", {"state": "x"}, 60)
    cache_set("fresh", {"v": 1}, 600)
    db.session.get(CacheEntry, "abandoned-login").expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    cached_before = table_count(CacheEntry)

    result = app.test_cli_runner().invoke(housekeeping_cli, ["purge"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 expired cache entries and 1 expired sessions." in result.output
    db.session.expire_all()
    assert [s.id for s in db.session.scalars(select(ToolSession))] == [current.id]
    assert cache_get("fresh") == {"v": 1} and db.session.get(CacheEntry, "abandoned-login") is None
    assert table_count(CacheEntry) == cached_before - 1

"""Tampering with any stored field of any audit event is detected by `lti-tool audit verify`.

Every column of the audit_event table (taken from the table itself, so a column added later without being
hashed fails here) is overwritten in the database, bypassing the application, with generated values: other
text, other instants, other users, JSON of any shape, text that is not JSON, hashes altered by one character
or truncated. The check must name the event (or, for a moved id, the first event whose link it breaks),
exit 1, and pass again once the value is put back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import select, text

from lti_tool.audit.cli import audit_cli
from lti_tool.audit.trail import AuditEvent, compute_hash, record, verify_chain
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from tests.fuzz_support import FUZZ, json_values, tally

COLUMNS = [c.name for c in AuditEvent.__table__.columns]
# Text PostgreSQL accepts (no NUL, no lone surrogates), as an attacker with SQL access could write it.
storable_text = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


@pytest.fixture
def world(app):
    """Two users and a chain of six events, some by a user, with JSON before/after and a rationale."""
    users = [LtiUser(issuer="https://lms.test", sub=f"u{i}", name=f"User {i}") for i in range(2)]
    db.session.add_all(users)
    db.session.flush()
    for i in range(6):
        record(
            "portfolio.assessed",
            actor=users[0] if i % 2 else None,
            actor_label="" if i % 2 else "cli:root",
            role="assessor",
            subject_type="portfolio",
            subject_id=40 + i,
            before={"state": "submitted"},
            after={"state": "assessed", "n": i, "why": ["a", 1.5, None]},
            rationale=f"Rationale {i}",
        )
    db.session.commit()
    ids = list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    return {"ids": ids, "users": [u.id for u in users]}


def _raw(event_id: int) -> dict[str, Any]:
    return dict(db.session.execute(text("SELECT * FROM audit_event WHERE id = :id"), {"id": event_id}).mappings().one())


def _write(event_id: int, column: str, value: Any) -> None:
    db.session.execute(text(f'UPDATE audit_event SET "{column}" = :v WHERE id = :id'), {"v": value, "id": event_id})
    db.session.commit()


def _json_differs(raw: str | None, original: Any) -> bool:
    if raw is None:
        return original is not None
    try:
        return json.loads(raw) != original
    except ValueError:
        return True


def _tampered_values(column: str, raw: dict[str, Any], event: AuditEvent, users: list[int], backend: str):
    """Values for `column` that mean something else than what is stored."""
    limits = {"actor_label": 300, "role": 40, "action": 80, "subject_type": 40, "subject_id": 80, "rationale": 500}
    if column == "id":
        return st.integers(1000, 10**6).map(lambda k: raw["id"] + k)
    if column == "at":
        shifted = st.integers(-(10**13), 10**13).filter(bool).map(lambda us: event.at + dt.timedelta(microseconds=us))
        if backend == "sqlite":  # SQLite stores the instant as text: any text can be written there
            return shifted | st.text(storable_text, max_size=40)
        return shifted
    if column == "actor_id":
        return st.sampled_from([None, *users]).filter(lambda v: v != raw["actor_id"])
    if column in limits:
        return st.text(storable_text, max_size=limits[column]).filter(lambda v: v != raw[column])
    if column in ("before", "after"):
        original = getattr(event, column)
        candidates = st.one_of(st.none(), json_values.map(json.dumps), st.text(storable_text, max_size=40))
        return candidates.filter(lambda v: _json_differs(v, original))
    if column in ("prev_hash", "hash"):
        one_char = st.tuples(st.integers(0, 63), st.sampled_from("0123456789abcdefABCDEF")).map(
            lambda p: raw[column][: p[0]] + p[1] + raw[column][p[0] + 1 :]
        )
        return (one_char | st.text("0123456789abcdef", max_size=64)).filter(lambda v: v != raw[column])
    if column == "hash_format":
        return st.integers(-5, 300).filter(lambda v: v != raw[column])
    raise AssertionError(f"no tampering strategy for the audit_event column {column!r}: add one")


@pytest.mark.parametrize("column", COLUMNS)
def test_tampering_with_any_column_is_detected(app, world, backend, column):
    ids, users = world["ids"], world["users"]
    runner = app.test_cli_runner()

    @FUZZ
    @given(st.data())
    def check(data):
        tally()
        position = data.draw(st.integers(0, len(ids) - 1), label="event")
        target = ids[position]
        raw = _raw(target)
        event = db.session.get(AuditEvent, target)
        value = data.draw(_tampered_values(column, raw, event, users, backend), label=column)
        if column == "hash":
            assume(value not in {_raw(i)["hash"] for i in ids})  # the column is unique
        _write(target, column, value)
        try:
            report = verify_chain()
            # A moved id takes the event out of its place: the event that followed it no longer links.
            moved = column == "id" and position < len(ids) - 1
            expected = ids[position + 1] if moved else (value if column == "id" else target)
            assert not report.ok and report.broken_at == expected, (column, value, report)
            result = runner.invoke(audit_cli, ["verify"])
            assert result.exit_code == 1 and f"BROKEN at event {expected}:" in result.output, result.output
        finally:
            _write(value if column == "id" else target, column, raw[column])
        assert verify_chain().ok

    check()


def _head(runner) -> str:
    result = runner.invoke(audit_cli, ["verify"])
    assert result.exit_code == 0 and "Head: " in result.output, result.output
    return result.output.split("Head: ", 1)[1].split()[0]


def _last() -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def test_a_rewritten_last_event_or_a_cut_tail_is_caught_with_the_recorded_head(app, world):
    """Alone, a chain cannot vouch for its end; the head hash printed by an earlier verify can."""
    runner = app.test_cli_runner()
    head = _head(runner)
    # Events recorded later do not disturb the recorded head.
    record("portfolio.awarded", actor_label="cli:root", subject_type="portfolio", subject_id=45)
    db.session.commit()
    assert runner.invoke(audit_cli, ["verify", "--head", head]).exit_code == 0

    # The forger rewrites the latest event and recomputes its hash: the plain check cannot tell.
    head = _head(runner)
    last = _last()
    last.rationale = "Forged"
    last.hash = compute_hash(last)
    db.session.commit()
    assert verify_chain().ok
    result = runner.invoke(audit_cli, ["verify", "--head", head])
    assert result.exit_code == 1 and "no longer in the chain" in result.output, result.output

    # Or removes the latest events.
    head = _head(runner)
    db.session.execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": world["ids"][-2]})
    db.session.commit()
    assert verify_chain().ok
    result = runner.invoke(audit_cli, ["verify", "--head", head])
    assert result.exit_code == 1 and "no longer in the chain" in result.output, result.output


def test_events_written_before_the_id_was_hashed_still_verify(app, world):
    """Format 1 events (before migration 0002) verify as written; changing their format is caught."""
    first = world["ids"][0]
    event = db.session.get(AuditEvent, first)
    event.hash_format = 1
    event.hash = compute_hash(event)
    db.session.commit()
    # The next event links to the old hash: relink the rest as a trail written in format 1 would be.
    prev = event.hash
    for event_id in world["ids"][1:]:
        later = db.session.get(AuditEvent, event_id)
        later.prev_hash, later.hash_format = prev, 1
        later.hash = compute_hash(later)
        prev = later.hash
    db.session.commit()
    assert verify_chain().ok
    record("portfolio.awarded", actor_label="cli:root", subject_type="portfolio", subject_id=45)
    db.session.commit()
    assert _last().hash_format == 2 and verify_chain().ok
    _write(first, "hash_format", 2)
    assert verify_chain().broken_at == first

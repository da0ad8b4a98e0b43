"""The state machine, generated from its own table: every allowed move works (and is audited), every
other (from, to, duty) is refused and changes nothing."""

from __future__ import annotations

import itertools

import pytest
from flask import current_app
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.portfolio import workflow
from lti_tool.store.db import db
from tests import assessment_factories as f

STATES = list(workflow.STATE_LABELS)
DUTIES = sorted(set(workflow.TRANSITIONS.values()) | {"tool_admin", "nobody"})
ALLOWED = sorted(workflow.TRANSITIONS.items())
FORBIDDEN = [
    (a, b, d) for a, b, d in itertools.product(STATES, STATES, DUTIES) if workflow.TRANSITIONS.get((a, b)) != d
]


def test_the_table_only_names_known_states():
    for a, b in workflow.TRANSITIONS:
        assert a in STATES and b in STATES
    assert len(ALLOWED) + len(FORBIDDEN) == len(STATES) ** 2 * len(DUTIES)


@pytest.mark.parametrize("from_state,to_state,duty", FORBIDDEN)
def test_forbidden_transition_is_refused(from_state, to_state, duty):
    assert not workflow.allowed(from_state, to_state, duty)
    with pytest.raises(workflow.TransitionRefused) as exc:
        workflow.check(from_state, to_state, duty)
    # Wrong duty for a real move: 403; a move that does not exist: 409.
    assert exc.value.status == (403 if (from_state, to_state) in workflow.TRANSITIONS else 409)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory, keys_dir):
    """One app and world for the whole table (each test moves a portfolio of its own)."""
    from tests.conftest import make_test_app

    app = make_test_app("sqlite", tmp_path_factory.mktemp("workflow"), keys_dir)
    with app.app_context():
        yield f.world(submitted=False)
        db.session.remove()


@pytest.mark.parametrize("move,duty", ALLOWED, ids=[f"{a}->{b}" for (a, b), _ in ALLOWED])
def test_allowed_transition_moves_audits_and_notifies(shared_world, move, duty):
    from_state, to_state = move
    w = shared_world
    row = f.portfolio(w.learner, w.cert, w.partner)
    row.state = from_state
    db.session.commit()
    seen = []

    def listener(portfolio, a, b):
        seen.append((portfolio.id, a, b))

    workflow.add_listener(current_app, listener)
    try:
        workflow.transition(row, to_state, duty=duty, actor=w.admin, rationale="because", details={"note": "x"})
        db.session.commit()
    finally:
        workflow.remove_listener(current_app, listener)
    assert row.state == to_state
    assert seen == [(row.id, from_state, to_state)]
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert event.action == f"portfolio.{to_state}" and event.role == duty and event.actor_id == w.admin.id
    assert event.before == {"state": from_state} and event.after == {"state": to_state, "note": "x"}
    assert event.rationale == "because"


def test_refused_transition_changes_nothing(shared_world):
    w = shared_world
    count = len(list(db.session.scalars(select(AuditEvent))))
    with pytest.raises(workflow.TransitionRefused):
        workflow.transition(w.portfolio, workflow.AWARDED, duty="independent_verifier", actor=w.ev)
    assert w.portfolio.state == workflow.DRAFT
    assert len(list(db.session.scalars(select(AuditEvent)))) == count

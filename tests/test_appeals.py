"""Appeals: lodged by the learner in time, decided by someone not involved; upheld means a fresh assessment
by a different assessor, dismissed means the referral stands."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.identity import staff
from lti_tool.portfolio import workflow
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review import verification as verifying
from lti_tool.portfolio.review.appeal_models import DISMISSED, UPHELD, Appeal
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT
from lti_tool.store.db import db
from lti_tool.web.errors import NotAllowed, UserError
from tests import assessment_factories as f


def _referred(w: f.World):
    decision = assessing.decide(
        w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()), "More evidence on escalation"
    )
    db.session.commit()
    return decision


def test_appeal_upheld_is_reassessed_by_a_different_assessor(app):
    w = f.world()
    decision = _referred(w)
    window = appeals.appeal_window(w.portfolio)
    assert window.allowed and window.deadline == decision.decided_at + dt.timedelta(days=28)
    appeal = appeals.lodge(w.portfolio.id, w.learner, "The escalation log was in item 1, page 4")
    db.session.commit()
    assert w.portfolio.state == workflow.APPEALED and appeal.assessment_id == decision.id

    # Involved people may not decide: the assessor (also an admin here), and the learner.
    f.grant(w.assessor, staff.TOOL_ADMIN)
    db.session.commit()
    with pytest.raises(NotAllowed, match="took part in the decision appealed"):
        appeals.decide(w.portfolio.id, w.assessor, True, "I agree with myself")
    db.session.rollback()
    with pytest.raises(NotAllowed, match="own portfolio"):
        appeals.decide(w.portfolio.id, w.learner, True, "Yes")
    db.session.rollback()
    with pytest.raises(UserError, match="reasons"):
        appeals.decide(w.portfolio.id, w.admin, True, " ")
    db.session.rollback()

    appeals.decide(w.portfolio.id, w.admin, True, "The log is there; the assessor missed it")
    db.session.commit()
    assert w.portfolio.state == workflow.SUBMITTED
    row = db.session.get(Appeal, appeal.id)
    assert row.status == UPHELD and row.decided_by_id == w.admin.id and row.decided_at is not None
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "portfolio.submitted").order_by(AuditEvent.id.desc()).limit(1)
    )
    assert event.role == "appeal_panel" and event.after["outcome"] == UPHELD
    assert event.after["acting_as"] == staff.TOOL_ADMIN and event.actor_id == w.admin.id

    # The original assessor may not re-assess; the appeal decider neither; another assessor may.
    with pytest.raises(NotAllowed, match="re-assessed by an assessor who has not assessed it"):
        assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()))
    db.session.rollback()
    f.grant(w.admin, staff.ASSESSOR)
    db.session.commit()
    with pytest.raises(NotAllowed, match="as appeal decider"):
        assessing.save_draft(w.portfolio.id, w.admin, {})
    db.session.rollback()
    assessing.decide(w.portfolio.id, w.assessor2, COMPETENT, f.all_met(w.criteria_ids()), rng=f.NeverSample())
    db.session.commit()
    assert w.portfolio.state == workflow.VERIFICATION_1
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    assert w.portfolio.state == workflow.AWARDED


def test_appeal_dismissed_leaves_the_referral_and_cannot_be_repeated(app):
    w = f.world()
    _referred(w)
    appeals.lodge(w.portfolio.id, w.learner, "I disagree")
    db.session.commit()
    # Staff in scope who took no part may decide (here the independent verifier).
    appeals.decide(w.portfolio.id, w.ev, False, "The feedback is accurate: the record is missing")
    db.session.commit()
    assert w.portfolio.state == workflow.REFERRED
    assert db.session.scalar(select(Appeal)).status == DISMISSED
    window = appeals.appeal_window(w.portfolio)
    assert not window.allowed and "already been appealed" in window.reason
    with pytest.raises(UserError, match="already been appealed"):
        appeals.lodge(w.portfolio.id, w.learner, "Again")
    db.session.rollback()
    # The learner can still improve and resubmit.
    f.submit(w.portfolio)
    db.session.commit()
    assert w.portfolio.state == workflow.SUBMITTED


def test_appeal_out_of_time_is_refused(app):
    app.config["APPEAL_DAYS"] = 10
    w = f.world()
    decision = _referred(w)
    late = decision.decided_at + dt.timedelta(days=10, seconds=1)
    assert appeals.appeal_window(w.portfolio, now=decision.decided_at + dt.timedelta(days=10)).allowed
    window = appeals.appeal_window(w.portfolio, now=late)
    assert not window.allowed and "10-day period" in window.reason
    with pytest.raises(UserError, match="10-day period") as exc:
        appeals.lodge(w.portfolio.id, w.learner, "Late grounds", now=late)
    assert exc.value.status == 409
    db.session.rollback()
    assert w.portfolio.state == workflow.REFERRED
    assert db.session.scalar(select(Appeal)) is None


def test_appeal_needs_the_owner_grounds_and_a_referral(app):
    w = f.world()
    with pytest.raises(UserError, match="not-yet-competent decision"):
        appeals.lodge(w.portfolio.id, w.learner, "Grounds")
    db.session.rollback()
    _referred(w)
    other = f.user("Someone Else")
    with pytest.raises(NotAllowed):
        appeals.lodge(w.portfolio.id, other, "Grounds")
    db.session.rollback()
    with pytest.raises(UserError, match="grounds"):
        appeals.lodge(w.portfolio.id, w.learner, "   ")
    db.session.rollback()
    # Staff with no role covering the portfolio may not decide an appeal.
    appeals.lodge(w.portfolio.id, w.learner, "Grounds")
    db.session.commit()
    outsider = f.user("Outsider")
    f.grant(outsider, staff.ASSESSOR, w.other_partner)
    db.session.commit()
    with pytest.raises(NotAllowed, match="tool administrator or by staff"):
        appeals.decide(w.portfolio.id, outsider, True, "Yes")
    db.session.rollback()
    assert w.portfolio.state == workflow.APPEALED


def test_appeal_of_a_referral_that_followed_a_verifier_send_back(app):
    """The verifier who sent the decision back is part of the chain, so may not hear the appeal."""
    w = f.world()
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), rng=f.NeverSample())
    verifying.verify(w.portfolio.id, w.iv, 1, False, "Evidence for 1.1.1 is not the learner's own")
    db.session.commit()
    _referred(w)
    appeals.lodge(w.portfolio.id, w.learner, "It is my own work; see the sign-off")
    db.session.commit()
    f.grant(w.iv, staff.TOOL_ADMIN)
    db.session.commit()
    with pytest.raises(NotAllowed, match="as internal verifier"):
        appeals.decide(w.portfolio.id, w.iv, True, "Fine")
    db.session.rollback()
    appeals.decide(w.portfolio.id, w.admin, True, "Sign-off confirms authorship")
    db.session.commit()
    assert w.portfolio.state == workflow.SUBMITTED

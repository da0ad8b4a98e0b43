"""The assessment and verification services end to end: draft -> ... -> awarded, every send-back path,
referral and resubmission, the award, and the audit trail each decision leaves."""

from __future__ import annotations

import re

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent, verify_chain
from lti_tool.portfolio import workflow
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review import awards
from lti_tool.portfolio.review import verification as verifying
from lti_tool.portfolio.review.assessment import Judgement
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Assessment, Award
from lti_tool.portfolio.review.verification_models import (
    AGREED,
    CONFIRMED,
    DISAGREED,
    NOT_SAMPLED,
    SENT_BACK,
    SamplingDecision,
    VerificationRecord,
)
from lti_tool.store.db import db
from lti_tool.web.errors import NotAllowed, UserError
from tests import assessment_factories as f


def _events(portfolio_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "portfolio", AuditEvent.subject_id == str(portfolio_id))
            .order_by(AuditEvent.id)
        )
    )


def _assess_competent(w: f.World, who=None, rng=None) -> Assessment:
    a = assessing.decide(
        w.portfolio.id,
        who or w.assessor,
        COMPETENT,
        f.all_met(w.criteria_ids()),
        "Well done",
        rng=rng or f.NeverSample(),
    )
    db.session.commit()
    return a


def test_whole_path_draft_to_award(app):
    w = f.world()
    assert w.portfolio.state == workflow.SUBMITTED
    ids = w.criteria_ids()
    # Draft: part of the judgements, nothing decided, state unchanged.
    draft = assessing.save_draft(w.portfolio.id, w.assessor, {ids[0]: Judgement(True, "Clear")}, "So far so good")
    db.session.commit()
    assert draft.decision is None and len(draft.judgements) == 1
    assert w.portfolio.state == workflow.SUBMITTED
    # The decision completes the same draft (no second Assessment row).
    decided = assessing.decide(
        w.portfolio.id, w.assessor, COMPETENT, f.all_met(ids), "Competent throughout", rng=f.NeverSample()
    )
    db.session.commit()
    assert decided.id == draft.id and decided.decision == COMPETENT and decided.decided_at is not None
    # A new assessor: sampled into step 1 whatever the draw.
    assert w.portfolio.state == workflow.VERIFICATION_1
    picked = db.session.scalar(select(SamplingDecision).where(SamplingDecision.assessment_id == decided.id))
    assert picked.sampled and any("new assessor" in r for r in picked.reasons)

    verifying.verify(w.portfolio.id, w.iv, 1, True, "Consistent with the evidence")
    db.session.commit()
    assert w.portfolio.state == workflow.VERIFICATION_2
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    assert w.portfolio.state == workflow.AWARDED

    award = db.session.scalar(select(Award).where(Award.portfolio_id == w.portfolio.id))
    year = award.awarded_on.year
    assert award.certificate_number == f"CMIACR-{year}-000001"
    assert re.fullmatch(r"CMIACR-\d{4}-\d{6}", award.certificate_number)
    assert award.credits == 12 and award.cpd_points == 120
    assert award.submission_id == w.portfolio.submissions[-1].id

    states = [(e.before or {}).get("state") for e in _events(w.portfolio.id) if e.action.startswith("portfolio.")]
    assert states == ["draft", "submitted", "assessed", "verification_1", "verification_2"]  # the moves' origins
    actions = [e.action for e in _events(w.portfolio.id)]
    assert actions[-2:] == ["award.made", "portfolio.awarded"]
    assert _events(w.portfolio.id)[-1].after["certificate_number"] == award.certificate_number
    assessed = next(e for e in _events(w.portfolio.id) if e.action == "portfolio.assessed")
    assert assessed.actor_id == w.assessor.id and assessed.role == "assessor"
    assert assessed.after["decision"] == COMPETENT and assessed.rationale == "Competent throughout"
    assert verify_chain().ok


def test_second_award_gets_next_number_and_awards_are_never_duplicated(app):
    w1 = f.world()
    _assess_competent(w1)
    verifying.verify(w1.portfolio.id, w1.iv, 1, True)
    verifying.verify(w1.portfolio.id, w1.ev, 2, True)
    db.session.commit()
    learner2 = f.user("Second Learner")
    p2 = f.portfolio(learner2, w1.cert, w1.partner)
    f.submit(p2)
    db.session.commit()
    assessing.decide(p2.id, w1.assessor, COMPETENT, f.all_met(f.criteria_of(p2)), rng=f.NeverSample())
    verifying.verify(p2.id, w1.iv, 1, True)
    verifying.verify(p2.id, w1.ev, 2, True)
    db.session.commit()
    numbers = sorted(db.session.scalars(select(Award.certificate_number)))
    assert [n[-6:] for n in numbers] == ["000001", "000002"]
    with pytest.raises(UserError):
        awards.make_award(p2, p2.submissions[-1], w1.ev)
    db.session.rollback()
    with pytest.raises(ValueError, match="for life"):
        db.session.delete(db.session.scalar(select(Award)))
        db.session.flush()
    db.session.rollback()
    assert len(numbers) == len(list(db.session.scalars(select(Award))))


def test_certificate_number_collision_retries_with_the_next_number(app, monkeypatch):
    w = f.world()
    _assess_competent(w)
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.commit()
    # Another process issued 000001 meanwhile: our first candidate collides on the unique constraint.
    other = f.portfolio(f.user("Other"), w.cert, w.partner)
    sub = f.submit(other)
    year = awards.utcnow().year
    db.session.add(
        Award(
            portfolio_id=other.id,
            submission_id=sub.id,
            certificate_number=f"CMIACR-{year}-000001",
            credits=12,
            cpd_points=120,
            awarded_on=awards.utcnow().date(),
        )
    )
    db.session.commit()
    real_next = awards.next_certificate_number
    calls = []

    def stale_first(prefix: str) -> str:
        calls.append(prefix)
        return f"{prefix}000001" if len(calls) == 1 else real_next(prefix)

    monkeypatch.setattr(awards, "next_certificate_number", stale_first)
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    award = db.session.scalar(select(Award).where(Award.portfolio_id == w.portfolio.id))
    assert award.certificate_number == f"CMIACR-{year}-000002" and len(calls) == 2
    assert w.portfolio.state == workflow.AWARDED


def test_step1_disagreement_sends_back_and_reassessment_is_a_new_assessment(app):
    w = f.world()
    first = _assess_competent(w)
    with pytest.raises(UserError, match="rationale"):
        verifying.verify(w.portfolio.id, w.iv, 1, False, "   ")
    db.session.rollback()
    verifying.verify(w.portfolio.id, w.iv, 1, False, "Criterion 1.1.1 rests on a witness who was not present")
    db.session.commit()
    assert w.portfolio.state == workflow.SENT_BACK
    rec = db.session.scalar(select(VerificationRecord).where(VerificationRecord.outcome == DISAGREED))
    assert rec.assessment_id == first.id and rec.verifier_id == w.iv.id
    # The form starts from the decision that was sent back.
    values, summary = assessing.starting_values(w.portfolio, w.portfolio.submissions[-1], w.assessor.id)
    assert set(values) == set(w.criteria_ids()) and summary == "Well done"
    second = _assess_competent(w)
    assert second.id != first.id
    assert db.session.get(Assessment, first.id).decision == COMPETENT  # the first decision stays as it was
    assert w.portfolio.state == workflow.VERIFICATION_1
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    assert w.portfolio.state == workflow.AWARDED


def test_step2_send_back_returns_to_the_assessor(app):
    w = f.world()
    _assess_competent(w)
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.commit()
    with pytest.raises(UserError):
        verifying.verify(w.portfolio.id, w.ev, 2, False, "")
    db.session.rollback()
    verifying.verify(w.portfolio.id, w.ev, 2, False, "Unit 2 evidence predates the role")
    db.session.commit()
    assert w.portfolio.state == workflow.SENT_BACK
    event = _events(w.portfolio.id)[-1]
    assert event.action == "portfolio.sent_back" and event.role == "independent_verifier"
    assert event.rationale == "Unit 2 evidence predates the role" and event.actor_id == w.ev.id
    assert db.session.scalar(select(VerificationRecord).where(VerificationRecord.outcome == SENT_BACK))
    # The assessor may also decide not yet competent on re-assessment.
    assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()))
    db.session.commit()
    assert w.portfolio.state == workflow.REFERRED


def test_not_sampled_goes_straight_to_step2_and_says_why(app):
    w = f.world(threshold=0)  # no new-assessor rule, share 0, coverage windows wide
    # First decision: the assessor, units and kinds were never sampled, so coverage forces a sample.
    _assess_competent(w)
    assert w.portfolio.state == workflow.VERIFICATION_1
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    # Second decision, everything covered recently, share 0: not sampled.
    p2 = f.portfolio(f.user("Second"), w.cert, w.partner)
    f.submit(p2)
    db.session.commit()
    decided = assessing.decide(p2.id, w.assessor, COMPETENT, f.all_met(f.criteria_of(p2)), rng=f.NeverSample())
    db.session.commit()
    assert p2.state == workflow.VERIFICATION_2
    rec = db.session.scalar(select(VerificationRecord).where(VerificationRecord.assessment_id == decided.id))
    assert rec.step == 1 and rec.outcome == NOT_SAMPLED and rec.verifier_id is None
    assert "not sampled" in rec.rationale and "0.999" in rec.rationale
    event = _events(p2.id)[-1]
    assert event.action == "portfolio.verification_2" and event.after["sampled"] is False
    assert event.rationale == rec.rationale
    verifying.verify(p2.id, w.ev, 2, True)
    db.session.commit()
    assert p2.state == workflow.AWARDED


def test_competent_needs_every_criterion_met_and_judged(app):
    w = f.world()
    ids = w.criteria_ids()
    with pytest.raises(assessing.IncompleteDecision, match="not judged yet"):
        assessing.decide(w.portfolio.id, w.assessor, COMPETENT, {ids[0]: Judgement(True)})
    db.session.rollback()
    with pytest.raises(assessing.IncompleteDecision, match="every criterion met; not yet met: 1.1.1"):
        assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.one_not_met(ids))
    db.session.rollback()
    with pytest.raises(assessing.IncompleteDecision, match="would be competent"):
        assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.all_met(ids))
    db.session.rollback()
    silent = {cid: Judgement(i != 0, "") for i, cid in enumerate(ids)}
    with pytest.raises(assessing.IncompleteDecision, match="feedback is needed for 1.1.1"):
        assessing.decide(w.portfolio.id, w.assessor, NOT_YET_COMPETENT, silent)
    db.session.rollback()
    with pytest.raises(UserError, match="not part of this submission"):
        assessing.save_draft(w.portfolio.id, w.assessor, {999999: Judgement(True)})
    db.session.rollback()
    with pytest.raises(UserError, match="Choose met or not yet met"):
        assessing.save_draft(w.portfolio.id, w.assessor, {ids[0]: Judgement(None, "typed feedback")})
    db.session.rollback()
    assert w.portfolio.state == workflow.SUBMITTED
    assert db.session.scalar(select(Assessment).where(Assessment.decision.is_not(None))) is None


def test_referral_then_resubmission_is_assessed_as_a_new_attempt(app):
    w = f.world()
    first = assessing.decide(
        w.portfolio.id, w.assessor, NOT_YET_COMPETENT, f.one_not_met(w.criteria_ids()), "Add the escalation record"
    )
    db.session.commit()
    assert w.portfolio.state == workflow.REFERRED
    event = _events(w.portfolio.id)[-1]
    assert event.action == "portfolio.referred" and event.after["criteria_not_yet_met"] == ["1.1.1"]
    # The learner adds evidence and resubmits: attempt 2 with its own snapshot.
    w.portfolio.evidence[0].title = "Monitoring plan, with escalation log"
    sub2 = f.submit(w.portfolio)
    db.session.commit()
    assert sub2.attempt == 2 and w.portfolio.state == workflow.SUBMITTED
    assert w.portfolio.submissions[0].snapshot["evidence"][0]["title"] == "Monitoring plan"  # frozen
    second = _assess_competent(w)
    assert second.submission_id == sub2.id and first.submission_id != sub2.id
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    award = db.session.scalar(select(Award).where(Award.portfolio_id == w.portfolio.id))
    assert award.submission_id == sub2.id


def test_decisions_are_refused_in_the_wrong_state(app):
    w = f.world()
    with pytest.raises(workflow.TransitionRefused):
        verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.rollback()
    _assess_competent(w)
    with pytest.raises(workflow.TransitionRefused):
        assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()))
    db.session.rollback()
    with pytest.raises(workflow.TransitionRefused):
        verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.rollback()
    assert w.portfolio.state == workflow.VERIFICATION_1


def test_separation_of_duties_in_the_services(app):
    w = f.world()
    from lti_tool.identity import staff

    # The learner holds an assessor grant, yet may not assess their own portfolio.
    f.grant(w.learner, staff.ASSESSOR)
    db.session.commit()
    with pytest.raises(NotAllowed, match="own portfolio"):
        assessing.decide(w.portfolio.id, w.learner, COMPETENT, f.all_met(w.criteria_ids()))
    db.session.rollback()
    # A verifier without an assessor grant may not assess.
    with pytest.raises(NotAllowed, match=r"needs the assessor role, which you do not hold"):
        assessing.save_draft(w.portfolio.id, w.iv, {})
    db.session.rollback()

    # The assessor also holds both verifier roles: they still may not verify their own decision.
    f.grant(w.assessor, staff.INTERNAL_VERIFIER)
    f.grant(w.assessor, staff.INDEPENDENT_VERIFIER)
    db.session.commit()
    _assess_competent(w)
    with pytest.raises(NotAllowed, match="as assessor"):
        verifying.verify(w.portfolio.id, w.assessor, 1, True)
    db.session.rollback()
    # The independent verifier is not an internal verifier.
    with pytest.raises(NotAllowed, match=r"needs the internal verifier \(step 1\) role"):
        verifying.verify(w.portfolio.id, w.ev, 1, True)
    db.session.rollback()

    # The step-1 verifier also holds the step-2 role (and no home partner): refused at step 2.
    f.grant(w.iv, staff.INDEPENDENT_VERIFIER)
    db.session.commit()
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.commit()
    with pytest.raises(NotAllowed, match="as internal verifier"):
        verifying.verify(w.portfolio.id, w.iv, 2, True)
    db.session.rollback()
    with pytest.raises(NotAllowed, match="as assessor"):
        verifying.verify(w.portfolio.id, w.assessor, 2, True)
    db.session.rollback()
    # An independent verifier attached to the learner's partner.
    insider = f.user("Ian Insider")
    f.grant(insider, staff.INDEPENDENT_VERIFIER, home=w.partner)
    db.session.commit()
    with pytest.raises(NotAllowed, match="attached to this learner's partner"):
        verifying.verify(w.portfolio.id, insider, 2, True)
    db.session.rollback()
    # An independent verifier limited to another partner / another certification.
    for scope in ({"partner_row": w.other_partner}, {"code": "OTHER"}):
        outsider = f.user("Out Of Scope")
        f.grant(outsider, staff.INDEPENDENT_VERIFIER, **scope)
        db.session.commit()
        with pytest.raises(NotAllowed, match="does not cover"):
            verifying.verify(w.portfolio.id, outsider, 2, True)
        db.session.rollback()
    assert w.portfolio.state == workflow.VERIFICATION_2
    # After the step-2 verifier sends it back, they may not re-assess it either.
    f.grant(w.ev, staff.ASSESSOR)
    db.session.commit()
    verifying.verify(w.portfolio.id, w.ev, 2, False, "Not convinced")
    db.session.commit()
    with pytest.raises(NotAllowed, match="as independent verifier"):
        assessing.decide(w.portfolio.id, w.ev, COMPETENT, f.all_met(w.criteria_ids()))
    db.session.rollback()
    assert db.session.scalar(select(VerificationRecord).where(VerificationRecord.outcome == AGREED))
    assert not db.session.scalar(select(VerificationRecord).where(VerificationRecord.outcome == CONFIRMED))
    assert verify_chain().ok


def test_listeners_told_awarded_find_the_award(app):
    w = f.world()
    _assess_competent(w)
    verifying.verify(w.portfolio.id, w.iv, 1, True)
    db.session.commit()
    seen = []

    def listener(portfolio, before, after):
        if after == workflow.AWARDED:
            award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
            seen.append(award.certificate_number if award else None)

    workflow.add_listener(app, listener)
    try:
        verifying.verify(w.portfolio.id, w.ev, 2, True)
    finally:
        workflow.remove_listener(app, listener)
    assert seen and seen[0] is not None


def test_the_decision_trail_in_the_readers_language(app):
    """The trail staff read beside each decision (and the EQA pack's summary) is written in the reader's
    language: every entry's words, the verification outcome and the award's credits among them."""
    w = f.world()
    _assess_competent(w)
    verifying.verify(w.portfolio.id, w.iv, 1, True, "Consistent with the evidence")
    verifying.verify(w.portfolio.id, w.ev, 2, True)
    db.session.commit()
    with current_app.test_request_context("/"):
        english = [(e.what, e.detail) for e in verifying.decision_trail(w.portfolio)]
        with force_locale("es"):
            spanish = [(e.what, e.who, e.detail) for e in verifying.decision_trail(w.portfolio)]
    assert english[0][0] == "Submitted (attempt 1)" and english[-1][0].startswith("Awarded: certificate CMIACR-")
    whats = [what for what, _who, _detail in spanish]
    assert whats[0] == "Entregado (intento 1)"
    assert "Evaluado: Competente" in whats
    assert "Verificación, paso 1: De acuerdo" in whats, whats
    assert whats[-1].startswith("Concedido: certificado CMIACR-") and spanish[-1][1] == "sistema"
    assert spanish[-1][2] == "12 créditos, 120 puntos de DPC"
    assert not any(what == english_what for what, (english_what, _) in zip(whats, english, strict=True))

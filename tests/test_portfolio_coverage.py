"""Coverage computation: a plain function over snapshot-shaped criteria."""

from __future__ import annotations

from lti_tool.portfolio.coverage import MAPPED, MET, NO_EVIDENCE, NOT_MET, Judgement, compute_coverage, criterion_state


def _criteria() -> list[dict]:
    rows = []
    n = 0
    for unit in ("U1", "U2"):
        for outcome in ("1", "2"):
            for crit in ("a", "b"):
                n += 1
                rows.append(
                    {
                        "id": n,
                        "code": f"{unit}.{outcome}.{crit}",
                        "text": f"Can do {n}",
                        "unit_code": unit,
                        "unit_title": f"Unit {unit}",
                        "outcome_code": f"{unit}.{outcome}",
                        "outcome_text": f"Outcome {unit}.{outcome}",
                        "partner_specific": n == 8,
                    }
                )
    return rows


def test_state_of_one_criterion():
    assert criterion_state(0, None) == NO_EVIDENCE
    assert criterion_state(2, None) == MAPPED
    assert criterion_state(2, Judgement(met=True)) == MET
    assert criterion_state(2, Judgement(met=False)) == NOT_MET
    # A judgement stands even if the learner later unmapped the evidence.
    assert criterion_state(0, Judgement(met=False)) == NOT_MET


def test_before_assessment_counts_evidence_only():
    cov = compute_coverage(_criteria(), {1: 2, 2: 1, 5: 1})
    assert not cov.assessed
    assert cov.total == 8
    assert cov.counts == {MET: 0, NOT_MET: 0, MAPPED: 3, NO_EVIDENCE: 5}
    assert cov.with_evidence == 3 and cov.evidence_percent == 38 and cov.met_percent == 0
    assert [c.id for c in cov.missing] == [3, 4, 6, 7, 8]
    first = cov.criterion(1)
    assert first.state == MAPPED and first.evidence_count == 2 and first.label == "Evidence mapped"


def test_groups_by_unit_and_outcome_in_catalogue_order():
    cov = compute_coverage(_criteria(), {})
    assert [u.code for u in cov.units] == ["U1", "U2"]
    assert [o.code for o in cov.units[0].outcomes] == ["U1.1", "U1.2"]
    assert [c.code for c in cov.units[1].outcomes[1].criteria] == ["U2.2.a", "U2.2.b"]
    assert cov.units[1].outcomes[1].criteria[1].partner_specific is True
    assert cov.units[0].with_evidence == 0


def test_judgements_outrank_mapping_and_carry_feedback():
    judgements = {1: Judgement(True, "Clear report."), 2: Judgement(False, "Show the escalation you made.")}
    cov = compute_coverage(_criteria(), {1: 1, 2: 1, 3: 1}, judgements)
    assert cov.assessed
    assert cov.criterion(1).state == MET and cov.criterion(1).feedback == "Clear report."
    assert cov.criterion(2).state == NOT_MET and cov.criterion(2).feedback == "Show the escalation you made."
    assert cov.criterion(3).state == MAPPED and cov.criterion(3).feedback == ""
    assert cov.counts == {MET: 1, NOT_MET: 1, MAPPED: 1, NO_EVIDENCE: 5}
    assert cov.met == 1 and cov.met_percent == 12 and cov.with_evidence == 3


def test_evidence_counts_follow_the_live_portfolio_after_a_judgement():
    # Criterion 2 was judged not yet met, and the learner has since unmapped its only evidence.
    cov = compute_coverage(_criteria(), {1: 1}, {1: Judgement(True), 2: Judgement(False, "More please.")})
    assert cov.criterion(2).state == NOT_MET and cov.criterion(2).evidence_count == 0
    assert cov.with_evidence == 1
    assert [c.id for c in cov.missing] == [2, 3, 4, 5, 6, 7, 8]  # a submission now would leave 2 unsupported


def test_empty_certification():
    cov = compute_coverage([], {})
    assert cov.total == 0 and cov.evidence_percent == 0 and cov.units == [] and cov.missing == []

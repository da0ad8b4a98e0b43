"""Separation-of-duties rules as plain functions: no database, no request."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lti_tool.identity import staff
from lti_tool.portfolio.review import duties

LEARNER, A, B, V1, V2, ADMIN, X = 1, 2, 3, 4, 5, 6, 7
ACME, OTHER = 10, 11


@dataclass
class G:
    role: str
    partner_id: int | None = None
    certification_code: str | None = None
    home_partner_id: int | None = None


def chain(**kw) -> duties.Chain:
    base = {"learner_id": LEARNER, "partner_id": ACME, "certification_code": "CMIACR"}
    base.update({k: frozenset(v) if isinstance(v, set) else v for k, v in kw.items()})
    return duties.Chain(**base)


def test_assessor_needs_a_covering_grant():
    c = chain()
    assert duties.assess_refusal(A, [G(staff.ASSESSOR)], c) is None
    assert duties.assess_refusal(A, [G(staff.ASSESSOR, ACME, "CMIACR")], c) is None
    assert "do not hold" in duties.assess_refusal(A, [G(staff.INTERNAL_VERIFIER)], c)
    assert "does not cover" in duties.assess_refusal(A, [G(staff.ASSESSOR, OTHER)], c)
    assert "does not cover" in duties.assess_refusal(A, [G(staff.ASSESSOR, None, "OTHER")], c)
    # A grant limited to a partner does not cover a portfolio that has no partner.
    assert "does not cover" in duties.assess_refusal(A, [G(staff.ASSESSOR, ACME)], chain(partner_id=None))
    # A tool admin is not an assessor.
    assert duties.assess_refusal(ADMIN, [G(staff.TOOL_ADMIN)], c) is not None


def test_nobody_assesses_their_own_portfolio():
    assert "own portfolio" in duties.assess_refusal(LEARNER, [G(staff.ASSESSOR)], chain())


def test_assessor_may_reassess_what_was_sent_back_but_not_after_verifying():
    assert duties.assess_refusal(A, [G(staff.ASSESSOR)], chain(assessor_ids={A}, step1_verifier_ids={V1})) is None
    assert "as internal verifier" in duties.assess_refusal(V1, [G(staff.ASSESSOR)], chain(step1_verifier_ids={V1}))
    assert "as independent verifier" in duties.assess_refusal(V2, [G(staff.ASSESSOR)], chain(step2_verifier_ids={V2}))


def test_after_an_upheld_appeal_a_different_assessor_reassesses():
    c = chain(assessor_ids={A}, barred_assessor_ids={A}, appeal_decider_ids={ADMIN})
    assert "not assessed it before" in duties.assess_refusal(A, [G(staff.ASSESSOR)], c)
    assert duties.assess_refusal(B, [G(staff.ASSESSOR)], c) is None
    assert "as appeal decider" in duties.assess_refusal(ADMIN, [G(staff.ASSESSOR)], c)


def test_step1_verifier_took_no_part_in_the_assessment():
    c = chain(assessor_ids={A})
    assert duties.step1_refusal(V1, [G(staff.INTERNAL_VERIFIER)], c) is None
    assert "as assessor" in duties.step1_refusal(A, [G(staff.INTERNAL_VERIFIER)], c)
    # A different assessor who assessed an earlier round of the same submission is also involved.
    assert "as assessor" in duties.step1_refusal(B, [G(staff.INTERNAL_VERIFIER)], chain(assessor_ids={A, B}))
    assert "own portfolio" in duties.step1_refusal(LEARNER, [G(staff.INTERNAL_VERIFIER)], c)
    assert "do not hold" in duties.step1_refusal(V2, [G(staff.INDEPENDENT_VERIFIER)], c)
    # The internal verifier may belong to the learner's partner.
    assert duties.step1_refusal(V1, [G(staff.INTERNAL_VERIFIER, ACME, home_partner_id=ACME)], c) is None


def test_step1_verifier_may_verify_again_after_the_reassessment():
    assert (
        duties.step1_refusal(V1, [G(staff.INTERNAL_VERIFIER)], chain(assessor_ids={A}, step1_verifier_ids={V1})) is None
    )


def test_step2_verifier_is_independent_of_the_chain_and_the_partner():
    c = chain(assessor_ids={A}, step1_verifier_ids={V1})
    grants = [G(staff.INDEPENDENT_VERIFIER, home_partner_id=OTHER)]
    assert duties.step2_refusal(V2, grants, c) is None
    assert "as assessor" in duties.step2_refusal(A, [G(staff.INDEPENDENT_VERIFIER)], c)
    assert "as internal verifier" in duties.step2_refusal(V1, [G(staff.INDEPENDENT_VERIFIER)], c)
    assert "attached to this learner's partner" in duties.step2_refusal(
        V2, [G(staff.INDEPENDENT_VERIFIER, home_partner_id=ACME)], c
    )
    # Attachment through any of their grants counts.
    assert "attached" in duties.step2_refusal(
        V2, [G(staff.INDEPENDENT_VERIFIER), G(staff.INTERNAL_VERIFIER, home_partner_id=ACME)], c
    )
    assert "does not cover" in duties.step2_refusal(V2, [G(staff.INDEPENDENT_VERIFIER, None, "OTHER")], c)
    assert "own portfolio" in duties.step2_refusal(LEARNER, [G(staff.INDEPENDENT_VERIFIER)], c)


def test_step2_verifier_may_verify_again_after_sending_back():
    assert (
        duties.step2_refusal(V2, [G(staff.INDEPENDENT_VERIFIER)], chain(assessor_ids={A}, step2_verifier_ids={V2}))
        is None
    )


@pytest.mark.parametrize("who,field", [(A, "assessor_ids"), (V1, "step1_verifier_ids"), (V2, "step2_verifier_ids")])
def test_appeal_heard_by_someone_not_involved(who, field):
    c = chain(**{field: {who}})
    assert "took part in the decision appealed" in duties.appeal_refusal(who, [G(staff.TOOL_ADMIN)], c)
    assert duties.appeal_refusal(ADMIN, [G(staff.TOOL_ADMIN)], c) is None
    assert duties.appeal_refusal(X, [G(staff.INDEPENDENT_VERIFIER)], c) is None


def test_appeal_decider_needs_admin_or_staff_in_scope():
    c = chain()
    assert "tool administrator or by staff" in duties.appeal_refusal(X, [], c)
    assert "tool administrator or by staff" in duties.appeal_refusal(X, [G(staff.ASSESSOR, OTHER)], c)
    assert "own portfolio" in duties.appeal_refusal(LEARNER, [G(staff.TOOL_ADMIN)], c)
    # Someone who decided an earlier appeal on the submission may decide the next one.
    assert duties.appeal_refusal(ADMIN, [G(staff.TOOL_ADMIN)], chain(appeal_decider_ids={ADMIN})) is None


def test_require_raises_not_allowed():
    duties.require(None)
    with pytest.raises(duties.NotAllowed) as exc:
        duties.require("No.")
    assert exc.value.status == 403

"""The rules behind the authorization matrix, as plain functions: staff visibility is strict about partners,
tool administrators are tool-wide only, only learners start portfolios, and staff pages refuse by role before
they say anything about a portfolio's state."""

from __future__ import annotations

import pytest

from lti_tool.identity import staff
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import ToolSession
from lti_tool.portfolio import access
from lti_tool.portfolio.review import appeals, duties, queues
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review import verification as verification_service
from lti_tool.portfolio.workflow import TransitionRefused
from lti_tool.store.db import db
from lti_tool.web.errors import NotAllowed
from tests import assessment_factories as f


def _loose_portfolio(w: f.World):
    """A submitted portfolio of a deployment that belongs to no partner."""
    row = f.portfolio(f.user("Lou Loose"), w.cert, None)
    f.submit(row)
    db.session.commit()
    return row


def test_a_partner_limited_grant_does_not_cover_a_portfolio_of_no_partner(sqlite_app):
    w = f.world()
    loose = _loose_portfolio(w)
    limited = f.user("Lim Ited")
    f.grant(limited, staff.ASSESSOR, w.partner)
    db.session.commit()
    assert access.staff_can_view(limited.id, w.portfolio)  # its own partner's portfolio
    assert not access.staff_can_view(limited.id, loose)
    # The same answer as the rule the staff pages and duties use.
    grants = staff.grants_for(limited.id)
    assert not any(staff.grant_covers_work(g, g.role, loose.partner_id, "CMIACR") for g in grants)
    # Unlimited staff and tool administrators do see it; someone of another partner sees neither.
    assert access.staff_can_view(w.assessor.id, loose)
    assert access.staff_can_view(w.admin.id, loose)
    outsider = f.user("Out Sider")
    f.grant(outsider, staff.INTERNAL_VERIFIER, w.other_partner)
    db.session.commit()
    assert not access.staff_can_view(outsider.id, w.portfolio)
    assert not access.staff_can_view(outsider.id, loose)


def test_a_certification_limited_grant_covers_only_that_certification(sqlite_app):
    w = f.world()
    other = f.portfolio(f.user("Otto Other"), f.certification("CMOTHER"), w.partner)
    db.session.commit()
    assert access.staff_can_view(w.assessor2.id, w.portfolio)  # Sue: CMIACR only
    assert not access.staff_can_view(w.assessor2.id, other)


def test_a_tool_admin_grant_limited_to_a_partner_is_inert(sqlite_app):
    """Granting refuses such limits; a row made otherwise makes nobody an administrator anywhere."""
    w = f.world()
    alex = f.user("Alex Limited", [lti_roles.INSTITUTION_ADMIN])
    row = f.grant(alex, staff.TOOL_ADMIN, w.partner)
    db.session.commit()
    assert staff.is_inert(row)
    assert not staff.is_tool_admin(alex.id)
    assert staff.grants_for(alex.id) == []
    assert not access.staff_can_view(alex.id, w.portfolio)
    assert queues.visible_queues(alex.id) == []
    chain = duties.Chain(learner_id=w.learner.id, partner_id=w.partner.id, certification_code="CMIACR")
    assert duties.appeal_refusal(alex.id, staff.grants_for(alex.id), chain) is not None
    # The tool-wide grant is the administrator.
    assert staff.is_tool_admin(w.admin.id) and not staff.is_inert(staff.grants_for(w.admin.id)[0])
    assert duties.appeal_refusal(w.admin.id, staff.grants_for(w.admin.id), chain) is None


@pytest.mark.parametrize(
    "roles, allowed",
    [
        ([lti_roles.LEARNER], True),
        ([lti_roles.INSTRUCTOR], False),
        ([lti_roles.TEACHING_ASSISTANT], False),
        ([lti_roles.INSTITUTION_ADMIN, lti_roles.CONTEXT_ADMIN], False),
        ([], False),
    ],
)
def test_only_learners_start_portfolios(roles, allowed):
    assert access.may_start_portfolio(ToolSession(roles=roles)) is allowed


def test_staff_services_refuse_by_role_before_telling_the_state(sqlite_app):
    w = f.world(submitted=False)  # a draft: nobody may act on it yet
    outsider = f.user("Out Sider")
    f.grant(outsider, staff.ASSESSOR, w.other_partner)
    f.grant(outsider, staff.INTERNAL_VERIFIER, w.other_partner)
    db.session.commit()
    for who in (w.learner, outsider, f.user("No Grant")):
        with pytest.raises(NotAllowed):
            assessment_service.check_may_assess(w.portfolio, who)
        with pytest.raises(NotAllowed):
            verification_service.portfolio_for_step(w.portfolio.id, who)
        with pytest.raises(NotAllowed):
            appeals.check_may_decide(w.portfolio, who)
    # Those who could act on it are told it is not waiting for them.
    with pytest.raises(TransitionRefused):
        assessment_service.check_may_assess(w.portfolio, w.assessor)
    with pytest.raises(TransitionRefused):
        verification_service.portfolio_for_step(w.portfolio.id, w.iv)
    with pytest.raises(TransitionRefused):
        appeals.check_may_decide(w.portfolio, w.admin)
    # The learner's own portfolio is refused as such, whatever roles they hold.
    f.grant(w.learner, staff.INTERNAL_VERIFIER)
    f.grant(w.learner, staff.INDEPENDENT_VERIFIER)
    db.session.commit()
    with pytest.raises(NotAllowed, match="your own portfolio"):
        verification_service.portfolio_for_step(w.portfolio.id, w.learner)

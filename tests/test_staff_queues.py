"""Staff work queues in SQL: the counts and pages the database gives agree with the separation-of-duties rules
applied item by item, pages follow each other oldest first, and a page costs the same number of statements
however long the queue."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.identity.partners import Partner
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review import duties, queues
from lti_tool.portfolio.review.appeal_models import DISMISSED, OPEN, UPHELD, Appeal
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Assessment
from lti_tool.portfolio.review.verification_models import AGREED, DISAGREED, NOT_SAMPLED, VerificationRecord
from lti_tool.store.db import db
from tests import assessment_factories as f
from tests.conftest import count_statements

_days = iter(range(1, 1000))


def _decide(sub: Submission, assessor: LtiUser, decision: str | None = COMPETENT) -> Assessment:
    row = Assessment(
        submission_id=sub.id,
        assessor_id=assessor.id,
        decision=decision,
        decided_at=dt.datetime(2025, 1, 1) if decision else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _verify(decision: Assessment, step: int, outcome: str, verifier: LtiUser | None) -> None:
    db.session.add(
        VerificationRecord(
            assessment_id=decision.id,
            submission_id=decision.submission_id,
            step=step,
            outcome=outcome,
            verifier_id=verifier.id if verifier else None,
        )
    )
    db.session.flush()


def _appeal(row: Portfolio, decision: Assessment, status: str, decider: LtiUser | None) -> None:
    db.session.add(
        Appeal(
            portfolio_id=row.id,
            submission_id=decision.submission_id,
            assessment_id=decision.id,
            learner_id=row.user_id,
            grounds="Unfair",
            status=status,
            decided_by_id=decider.id if decider else None,
        )
    )
    db.session.flush()


def _in_state(row: Portfolio, state: str) -> Portfolio:
    row.state = state
    # Distinct waiting times, not in creation order, so that the order is really by waiting time.
    row.state_changed_at = dt.datetime(2025, 1, 1) + dt.timedelta(days=(next(_days) * 37) % 101, hours=len(state))
    db.session.flush()
    return row


def _reference(user: LtiUser, queue: queues.Queue, filters: queues.Filters) -> list[int]:
    """The queue as the rules alone define it: every portfolio in the state, judged one by one."""
    grants = staff.grants_for(user.id)
    out = []
    for row in db.session.scalars(
        select(Portfolio).where(Portfolio.state == queue.state).order_by(Portfolio.state_changed_at, Portfolio.id)
    ):
        if not row.submissions:
            continue
        if filters.certification_code and row.certification.code != filters.certification_code:
            continue
        if filters.partner_id is not None and row.partner_id != filters.partner_id:
            continue
        if queue.refusal(user.id, grants, duties.load_chain(row, row.submissions[-1])) is None:
            out.append(row.id)
    return out


def _busy_world() -> tuple[f.World, list[LtiUser], Partner]:
    """Work in every queue, with every kind of involvement that keeps someone from a duty."""
    w = f.world()
    other_cert = f.certification("CRAIACR")
    dual = f.user("Dana Dual")  # assessor and internal verifier at acme
    f.grant(dual, staff.ASSESSOR, w.partner)
    f.grant(dual, staff.INTERNAL_VERIFIER, w.partner, home=w.partner)
    eve = f.user("Eve Outside")  # independent verifier attached to no partner
    f.grant(eve, staff.INDEPENDENT_VERIFIER)
    elsewhere_learner = f.user("Elsa Elsewhere")

    def submitted(name: str, cert=w.cert, partner=w.partner, learner: LtiUser | None = None) -> Portfolio:
        row = f.portfolio(learner or f.user(name), cert, partner, with_file=False)
        f.submit(row)
        return _in_state(row, workflow.SUBMITTED)

    _in_state(w.portfolio, workflow.SUBMITTED)
    submitted("Other Cert", other_cert)
    submitted("Elsewhere One", partner=w.other_partner, learner=elsewhere_learner)
    submitted("Sue's Own", learner=w.assessor2)  # an assessor's own portfolio
    # Back after an upheld appeal: Sam decided it, so Sam may not re-assess; the admin heard the appeal.
    upheld = submitted("Upheld Appeal")
    _appeal(upheld, _decide(upheld.submissions[-1], w.assessor, NOT_YET_COMPETENT), UPHELD, w.admin)
    # Dana verified the first attempt; that does not count against the second.
    second = submitted("Second Attempt")
    _verify(_decide(second.submissions[-1], w.assessor), 1, DISAGREED, dual)
    _in_state(second, workflow.REFERRED)
    f.submit(second)
    _in_state(second, workflow.SUBMITTED)
    # A draft in progress by Sue.
    drafted = submitted("Drafted")
    _decide(drafted.submissions[-1], w.assessor2, None)

    sent_back = submitted("Sent Back")
    _verify(_decide(sent_back.submissions[-1], w.assessor), 1, DISAGREED, w.iv)
    _in_state(sent_back, workflow.SENT_BACK)
    sent_back_dual = submitted("Sent Back By Dana")
    _verify(_decide(sent_back_dual.submissions[-1], w.assessor2), 1, DISAGREED, dual)
    _in_state(sent_back_dual, workflow.SENT_BACK)

    for name, assessor in (("Step One", w.assessor), ("Dana Assessed", dual)):
        row = submitted(name)
        _decide(row.submissions[-1], assessor)
        _in_state(row, workflow.VERIFICATION_1)

    # Eve once verified at step 1 (a role she held before): not at step 2 of the same decision.
    for name, partner, verifier in (
        ("Step Two", w.partner, w.iv),
        ("Step Two Elsewhere", w.other_partner, None),
        ("Step Two Eve", w.partner, eve),
    ):
        row = submitted(name, partner=partner)
        _verify(_decide(row.submissions[-1], w.assessor), 1, AGREED if verifier else NOT_SAMPLED, verifier)
        _in_state(row, workflow.VERIFICATION_2)

    appealed = submitted("Appealed")
    _appeal(appealed, _decide(appealed.submissions[-1], w.assessor, NOT_YET_COMPETENT), OPEN, None)
    _in_state(appealed, workflow.APPEALED)
    appealed_dual = submitted("Appealed Dana")
    _appeal(appealed_dual, _decide(appealed_dual.submissions[-1], dual, NOT_YET_COMPETENT), OPEN, None)
    _in_state(appealed_dual, workflow.APPEALED)
    dismissed = submitted("Dismissed Before")  # an earlier appeal, decided by Sue, on the same decision chain
    decision = _decide(dismissed.submissions[-1], w.assessor, NOT_YET_COMPETENT)
    _appeal(dismissed, decision, DISMISSED, w.assessor2)
    _in_state(dismissed, workflow.APPEALED)
    db.session.commit()
    people = [w.learner, w.assessor, w.assessor2, w.iv, w.ev, w.admin, dual, eve]
    return w, people, w.partner


@pytest.mark.slow
def test_sql_queues_agree_with_the_rules_item_by_item(app):
    w, people, acme = _busy_world()
    filter_sets = [
        queues.Filters(),
        queues.Filters(certification_code="CMIACR"),
        queues.Filters(partner_id=acme.id),
        queues.Filters(partner_id=w.other_partner.id),
    ]
    seen = 0
    for person in people:
        for queue in queues.QUEUES:
            for filters in filter_sets:
                expected = _reference(person, queue, filters)
                assert queues.count(person.id, queue, filters, exact=True) == len(expected), (
                    person.name,
                    queue.name,
                    filters,
                )
                assert queues.count(person.id, queue, filters) == len(expected)
                page = queues.page(person.id, queue, filters, per_page=100)
                assert [i.portfolio.id for i in page.items] == expected, (person.name, queue.name, filters)
                seen += len(expected)
    assert seen > 40  # the world really fills the queues
    # Spot checks of the rules the SQL must follow.
    assessment = queues.BY_NAME["assessment"]
    sam_sees = {i.portfolio.user.name for i in queues.page(w.assessor.id, assessment).items}
    assert "Upheld Appeal" not in sam_sees and "Second Attempt" in sam_sees and "Sue Assessor" in sam_sees
    sue_sees = {i.portfolio.user.name for i in queues.page(w.assessor2.id, assessment).items}
    assert "Sue Assessor" not in sue_sees and "Upheld Appeal" in sue_sees and "Other Cert" not in sue_sees


def test_queue_pages_follow_each_other_oldest_first(app):
    w, people, _ = _busy_world()
    queue = queues.BY_NAME["assessment"]
    expected = _reference(w.assessor, queue, queues.Filters())
    assert len(expected) >= 6
    got, number = [], 1
    while True:
        page = queues.page(w.assessor.id, queue, number=number, per_page=4)
        assert page.total == len(expected) and page.pages == -(-len(expected) // 4) and page.total_known
        assert page.first == (number - 1) * 4 + 1 and page.last == page.first + len(page.items) - 1
        got += [i.portfolio.id for i in page.items]
        if not page.has_next:
            break
        number += 1
    assert got == expected and page.has_previous
    # Past the end: the last page, not an empty one.
    assert queues.page(w.assessor.id, queue, number=99, per_page=4).number == page.number
    drafted = next(
        i for i in queues.page(w.assessor.id, queue, per_page=100).items if i.portfolio.user.name == "Drafted"
    )
    assert drafted.drafts_by == ("Sue Assessor",)


def test_queue_page_links_to_the_next_page_with_its_filters(app, client, monkeypatch):
    w, _, acme = _busy_world()
    monkeypatch.setattr(queues, "PER_PAGE", 2)
    f.sign_in(client, w.assessor)
    html = client.get(f"/staff/queue/assessment?partner={acme.id}").data.decode()
    total = len(_reference(w.assessor, queues.BY_NAME["assessment"], queues.Filters(partner_id=acme.id)))
    assert f'<span class="badge">{total}</span>' in html and f"Showing 1–2 of {total}" in html
    next_link = re.search(r'<a rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"partner={acme.id}" in next_link and "page=2" in next_link
    second = client.get(next_link).data.decode()
    assert f"Showing 3–4 of {total}" in second and 'rel="prev"' in second
    assert client.get("/staff/queue/assessment?page=abc").status_code == 200
    # The home page counts everything waiting, not only a page of it.
    home = client.get("/staff/").data.decode()
    assert re.search(r'data-queue="assessment">(\d+)<', home).group(1) == str(
        queues.count(w.assessor.id, queues.BY_NAME["assessment"])
    )


def test_long_queues_are_counted_up_to_a_limit(app, client, monkeypatch):
    w, _, _ = _busy_world()
    queue = queues.BY_NAME["assessment"]
    everything = _reference(w.assessor, queue, queues.Filters())
    monkeypatch.setattr(queues, "COUNT_LIMIT", 3)
    assert len(everything) > 4 and queues.count(w.assessor.id, queue) == 4
    assert queues.count(w.assessor.id, queue, exact=True) == len(everything)
    first = queues.page(w.assessor.id, queue, per_page=2)
    assert not first.total_known and first.pages is None and first.total_label == "3+" and first.has_next
    # Paging on needs no count: each page asks for one item more than it shows.
    got, number = [], 1
    while True:
        page = queues.page(w.assessor.id, queue, number=number, per_page=2)
        got += [i.portfolio.id for i in page.items]
        if not page.has_next:
            break
        number += 1
    assert got == everything
    assert queues.page(w.assessor.id, queue, number=99, per_page=2).items == []
    f.sign_in(client, w.assessor)
    home = client.get("/staff/").data.decode()
    assert 'data-queue="assessment">3+<' in home
    monkeypatch.setattr(queues, "PER_PAGE", 2)
    html = client.get("/staff/queue/assessment").data.decode()
    assert '<span class="badge">3+</span>' in html and "Showing 1–2 of more than 3." in html
    assert "past the end of the queue" in client.get("/staff/queue/assessment?page=99").data.decode()
    # Page numbers no database OFFSET can hold, or digits that are not ASCII, are a page like any other.
    for bad in ("99999999999999999999999", "²", "-1", "0"):
        assert client.get("/staff/queue/assessment", query_string={"page": bad}).status_code == 200


def _more_work(w: f.World, n: int) -> None:
    """n more submissions waiting, each with a chain and a draft, as the queue pages show them."""
    for k in range(n):
        row = f.portfolio(f.user(f"Learner {k}"), w.cert, w.partner, with_file=False)
        f.submit(row)
        _verify(_decide(row.submissions[-1], w.assessor2, NOT_YET_COMPETENT), 1, DISAGREED, w.iv)
        _in_state(row, workflow.REFERRED)
        f.submit(row)
        _decide(row.submissions[-1], w.assessor2, None)
    db.session.commit()


@pytest.mark.parametrize("url", ["/staff/queue/assessment", "/staff/"])
def test_queue_pages_cost_the_same_statements_however_long_the_queue(app, client, url):
    w = f.world()
    _more_work(w, 2)
    f.sign_in(client, w.assessor)
    client.get(url)  # first request of the app: nothing cached yet
    small = count_statements(client, url)
    _more_work(w, 10)
    large = count_statements(client, url)
    assert large == small
    assert queues.count(w.assessor.id, queues.BY_NAME["assessment"]) == 13

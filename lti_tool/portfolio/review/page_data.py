"""What the learner's portfolio page reads, in as few queries as the page allows: every launch of a returning
learner ends on it.

- `load_for_page`: the portfolio with its certification and evidence items in one query (the items' criteria
  and files follow in one query each, only when there are items);
- `evidence_counts_of`: each criterion's number of evidence items, counted from the items already loaded;
- `decision_records`: every attempt (without its snapshot), the award and the latest appeal in one query.

The criteria themselves come from memory (`catalogue.tree`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import aliased, defer, joinedload, selectinload

from lti_tool.portfolio.learner import evidence_counts
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, Portfolio, Submission
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db

_PAGE_PORTFOLIO = (
    select(Portfolio)
    .where(Portfolio.id == bindparam("portfolio_id"))
    .options(
        joinedload(Portfolio.certification),
        joinedload(Portfolio.evidence).options(
            selectinload(EvidenceItem.criteria),
            selectinload(EvidenceItem.files).joinedload(EvidenceFile.stored),
        ),
    )
)


def load_for_page(portfolio_id: int) -> Portfolio | None:
    return db.session.execute(_PAGE_PORTFOLIO, {"portfolio_id": portfolio_id}).unique().scalar_one_or_none()


def evidence_counts_of(portfolio: Portfolio) -> dict[int, int]:
    """Criterion id -> evidence items mapped to it: from the loaded items, else counted by the database."""
    state = inspect(portfolio)
    if "evidence" in state.unloaded or any("criteria" in inspect(item).unloaded for item in portfolio.evidence):
        return evidence_counts(portfolio)
    return dict(Counter(c.id for item in portfolio.evidence for c in item.criteria))


@dataclass
class DecisionRecords:
    submissions: list[Submission]  # every attempt, oldest first, without its snapshot
    award: Award | None
    last_appeal: Appeal | None


_latest = aliased(Appeal)
_DECISION_RECORDS = (
    select(Submission, Award, Appeal)
    .select_from(Portfolio)
    .outerjoin(Submission, Submission.portfolio_id == Portfolio.id)
    .outerjoin(Award, Award.portfolio_id == Portfolio.id)
    .outerjoin(
        Appeal,
        Appeal.id
        == select(func.max(_latest.id)).where(_latest.portfolio_id == bindparam("portfolio_id")).scalar_subquery(),
    )
    .where(Portfolio.id == bindparam("portfolio_id"))
    .order_by(Submission.attempt)
    .options(defer(Submission.snapshot))
)


def decision_records(portfolio_id: int) -> DecisionRecords:
    rows = db.session.execute(_DECISION_RECORDS, {"portfolio_id": portfolio_id}).all()
    submissions = [row[0] for row in rows if row[0] is not None]
    first = rows[0] if rows else None
    return DecisionRecords(submissions, first[1] if first else None, first[2] if first else None)

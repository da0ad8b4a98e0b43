"""Choosing portfolios for external quality assurance, always within the person's grant (portfolio.access).

Filters: certification, partner, assessor, the date range of decisions, the outcome (a decision of competent
or not yet competent, or an award), then a random share of what matches. The draw is seeded and the seed
kept with the pack (sample.json), so the same sample can be drawn again and shown to be random.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, exists, select

from lti_tool.portfolio import access
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Assessment, Award
from lti_tool.store.db import db
from lti_tool.web.errors import N_

AWARDED = "awarded"
# Shown through translated() in the filter's choices.
OUTCOMES = {
    COMPETENT: N_("A competent decision"),
    NOT_YET_COMPETENT: N_("A not-yet-competent decision"),
    AWARDED: N_("Awarded"),
}


@dataclass(frozen=True)
class Criteria:
    certification_code: str | None = None
    partner_id: int | None = None
    assessor_id: int | None = None
    decided_from: dt.date | None = None
    decided_to: dt.date | None = None  # inclusive
    outcome: str | None = None
    share_percent: int = 100  # of the matching portfolios, drawn at random
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("decided_from", "decided_to"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    def with_seed(self) -> Criteria:
        return self if self.seed is not None else Criteria(**{**asdict(self), "seed": secrets.randbits(31)})


def matching(user_id: int, criteria: Criteria) -> Select[int]:
    """Ids of the portfolios in the person's grant that match the filters (before the random share)."""
    query = select(Portfolio.id).where(access.eqa_scope(user_id))
    if criteria.certification_code:
        query = query.where(
            Portfolio.certification_id.in_(
                select(Certification.id).where(Certification.code == criteria.certification_code)
            )
        )
    if criteria.partner_id is not None:
        query = query.where(Portfolio.partner_id == criteria.partner_id)
    decision = (
        select(Assessment.id)
        .join(Submission, Assessment.submission_id == Submission.id)
        .where(Submission.portfolio_id == Portfolio.id, Assessment.decision.is_not(None))
    )
    decided = False
    if criteria.assessor_id is not None:
        decision, decided = decision.where(Assessment.assessor_id == criteria.assessor_id), True
    if criteria.decided_from is not None:
        start = dt.datetime.combine(criteria.decided_from, dt.time())
        decision, decided = decision.where(Assessment.decided_at >= start), True
    if criteria.decided_to is not None:
        end = dt.datetime.combine(criteria.decided_to + dt.timedelta(days=1), dt.time())
        decision, decided = decision.where(Assessment.decided_at < end), True
    if criteria.outcome in (COMPETENT, NOT_YET_COMPETENT):
        decision, decided = decision.where(Assessment.decision == criteria.outcome), True
    if criteria.outcome == AWARDED:
        query = query.where(exists(select(Award.id).where(Award.portfolio_id == Portfolio.id)))
    if decided:
        query = query.where(exists(decision))
    return query.order_by(Portfolio.id)


def draw(user_id: int, criteria: Criteria) -> list[int]:
    """The sample: the matching portfolios, or a seeded random share of them (at least one if any match)."""
    ids = list(db.session.scalars(matching(user_id, criteria)))
    share = max(1, min(100, criteria.share_percent))
    if share >= 100 or not ids:
        return ids
    k = max(1, math.ceil(len(ids) * share / 100))
    return sorted(random.Random(criteria.seed).sample(ids, k))

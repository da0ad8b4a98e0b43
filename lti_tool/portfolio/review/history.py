"""One portfolio's audit trail, as staff read it in the tool: every event about the portfolio, its evidence
items and its award, oldest first, each checked against the tamper-evident chain (audit.trail): its content
matches its hash, and it links to the event before it in the tool-wide chain.

The whole chain is checked by `lti-tool audit verify`; this checks the events shown, so a page costs a few
statements however long the tool's trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from lti_tool.audit.trail import GENESIS, AuditEvent, UnknownHashFormat, compute_hash
from lti_tool.portfolio.models import EvidenceItem, Portfolio
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db

MAX_EVENTS = 500


@dataclass(frozen=True)
class TrailEntry:
    event: AuditEvent
    problem: str  # "" when the event is intact

    @property
    def intact(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class PortfolioTrail:
    entries: list[TrailEntry]
    truncated: bool  # more than MAX_EVENTS events: the latest MAX_EVENTS are shown

    @property
    def intact(self) -> bool:
        return all(e.intact for e in self.entries)

    @property
    def broken(self) -> list[TrailEntry]:
        return [e for e in self.entries if not e.intact]


def _subjects(portfolio: Portfolio) -> list[tuple[str, list[str]]]:
    item_ids = select(EvidenceItem.id).where(EvidenceItem.portfolio_id == portfolio.id)
    items = [str(i) for i in db.session.scalars(item_ids)]
    awards = [str(i) for i in db.session.scalars(select(Award.id).where(Award.portfolio_id == portfolio.id))]
    return [("portfolio", [str(portfolio.id)]), ("evidence_item", items), ("award", awards)]


def check(event: AuditEvent, previous_hash: str) -> str:
    """Why this event does not hold in the chain ("" when it does)."""
    if event.prev_hash != previous_hash:
        return "its link to the event before it is broken (an event was removed, inserted or altered)"
    try:
        if compute_hash(event) != event.hash:
            return "its content does not match its hash (it was altered)"
    except UnknownHashFormat:
        return "its hash format is unknown (it was altered)"
    except (TypeError, ValueError, AttributeError):
        return "a stored value has the wrong type (it was altered)"
    return ""


def portfolio_trail(portfolio: Portfolio) -> PortfolioTrail:
    conditions = [
        and_(AuditEvent.subject_type == kind, AuditEvent.subject_id.in_(ids))
        for kind, ids in _subjects(portfolio)
        if ids
    ]
    query = select(AuditEvent).where(or_(*conditions)).order_by(AuditEvent.id.desc()).limit(MAX_EVENTS + 1)
    events = list(db.session.scalars(query))
    truncated = len(events) > MAX_EVENTS
    events = list(reversed(events[:MAX_EVENTS]))
    entries = []
    for event in events:
        previous = db.session.scalar(
            select(AuditEvent.hash).where(AuditEvent.id < event.id).order_by(AuditEvent.id.desc()).limit(1)
        )
        entries.append(TrailEntry(event, check(event, previous or GENESIS)))
    return PortfolioTrail(entries, truncated)

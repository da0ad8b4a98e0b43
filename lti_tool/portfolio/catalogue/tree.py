"""The criteria a portfolio is held to, as plain records (the snapshot's shape), kept in this process's memory,
so that a portfolio page reads no catalogue rows however large the certification is.

- A stored version's units, outcomes and catalogue criteria never change (the importer makes a new version
  for any change): they are read once per process and version, and kept until this process changes a
  catalogue row itself (store/memo.py).
- A partner's own criteria can be added to or removed from a version at any time: they are kept for
  LTI_TOOL_LAUNCH_CACHE_SECONDS, so a change made in another process shows on pages here within that bound
  (at once in the process that made it). Assessment and submission snapshots read the database
  (`criteria_for`), never this copy.

The records are shared: callers read them and never change them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.store.db import db
from lti_tool.store.memo import Memo

CriterionRecord = dict[str, Any]
_SortKey = tuple[int, int, bool, int, int]

_catalogue: Memo[tuple[tuple[_SortKey, CriterionRecord], ...]] = Memo(
    "catalogue_criteria", (Certification, Unit, Outcome, Criterion), None
)
_partner_own: Memo[tuple[tuple[_SortKey, CriterionRecord], ...]] = Memo(
    "partner_criteria", (Certification, Unit, Outcome, Criterion), "LAUNCH_CACHE_SECONDS"
)


def _read(certification_id: int, partner_id: int | None) -> tuple[tuple[_SortKey, CriterionRecord], ...]:
    """The version's catalogue criteria (partner_id None), or one partner's own criteria on it, in one query."""
    rows = db.session.execute(
        select(
            Criterion.id,
            Criterion.code,
            Criterion.text,
            Criterion.position,
            Outcome.code,
            Outcome.text,
            Outcome.position,
            Unit.code,
            Unit.title,
            Unit.position,
        )
        .join(Outcome, Outcome.id == Criterion.outcome_id)
        .join(Unit, Unit.id == Outcome.unit_id)
        .where(
            Unit.certification_id == certification_id,
            Criterion.partner_id.is_(None) if partner_id is None else Criterion.partner_id == partner_id,
        )
    ).all()
    out = []
    for c_id, c_code, c_text, c_pos, o_code, o_text, o_pos, u_code, u_title, u_pos in rows:
        record = {
            "id": c_id,
            "code": c_code,
            "text": c_text,
            "unit_code": u_code,
            "unit_title": u_title,
            "outcome_code": o_code,
            "outcome_text": o_text,
            "partner_specific": partner_id is not None,
        }
        # criteria_for's order: unit, outcome, catalogue criteria before the partner's own, position, id.
        out.append(((u_pos, o_pos, partner_id is not None, c_pos, c_id), record))
    return tuple(sorted(out, key=lambda pair: pair[0]))


def criteria_tree(
    certification: Certification, partner_id: int | None, unit_code: str | None = None
) -> list[CriterionRecord]:
    """What `snapshot.snapshot_criteria` returns (same records, same order), from memory."""
    version = (certification.id, certification.content_hash)
    pairs = list(_catalogue.get(version, lambda: _read(certification.id, None)))
    if partner_id is not None:
        own = _partner_own.get((*version, partner_id), lambda: _read(certification.id, partner_id))
        if own:
            pairs = sorted([*pairs, *own], key=lambda pair: pair[0])
    return [record for _, record in pairs if unit_code is None or record["unit_code"] == unit_code]

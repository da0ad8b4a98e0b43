"""The frozen content of a submission. Assessors judge this, never the live (editable) portfolio.

Shape:
{"certification": {"id", "code", "version", "title"},
 "criteria": [{"id", "code", "text", "unit_code", "unit_title", "outcome_code", "outcome_text",
               "partner_specific"}],
 "evidence": [{"id", "kind", "title", "description", "date", "criteria": [criterion ids],
               "files": [{"sha256", "filename", "size", "media_type"}]}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.models import Portfolio


def snapshot_criteria(
    certification: Certification, partner_id: int | None, unit_code: str | None = None
) -> list[dict[str, Any]]:
    """The criteria a portfolio is held to, in the snapshot's shape (also what the coverage view reads)."""
    return [
        {
            "id": c.id,
            "code": c.code,
            "text": c.text,
            "unit_code": c.outcome.unit.code,
            "unit_title": c.outcome.unit.title,
            "outcome_code": c.outcome.code,
            "outcome_text": c.outcome.text,
            "partner_specific": c.partner_id is not None,
        }
        for c in criteria_for(certification, partner_id, unit_code)
    ]


def build_snapshot(portfolio: Portfolio) -> dict[str, Any]:
    cert = portfolio.certification
    return {
        "certification": {"id": cert.id, "code": cert.code, "version": cert.version, "title": cert.title},
        "criteria": snapshot_criteria(cert, portfolio.partner_id, portfolio.unit_code),
        "evidence": [
            {
                "id": item.id,
                "kind": item.kind,
                "title": item.title,
                "description": item.description,
                "date": item.evidence_date.isoformat() if item.evidence_date else None,
                "criteria": sorted(c.id for c in item.criteria),
                "files": [
                    {
                        "sha256": f.sha256,
                        "filename": f.filename,
                        "size": f.stored.size,
                        "media_type": f.stored.media_type,
                    }
                    for f in item.files
                ],
            }
            for item in portfolio.evidence
        ],
    }


# --- reading a stored snapshot: every reader goes through these, so the shape above is known in one place.
Snapshot = Mapping[str, Any]


def criteria(snapshot: Snapshot | None) -> list[dict[str, Any]]:
    """The criteria the submission was held to, in catalogue order."""
    return list((snapshot or {}).get("criteria", []))


def evidence(snapshot: Snapshot | None) -> list[dict[str, Any]]:
    return list((snapshot or {}).get("evidence", []))


def certification(snapshot: Snapshot | None) -> dict[str, Any]:
    return dict((snapshot or {}).get("certification", {}))


def criterion_ids(snapshot: Snapshot | None) -> list[int]:
    return [c["id"] for c in criteria(snapshot)]


def criterion_codes(snapshot: Snapshot | None) -> dict[int, str]:
    """Criterion id -> its code (e.g. CM1.2.3), for messages and lists."""
    return {c["id"]: c["code"] for c in criteria(snapshot)}


def evidence_counts(snapshot: Snapshot | None) -> dict[int, int]:
    """Criterion id -> how many evidence items were mapped to it."""
    counts: dict[int, int] = {}
    for item in evidence(snapshot):
        for cid in item.get("criteria", []):
            counts[cid] = counts.get(cid, 0) + 1
    return counts


def files(snapshot: Snapshot | None) -> list[dict[str, Any]]:
    """Every file of every evidence item, as submitted."""
    return [f for item in evidence(snapshot) for f in item.get("files", [])]

"""How far a portfolio covers its criteria. A plain function over plain data, so it is tested (and reused
for snapshots) without a request or a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

NO_EVIDENCE = "none"
MAPPED = "mapped"
MET = "met"
NOT_MET = "not_met"

STATE_LABELS: dict[str, str] = {
    NO_EVIDENCE: "No evidence yet",
    MAPPED: "Evidence mapped",
    MET: "Met",
    NOT_MET: "Not yet met",
}
STATE_ORDER = (MET, NOT_MET, MAPPED, NO_EVIDENCE)


@dataclass(frozen=True)
class Judgement:
    met: bool
    feedback: str = ""


@dataclass
class CriterionCoverage:
    id: int
    code: str
    text: str
    partner_specific: bool
    state: str
    evidence_count: int
    feedback: str = ""

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class OutcomeCoverage:
    code: str
    text: str
    criteria: list[CriterionCoverage] = field(default_factory=list)


@dataclass
class UnitCoverage:
    code: str
    title: str
    outcomes: list[OutcomeCoverage] = field(default_factory=list)

    # Counted once: the portfolio page reads each of these several times per unit. compute_coverage builds a
    # unit completely before anything reads them.
    @cached_property
    def criteria(self) -> list[CriterionCoverage]:
        return [c for o in self.outcomes for c in o.criteria]

    @cached_property
    def with_evidence(self) -> int:
        return sum(1 for c in self.criteria if c.evidence_count)

    @property
    def total(self) -> int:
        return len(self.criteria)

    @cached_property
    def met(self) -> int:
        return sum(1 for c in self.criteria if c.state == MET)

    @cached_property
    def missing(self) -> list[CriterionCoverage]:
        """Criteria of this unit with no evidence in the live portfolio."""
        return [c for c in self.criteria if not c.evidence_count]

    @property
    def evidence_percent(self) -> int:
        return round(100 * self.with_evidence / self.total) if self.total else 0

    @property
    def anchor(self) -> str:
        return unit_anchor(self.code)


def unit_anchor(code: str) -> str:
    """A unit's id on the portfolio page (codes may hold dots or spaces; ids should not)."""
    return "unit-" + "".join(ch if ch.isalnum() else "-" for ch in code)


@dataclass
class Coverage:
    units: list[UnitCoverage]
    counts: dict[str, int]
    assessed: bool  # judgements from a decided assessment are shown

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def with_evidence(self) -> int:
        """Criteria the live portfolio has evidence for (whatever an earlier assessment said)."""
        return sum(u.with_evidence for u in self.units)

    @property
    def met(self) -> int:
        return self.counts[MET]

    @property
    def evidence_percent(self) -> int:
        return round(100 * self.with_evidence / self.total) if self.total else 0

    @property
    def met_percent(self) -> int:
        return round(100 * self.met / self.total) if self.total else 0

    @property
    def missing(self) -> list[CriterionCoverage]:
        """Criteria with no evidence in the live portfolio: what a submission now would leave unsupported."""
        return [c for u in self.units for c in u.criteria if not c.evidence_count]

    @property
    def units_missing(self) -> list[UnitCoverage]:
        """Units with at least one criterion still without evidence (the submit page lists them by unit)."""
        return [u for u in self.units if u.missing]

    def criterion(self, criterion_id: int) -> CriterionCoverage | None:
        return next((c for u in self.units for c in u.criteria if c.id == criterion_id), None)


def criterion_state(evidence_count: int, judgement: Judgement | None) -> str:
    """The assessor's judgement, where there is one, outranks the learner's own mapping."""
    if judgement is not None:
        return MET if judgement.met else NOT_MET
    return MAPPED if evidence_count else NO_EVIDENCE


def compute_coverage(
    criteria: Sequence[Mapping[str, Any]],
    evidence_counts: Mapping[int, int],
    judgements: Mapping[int, Judgement] | None = None,
) -> Coverage:
    """Group criteria (in the shape of a snapshot's "criteria", in catalogue order) by unit and outcome,
    each with its state.

    evidence_counts: criterion id -> number of evidence items mapped to it.
    judgements: criterion id -> the latest decided assessment's judgement (None/empty before assessment).
    """
    judgements = judgements or {}
    units: list[UnitCoverage] = []
    counts = dict.fromkeys(STATE_ORDER, 0)
    for c in criteria:
        if not units or units[-1].code != c["unit_code"]:
            units.append(UnitCoverage(code=c["unit_code"], title=c["unit_title"]))
        unit = units[-1]
        if not unit.outcomes or unit.outcomes[-1].code != c["outcome_code"]:
            unit.outcomes.append(OutcomeCoverage(code=c["outcome_code"], text=c["outcome_text"]))
        judgement = judgements.get(c["id"])
        count = evidence_counts.get(c["id"], 0)
        state = criterion_state(count, judgement)
        counts[state] += 1
        unit.outcomes[-1].criteria.append(
            CriterionCoverage(
                id=c["id"],
                code=c["code"],
                text=c["text"],
                partner_specific=bool(c.get("partner_specific")),
                state=state,
                evidence_count=count,
                feedback=judgement.feedback if judgement else "",
            )
        )
    return Coverage(units=units, counts=counts, assessed=bool(judgements))


def chips_by_unit(coverage: Coverage, criterion_ids: Sequence[int]) -> list[tuple[str, list[tuple[int, str]]]]:
    """Criteria (by id) as (unit code, [(id, code)]) in catalogue order: an evidence item's criteria shown as
    compact chips grouped by unit rather than a wall of codes. Ids the coverage does not know are left out."""
    wanted = set(criterion_ids)
    groups: list[tuple[str, list[tuple[int, str]]]] = []
    for unit in coverage.units:
        chips = [(c.id, c.code) for c in unit.criteria if c.id in wanted]
        if chips:
            groups.append((unit.code, chips))
    return groups

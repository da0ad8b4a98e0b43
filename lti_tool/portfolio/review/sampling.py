"""Risk-based sampling for internal verification (step 1).

A competent decision goes to step 1 when:
- its assessor is new: fewer than `new_assessor_threshold` of their decisions for this certification were
  verified at step 1 (every such decision is sampled), or
- coverage is due: its assessor, one of the units it judged, or one of the evidence kinds it relied on has
  not been sampled within the last `coverage_decisions` decisions that involved it, or within
  `coverage_days` days (or never), or
- a random draw falls below `share`.
Otherwise it goes straight to step 2; the SamplingDecision and a VerificationRecord say so and why.

`decide` is pure (facts in, decision out); the random source is passed in so tests are deterministic.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from lti_tool.audit import trail as audit
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.models import EVIDENCE_KINDS
from lti_tool.portfolio.review.assessment_models import Assessment
from lti_tool.portfolio.review.verification_models import (
    AGREED,
    ASSESSOR_DIM,
    KIND_DIM,
    UNIT_DIM,
    SamplingCoverage,
    SamplingDecision,
    SamplingPolicy,
    VerificationRecord,
)
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import N_

DIM_LABELS = {ASSESSOR_DIM: "the assessor", UNIT_DIM: "unit", KIND_DIM: "evidence kind"}

# Why a decision was sampled or not: kept in English with the decision (the audit record and the EQA pack's data
# keep it so), each reason written from one of these forms, and shown in the reader's language by reading it back
# with the same form (`reason_words`).
NEW_ASSESSOR = N_("new assessor: %(verified)s of the first %(threshold)s decisions verified")
NEVER_SAMPLED = N_("%(subject)s has never been sampled")
NOT_IN_DECISIONS = N_("%(subject)s not sampled in its last %(count)s decisions")
NOT_FOR_DAYS = N_("%(subject)s not sampled for %(days)s days")
RANDOM_SAMPLE = N_("random sample: draw %(draw)s below the %(share)s share")
NOT_SAMPLED = N_(
    "not sampled: experienced assessor, recent coverage of assessor, units and evidence kinds, and the random "
    "draw %(draw)s is not below the %(share)s share"
)
REASON_FORMS = (NEW_ASSESSOR, NEVER_SAMPLED, NOT_IN_DECISIONS, NOT_FOR_DAYS, RANDOM_SAMPLE, NOT_SAMPLED)
# What a coverage reason is about (its `subject`).
ASSESSOR_SUBJECT = N_("the assessor %(name)s")
UNIT_SUBJECT = N_("unit %(code)s")
KIND_SUBJECT = N_("evidence kind '%(kind)s'")
SUBJECT_FORMS = (ASSESSOR_SUBJECT, UNIT_SUBJECT, KIND_SUBJECT)


def _reader(form: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"%\\\(([a-z]+)\\\)s", r"(?P<\1>.+?)", re.escape(form)))


_READERS = {form: _reader(form) for form in REASON_FORMS + SUBJECT_FORMS}


def _read(text: str, forms: tuple[str, ...]) -> tuple[str, dict[str, str]] | None:
    for form in forms:
        found = _READERS[form].fullmatch(text)
        if found:
            return form, found.groupdict()
    return None


def reason_words(reason: str) -> str:
    """A stored reason in the reader's language; one written otherwise (by an earlier release) as stored."""
    return _words(reason, REASON_FORMS)


def _words(text: str, forms: tuple[str, ...]) -> str:
    read = _read(text, forms)
    if read is None:
        return text
    form, values = read
    if "subject" in values:
        values["subject"] = _words(values["subject"], SUBJECT_FORMS)
    if "kind" in values:
        values["kind"] = gettext(values["kind"])  # the evidence kind's label (portfolio.models.EVIDENCE_KINDS)
    return gettext(form, **values)


@dataclass(frozen=True)
class Policy:
    new_assessor_threshold: int = 5
    share: float = 0.25
    coverage_decisions: int = 10
    coverage_days: int = 90

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        if self.new_assessor_threshold < 0 or self.coverage_decisions < 1 or self.coverage_days < 1:
            raise ValueError("thresholds must be positive")


@dataclass(frozen=True)
class Coverage:
    """Sampling history of one thing a decision involves (its assessor, a unit or an evidence kind)."""

    dimension: str
    value: str
    label: str
    last_sampled_at: dt.datetime | None  # None: never sampled
    decisions_since_sampled: int  # decisions involving it since it was last sampled (all of them if never)


@dataclass(frozen=True)
class Facts:
    assessor_verified: int
    coverage: tuple[Coverage, ...]
    now: dt.datetime


@dataclass(frozen=True)
class Outcome:
    sampled: bool
    reasons: tuple[str, ...]
    draw: float


def decide(policy: Policy, facts: Facts, rng: random.Random) -> Outcome:
    # Always draw, so one decision consumes one number whatever the other rules say (reproducible streams).
    draw = rng.random()
    reasons: list[str] = []
    if facts.assessor_verified < policy.new_assessor_threshold:
        reasons.append(NEW_ASSESSOR % {"verified": facts.assessor_verified, "threshold": policy.new_assessor_threshold})
    for cov in facts.coverage:
        if cov.last_sampled_at is None:
            reasons.append(NEVER_SAMPLED % {"subject": cov.label})
        elif cov.decisions_since_sampled >= policy.coverage_decisions:
            reasons.append(NOT_IN_DECISIONS % {"subject": cov.label, "count": cov.decisions_since_sampled})
        elif facts.now - cov.last_sampled_at >= dt.timedelta(days=policy.coverage_days):
            reasons.append(NOT_FOR_DAYS % {"subject": cov.label, "days": (facts.now - cov.last_sampled_at).days})
    if reasons:
        return Outcome(True, tuple(reasons), draw)
    if draw < policy.share:
        return Outcome(True, (RANDOM_SAMPLE % {"draw": f"{draw:.3f}", "share": f"{policy.share:.0%}"},), draw)
    return Outcome(False, (NOT_SAMPLED % {"draw": f"{draw:.3f}", "share": f"{policy.share:.0%}"},), draw)


def policy_for(certification_code: str) -> Policy:
    row = db.session.scalar(select(SamplingPolicy).where(SamplingPolicy.certification_code == certification_code))
    if row is None:
        return Policy()
    return Policy(row.new_assessor_threshold, row.share, row.coverage_decisions, row.coverage_days)


def has_own_policy(certification_code: str) -> bool:
    query = select(SamplingPolicy.id).where(SamplingPolicy.certification_code == certification_code)
    return db.session.scalar(query) is not None


def set_policy(
    certification_code: str, changes: dict[str, Any], *, actor: Any = None, actor_label: str = "", role: str = ""
) -> tuple[Policy, Policy]:
    """Set a certification's sampling plan (what `changes` does not name stays as it was); audited as
    sampling.policy_set with the plan before and after. Raises ValueError for a plan Policy refuses. The caller
    commits. Returns (before, after)."""
    before = policy_for(certification_code)
    after = replace(before, **{k: v for k, v in changes.items() if v is not None})  # checks (Policy.__post_init__)
    row = db.session.scalar(select(SamplingPolicy).where(SamplingPolicy.certification_code == certification_code))
    if row is None:
        row = SamplingPolicy(certification_code=certification_code)
        db.session.add(row)
    label = actor_label or (actor.display_name() if actor is not None else "system")
    for key, value in asdict(after).items():
        setattr(row, key, value)
    row.updated_at, row.updated_by = utcnow(), label
    db.session.flush()
    audit.record(
        "sampling.policy_set",
        actor=actor,
        actor_label=label,
        role=role,
        subject=row,
        before=asdict(before),
        after=asdict(after),
    )
    return before, after


def involved(assessor_id: int, snapshot: snap.Snapshot) -> list[tuple[str, str]]:
    """(dimension, value) pairs a decision on this snapshot involves."""
    units = sorted({c["unit_code"] for c in snap.criteria(snapshot)})
    kinds = sorted({e["kind"] for e in snap.evidence(snapshot)})
    return [(ASSESSOR_DIM, str(assessor_id))] + [(UNIT_DIM, u) for u in units] + [(KIND_DIM, k) for k in kinds]


def gather_facts(
    certification_code: str,
    assessor_id: int,
    dims: Iterable[tuple[str, str]],
    labels: dict[tuple[str, str], str] | None = None,
    now: dt.datetime | None = None,
) -> Facts:
    verified = (
        db.session.scalar(
            select(func.count())
            .select_from(VerificationRecord)
            .join(SamplingDecision, SamplingDecision.assessment_id == VerificationRecord.assessment_id)
            .where(
                VerificationRecord.step == 1,
                VerificationRecord.outcome == AGREED,
                SamplingDecision.assessor_id == assessor_id,
                SamplingDecision.certification_code == certification_code,
            )
        )
        or 0
    )
    coverage = []
    for dim, value in dims:
        base = (
            select(SamplingDecision.id, SamplingDecision.created_at)
            .join(SamplingCoverage, SamplingCoverage.decision_id == SamplingDecision.id)
            .where(
                SamplingCoverage.dimension == dim,
                SamplingCoverage.value == value,
                SamplingDecision.certification_code == certification_code,
            )
        )
        last = db.session.execute(
            base.where(SamplingDecision.sampled.is_(True)).order_by(SamplingDecision.id.desc()).limit(1)
        ).first()
        since = select(func.count()).select_from(base.subquery())
        if last is not None:
            since = select(func.count()).select_from(base.where(SamplingDecision.id > last.id).subquery())
        label = (labels or {}).get((dim, value)) or (
            UNIT_SUBJECT % {"code": value} if dim == UNIT_DIM else f"{DIM_LABELS[dim]} {value}"
        )
        coverage.append(Coverage(dim, value, label, last.created_at if last else None, db.session.scalar(since) or 0))
    return Facts(assessor_verified=verified, coverage=tuple(coverage), now=now or utcnow())


def sample(
    assessment: Assessment, certification_code: str, snapshot: dict, rng: random.Random, assessor_label: str = ""
) -> SamplingDecision:
    """Decide and store whether this competent decision goes to step 1. The caller commits."""
    policy = policy_for(certification_code)
    dims = involved(assessment.assessor_id, snapshot)
    labels = {(ASSESSOR_DIM, str(assessment.assessor_id)): (ASSESSOR_SUBJECT % {"name": assessor_label}).strip()}
    labels.update({(KIND_DIM, k): KIND_SUBJECT % {"kind": EVIDENCE_KINDS.get(k, k)} for d, k in dims if d == KIND_DIM})
    facts = gather_facts(certification_code, assessment.assessor_id, dims, labels)
    outcome = decide(policy, facts, rng)
    row = SamplingDecision(
        assessment_id=assessment.id,
        assessor_id=assessment.assessor_id,
        certification_code=certification_code,
        sampled=outcome.sampled,
        reasons=list(outcome.reasons),
        draw=outcome.draw,
        policy=asdict(policy),
        coverage=[SamplingCoverage(dimension=d, value=v[:80]) for d, v in dims],
    )
    db.session.add(row)
    db.session.flush()
    return row

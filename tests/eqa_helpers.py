"""EQA test building blocks: portfolios with real stored evidence, judged through the real services, and an
external quality assurer with a grant."""

from __future__ import annotations

import io
from dataclasses import dataclass

from lti_tool.identity import staff
from lti_tool.launch.models import LtiUser
from lti_tool.portfolio import workflow
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, Portfolio, StoredFile
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review import verification as verification_service
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT
from lti_tool.store.db import db
from tests import assessment_factories as af


def pdf_bytes(marker: str, size: int = 0) -> bytes:
    body = f"%PDF-1.4\n% {marker}\n1 0 obj<<>>endobj\n".encode()
    return body + b"%" * max(0, size - len(body) - 16) + b"\ntrailer<<>>\n%%EOF\n"


def store_file(content: bytes, media_type: str = "application/pdf") -> str:
    put = storage().put(io.BytesIO(content))
    if db.session.get(StoredFile, put.sha256) is None:
        db.session.add(StoredFile(sha256=put.sha256, size=put.size, media_type=media_type))
        db.session.flush()
    return put.sha256


def add_evidence(row: Portfolio, title: str, content: bytes, filename: str | None = None) -> EvidenceItem:
    cert = row.certification
    item = EvidenceItem(portfolio_id=row.id, kind="work_product", title=title, description=f"About {title}")
    item.criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
    item.files = [EvidenceFile(sha256=store_file(content), filename=filename or f"{title}.pdf")]
    db.session.add(item)
    db.session.flush()
    db.session.refresh(row)
    return item


@dataclass
class EqaWorld:
    w: af.World
    eqa: LtiUser
    other_portfolio: Portfolio  # at the other partner: outside the EQA's grant


def judged(w: af.World, row: Portfolio, outcome: str) -> Portfolio:
    """Bring a submitted portfolio to `outcome`: awarded, referred or appealed."""
    ids = af.criteria_of(row)
    if outcome == workflow.AWARDED:
        assessment_service.decide(
            row.id,
            w.assessor,
            COMPETENT,
            af.all_met(ids, "Clear plan, well evidenced"),
            "Competent overall",
            rng=af.AlwaysSample(),
        )
        verification_service.verify(row.id, w.iv, 1, True, "Sampled: the judgements hold.")
        verification_service.verify(row.id, w.ev, 2, True, "Confirmed after reading the plan.")
    else:
        assessment_service.decide(row.id, w.assessor, NOT_YET_COMPETENT, af.one_not_met(ids), "Nearly there")
        if outcome == workflow.APPEALED:
            appeals.lodge(row.id, row.user, "The escalation record was in my second file.")
    db.session.commit()
    assert row.state == outcome, row.state
    return row


def eqa_world(outcome: str = workflow.AWARDED) -> EqaWorld:
    """The assessment world with real evidence files, its portfolio judged to `outcome`; an EQA limited to
    partner acme; and a submitted portfolio at the other partner."""
    w = af.world(submitted=False)
    w.portfolio.evidence.clear()  # the factory's items name files that are not in storage
    db.session.flush()
    add_evidence(w.portfolio, "Monitoring plan", pdf_bytes("acme-plan-secret"), "plan 1.pdf")
    af.submit(w.portfolio, note="My first attempt")
    db.session.commit()
    judged(w, w.portfolio, outcome)
    eqa = af.user("Erin External")
    af.grant(eqa, staff.EXTERNAL_QUALITY_ASSURER, w.partner)
    other_learner = af.user("Olga Other")
    other = af.portfolio(other_learner, w.cert, w.other_partner, with_file=False)
    other.evidence.clear()
    db.session.flush()
    add_evidence(other, "Elsewhere log", pdf_bytes("elsewhere-secret"))
    af.submit(other)
    db.session.commit()
    return EqaWorld(w, eqa, other)

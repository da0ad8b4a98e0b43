"""Building blocks for assessment tests: a small catalogue, people, portfolios and submissions made directly
with the models (the learner's evidence pages live elsewhere), and signed-in test clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from lti_tool.identity import staff
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import Deployment, LtiContext, LtiUser, Membership, Registration, ResourceLink
from lti_tool.launch.session import COOKIE_NAME, start_session
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, Portfolio, StoredFile, Submission
from lti_tool.portfolio.snapshot import build_snapshot
from lti_tool.store.db import db
from tests import factories

ISSUER = "https://lms.factory.test"
_seq = itertools.count(1)


def partner(slug: str = "acme") -> Partner:
    row = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if row is None:
        row = Partner(slug=slug, name=slug.replace("-", " ").title())
        db.session.add(row)
        db.session.flush()
    return row


def certification(code: str = "CMIACR", units: int = 2, criteria_per_unit: int = 2, credits: int = 12) -> Certification:
    """A new version of `code` (after any the app seeded, e.g. the demo catalogue): units U1.., one outcome
    each, criteria 1.1.1.. ("The learner can do 1.1"), flushed."""
    return factories.make_certification(
        code,
        version=None,
        title="Qualified {code}",
        isced_level="ED5",
        credits=credits,
        units=units,
        outcomes=1,
        criteria=criteria_per_unit,
        unit_title="Unit {n}",
        outcome_text="Outcome of unit {n}",
        criterion_text="The learner can do {n}.{c}",
        commit=False,
    )


def deployment(partner_row: Partner | None = None) -> Deployment:
    reg = db.session.scalar(select(Registration).where(Registration.issuer == ISSUER))
    if reg is None:
        reg = Registration(
            issuer=ISSUER,
            client_id="factory",
            auth_login_url="https://lms.factory.test/auth",
            auth_token_url="https://lms.factory.test/token",
            key_set_url="https://lms.factory.test/k",
        )
        db.session.add(reg)
        db.session.flush()
    dep_id = f"dep-{partner_row.slug if partner_row else 'none'}"
    dep = db.session.scalar(
        select(Deployment).where(Deployment.registration_id == reg.id, Deployment.deployment_id == dep_id)
    )
    if dep is None:
        dep = Deployment(
            registration_id=reg.id, deployment_id=dep_id, partner_id=partner_row.id if partner_row else None
        )
        db.session.add(dep)
        db.session.flush()
    return dep


def user(name: str, lms_roles: list[str] | None = None, dep: Deployment | None = None) -> LtiUser:
    """A person who has launched: an LtiUser and, with lms_roles, a course membership with those roles."""
    row = LtiUser(issuer=ISSUER, sub=f"{name.lower().replace(' ', '-')}-{next(_seq)}", name=name)
    db.session.add(row)
    db.session.flush()
    if lms_roles is not None:
        dep = dep or deployment(None)
        ctx = db.session.scalar(select(LtiContext).where(LtiContext.deployment_id == dep.id))
        if ctx is None:
            ctx = LtiContext(deployment_id=dep.id, context_id="course", title="Course")
            db.session.add(ctx)
            db.session.flush()
        db.session.add(Membership(user_id=row.id, context_id=ctx.id, roles=lms_roles))
        db.session.flush()
    return row


def grant(
    person: LtiUser, role: str, partner_row: Partner | None = None, code: str | None = None, home: Partner | None = None
) -> staff.StaffGrant:
    row = staff.StaffGrant(
        user_id=person.id,
        role=role,
        partner_id=partner_row.id if partner_row else None,
        certification_code=code,
        home_partner_id=home.id if home else None,
        granted_by="test",
    )
    db.session.add(row)
    db.session.flush()
    return row


def portfolio(
    learner: LtiUser,
    cert: Certification,
    partner_row: Partner | None,
    evidence: list[tuple[str, str]] | None = None,
    with_file: bool = True,
) -> Portfolio:
    """A draft portfolio with evidence items (kind, title), each mapped to every criterion."""
    dep = deployment(partner_row)
    link = ResourceLink(deployment_id=dep.id, resource_link_id=f"link-{next(_seq)}", title="Portfolio")
    db.session.add(link)
    db.session.flush()
    row = Portfolio(
        user_id=learner.id,
        certification_id=cert.id,
        resource_link_id=link.id,
        partner_id=partner_row.id if partner_row else None,
    )
    db.session.add(row)
    db.session.flush()
    criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
    for kind, title in evidence or [("work_product", "Monitoring plan"), ("witness_testimony", "Line manager")]:
        item = EvidenceItem(
            portfolio_id=row.id, kind=kind, title=title, description=f"About {title}", evidence_date=dt.date(2025, 5, 1)
        )
        item.criteria = list(criteria)
        if with_file:
            digest = hashlib.sha256(f"{title}{row.id}".encode()).hexdigest()
            if db.session.get(StoredFile, digest) is None:
                db.session.add(StoredFile(sha256=digest, size=1234, media_type="application/pdf"))
            item.files = [EvidenceFile(sha256=digest, filename=f"{title}.pdf")]
        db.session.add(item)
    db.session.flush()
    db.session.refresh(row)
    return row


def submit(row: Portfolio, note: str = "") -> Submission:
    """What the learner's submit does: freeze a snapshot as the next attempt and move to submitted."""
    attempt = len(row.submissions) + 1
    sub = Submission(portfolio_id=row.id, attempt=attempt, snapshot=build_snapshot(row), learner_note=note)
    db.session.add(sub)
    workflow.transition(row, workflow.SUBMITTED, duty="learner", actor=row.user)
    db.session.flush()
    db.session.refresh(row)
    return sub


@dataclass
class World:
    cert: Certification
    partner: Partner
    other_partner: Partner
    learner: LtiUser
    assessor: LtiUser
    assessor2: LtiUser
    iv: LtiUser
    ev: LtiUser
    admin: LtiUser
    portfolio: Portfolio

    def criteria_ids(self, submission: Submission | None = None) -> list[int]:
        sub = submission or self.portfolio.submissions[-1]
        return [c["id"] for c in sub.snapshot["criteria"]]


def world(submitted: bool = True, threshold: int | None = None) -> World:
    """One learner at partner 'acme' with a CMIACR portfolio, an assessor (two), an internal verifier
    attached to acme, an independent verifier attached elsewhere, and a tool admin (an LMS admin)."""
    acme, elsewhere = partner("acme"), partner("elsewhere")
    cert = certification()
    learner = user("Lee Learner", [lti_roles.LEARNER], deployment(acme))
    assessor = user("Sam Assessor")
    assessor2 = user("Sue Assessor")
    iv = user("Vera Internal")
    ev = user("Eli Independent")
    admin = user("Alex Admin", [lti_roles.INSTITUTION_ADMIN])
    grant(assessor, staff.ASSESSOR)
    grant(assessor2, staff.ASSESSOR, code="CMIACR")
    grant(iv, staff.INTERNAL_VERIFIER, acme, home=acme)
    grant(ev, staff.INDEPENDENT_VERIFIER, home=elsewhere)
    grant(admin, staff.TOOL_ADMIN)
    row = portfolio(learner, cert, acme)
    if submitted:
        submit(row)
    if threshold is not None:
        from lti_tool.portfolio.review.verification_models import SamplingPolicy

        db.session.add(
            SamplingPolicy(
                certification_code="CMIACR",
                new_assessor_threshold=threshold,
                share=0.0,
                coverage_decisions=1000,
                coverage_days=3650,
            )
        )
    db.session.commit()
    return World(cert, acme, elsewhere, learner, assessor, assessor2, iv, ev, admin, row)


def criteria_of(row: Portfolio) -> list[int]:
    return [c["id"] for c in row.submissions[-1].snapshot["criteria"]]


def all_met(ids: list[int], feedback: str = "Good evidence") -> dict[int, Any]:
    from lti_tool.portfolio.review.assessment import Judgement

    return {cid: Judgement(True, feedback) for cid in ids}


def one_not_met(ids: list[int]) -> dict[int, Any]:
    from lti_tool.portfolio.review.assessment import Judgement

    return {cid: Judgement(i != 0, "Missing the escalation record" if i == 0 else "Fine") for i, cid in enumerate(ids)}


class NeverSample(random.Random):
    """A random source whose draws are always 0.999 (never under the share)."""

    def random(self) -> float:
        return 0.999


class AlwaysSample(random.Random):
    def random(self) -> float:
        return 0.0


def sign_in(client: Any, person: LtiUser, lms_roles: list[str] | None = None, dep: Deployment | None = None) -> Any:
    """A tool session for `person` as if they had launched, set as the client's cookie. Returns the session."""
    dep = dep or deployment(None)
    sess = start_session(user=person, deployment=dep, roles=lms_roles or [lti_roles.TEACHING_ASSISTANT])
    db.session.commit()
    client.set_cookie(COOKIE_NAME, sess.id, domain="localhost")
    return sess

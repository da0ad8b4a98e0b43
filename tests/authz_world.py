"""A world for the authorization matrix: two partners, every kind of person with a real launch (their own
test client and session), and the objects every route's URL needs (portfolios in each state, evidence
and files, an award with its credential, a grade job, an invite, a spare key...).

Objects that an allowed POST changes are made fresh for each such request (the `fresh_*` methods), so the
cases do not depend on one another's order. Requests expected to be refused get one shared object of the
kind instead (a refusal changes nothing, which the matrix checks through the audit trail).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from flask import Flask
from sqlalchemy import select

from lti_tool.audit import actor as acting
from lti_tool.demo_platform import people
from lti_tool.demo_platform.models import DemoMail
from lti_tool.eqa import jobs as eqa_jobs
from lti_tool.grading.models import GradeJob
from lti_tool.identity import staff
from lti_tool.identity.grants import Scope, add_pending_grant
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.invites import create_invite
from lti_tool.launch.keys import key_store
from lti_tool.launch.models import Deployment, LtiUser, Registration, ResourceLink, ToolSession
from lti_tool.launch.session import COOKIE_NAME
from lti_tool.notifications import kinds, links
from lti_tool.notifications.models import MailOutbox, Notification
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, Portfolio, Submission
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review import verification as verification_service
from lti_tool.portfolio.review.assessment import Judgement
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Award
from lti_tool.portfolio.snapshot import build_snapshot
from lti_tool.store.db import db
from tests import assessment_factories
from tests.lti_helpers import LEARNER, JwksServer, TestPlatform, demo_launch

ANON = "anonymous"
OWNER = "learner"
OTHER = "other_learner"
PARTNER2 = "learner_other_partner"
INSTRUCTOR = "instructor"
ASSESSOR = "assessor"
IV = "internal_verifier"
EV = "independent_verifier"
ADMIN = "admin"
# An external quality assurer (read only) limited to the academy, launched from a regulator's own LMS.
EQA = "external_quality_assurer"
ROLES = (ANON, OWNER, OTHER, PARTNER2, INSTRUCTOR, ASSESSOR, IV, EV, ADMIN, EQA)

DEMO_PEOPLE = {
    OWNER: "demo-learner-ada",
    OTHER: "demo-learner-ben",
    INSTRUCTOR: "demo-instructor-iris",
    ASSESSOR: "demo-assessor-sam",
    IV: "demo-verifier-vera",
    EV: "demo-verifier-eli",
    ADMIN: "demo-admin-alex",
}

# Words that appear only in one learner's evidence: a page showing them to someone else leaks it.
OWNER_SECRET = "Quarantined-site-visit-notes-7QX"
PARTNER2_SECRET = "North-hub-escalation-log-4KM"
# Names only staff covering their partner (or tool-wide staff) may see.
PARTNER2_NAME = "Noor Northcott"
NO_PARTNER_NAME = "Lou Loosely"
NORTH_ISSUER = "https://lms.north-hub.test"
EQA_ISSUER = "https://lms.regulator.test"
CERT = "CMIACR"


def pdf(marker: str) -> bytes:
    return f"%PDF-1.4\n% {marker}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".encode()


class AlwaysSample(random.Random):
    def random(self) -> float:
        return 0.0


@dataclass
class Actor:
    """One person's browser: a test client holding their session cookie (none for the anonymous)."""

    role: str
    client: Any
    session_id: str | None = None
    user_id: int | None = None

    @property
    def csrf(self) -> str | None:
        if self.session_id is None:
            return None
        sess = db.session.get(ToolSession, self.session_id)
        return sess.csrf_token if sess else None

    def request(self, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
        if method == "GET":
            return self.client.get(url)
        body = dict(data or {})
        if self.csrf is not None:
            body.setdefault("csrf_token", self.csrf)
        multipart = any(
            isinstance(v, tuple) or (isinstance(v, list) and v and isinstance(v[0], tuple)) for v in body.values()
        )
        return self.client.open(
            url, method=method, data=body, content_type="multipart/form-data" if multipart else None
        )


@dataclass
class World:
    app: Flask
    actors: dict[str, Actor] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    # Set by the matrix for requests expected to succeed: only they get newly made objects.
    making: bool = False
    _shared: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None

    def user(self, role: str) -> LtiUser:
        return db.session.get(LtiUser, self.actors[role].user_id)

    def next(self) -> int:
        return next(self._seq)

    # --- fresh objects for requests that change them ---------------------------------------------------

    def _once(self, key: tuple[str, ...], make: Any) -> Any:
        """A new object while `making`; otherwise one shared object of the kind."""
        if self.making:
            return make()
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def _make_portfolio(self, state: str, role: str = OWNER) -> int:
        """A portfolio of `role`'s (at their partner) brought to `state` through the real services."""
        learner = self.user(role)
        partner_id = self.north_id if role == PARTNER2 else self.academy_id
        dep_id = self.north_dep_id if role == PARTNER2 else self.demo_dep_id
        link = ResourceLink(deployment_id=dep_id, resource_link_id=f"matrix-link-{self.next()}", title="Portfolio")
        db.session.add(link)
        db.session.flush()
        portfolio = Portfolio(
            user_id=learner.id,
            certification_id=self.cert_id,
            resource_link_id=link.id,
            partner_id=partner_id,
            route="training",
            state=workflow.DRAFT,
        )
        db.session.add(portfolio)
        db.session.flush()
        self._evidence(portfolio, self.north_sha if role == PARTNER2 else self.owner_sha)
        if state != workflow.DRAFT:
            self._advance(portfolio, learner, state)
        db.session.commit()
        return portfolio.id

    def fresh_portfolio(self, state: str, role: str = OWNER) -> int:
        return self._once(("portfolio", state, role), lambda: self._make_portfolio(state, role))

    def fresh_item(self, portfolio_id: int) -> int:
        return self._once(("item", str(portfolio_id)), lambda: self._make_item(portfolio_id))

    def fresh_award(self) -> str:
        return self._once(("award",), self._make_award)

    def fresh_registration(self) -> int:
        return self._once(("registration",), self._make_registration)

    def fresh_deployment(self) -> int:
        return self._once(("deployment",), self._make_deployment)

    def fresh_partner(self) -> int:
        return self._once(("partner",), self._make_partner)

    def fresh_invite(self) -> int:
        return self._once(("invite",), self._make_invite)

    def fresh_pending(self) -> int:
        return self._once(("pending",), self._make_pending)

    def fresh_grant(self) -> int:
        return self._once(("grant",), self._make_grant)

    def _evidence(self, portfolio: Portfolio, sha: str) -> EvidenceItem:
        cert = db.session.get(Certification, self.cert_id)
        item = EvidenceItem(
            portfolio_id=portfolio.id,
            kind="work_product",
            title=f"Monitoring plan {self.next()}",
            description="What I did.",
            evidence_date=dt.date(2025, 5, 1),
        )
        item.criteria = [c for u in cert.units for o in u.outcomes for c in o.criteria]
        item.files = [EvidenceFile(sha256=sha, filename="plan.pdf")]
        db.session.add(item)
        db.session.flush()
        db.session.refresh(portfolio)
        return item

    def _advance(self, portfolio: Portfolio, learner: LtiUser, state: str) -> None:
        submission = Submission(portfolio_id=portfolio.id, attempt=1, snapshot=build_snapshot(portfolio))
        db.session.add(submission)
        db.session.flush()
        workflow.transition(portfolio, workflow.SUBMITTED, duty="learner", actor=learner)
        if state == workflow.SUBMITTED:
            return
        ids = [c["id"] for c in submission.snapshot["criteria"]]
        sam = self.user(ASSESSOR)
        if state in (workflow.REFERRED, workflow.APPEALED):
            judgements = {
                cid: Judgement(i != 0, "The escalation record is missing." if i == 0 else "Fine")
                for i, cid in enumerate(ids)
            }
            assessment_service.decide(portfolio.id, sam, NOT_YET_COMPETENT, judgements, "Nearly there")
            if state == workflow.APPEALED:
                appeals.lodge(portfolio.id, learner, "The escalation record was in the second file.")
            return
        assessment_service.decide(
            portfolio.id, sam, COMPETENT, {cid: Judgement(True, "Seen") for cid in ids}, "Competent", rng=AlwaysSample()
        )
        assert portfolio.state == workflow.VERIFICATION_1, portfolio.state
        if state == workflow.VERIFICATION_1:
            return
        verification_service.verify(portfolio.id, self.user(IV), 1, True)
        if state == workflow.VERIFICATION_2:
            return
        verification_service.verify(portfolio.id, self.user(EV), 2, True)
        assert state == workflow.AWARDED and portfolio.state == workflow.AWARDED

    def _make_item(self, portfolio_id: int) -> int:
        portfolio = db.session.get(Portfolio, portfolio_id)
        item = self._evidence(portfolio, self.owner_sha)
        db.session.commit()
        return item.id

    def _make_award(self) -> str:
        portfolio_id = self._make_portfolio(workflow.AWARDED)
        return db.session.scalar(select(Award.certificate_number).where(Award.portfolio_id == portfolio_id))

    def _make_registration(self) -> int:
        n = self.next()
        reg = Registration(
            issuer=f"https://spare-{n}.example",
            client_id=f"spare-{n}",
            name=f"Spare LMS {n}",
            auth_login_url=f"https://spare-{n}.example/auth",
            auth_token_url=f"https://spare-{n}.example/token",
            key_set_url=f"https://spare-{n}.example/jwks",
        )
        reg.deployments = [Deployment(deployment_id=f"spare-dep-{n}")]
        db.session.add(reg)
        db.session.commit()
        return reg.id

    def _make_deployment(self) -> int:
        reg = db.session.get(Registration, self._make_registration())
        return reg.deployments[0].id

    def _make_partner(self) -> int:
        n = self.next()
        partner = Partner(slug=f"spare-partner-{n}", name=f"Spare Partner {n}", kind="academy")
        db.session.add(partner)
        db.session.commit()
        return partner.id

    def _make_invite(self) -> int:
        invite, _ = create_invite(acting.Actor(label="matrix test", role=staff.TOOL_ADMIN), hours=24)
        db.session.commit()
        return invite.id

    def _make_pending(self) -> int:
        pending = add_pending_grant(
            "https://later.example",
            f"later-{self.next()}",
            staff.ASSESSOR,
            Scope(),
            acting.Actor(label="matrix test", role=staff.TOOL_ADMIN),
        )
        db.session.commit()
        return pending.id

    def _make_grant(self) -> int:
        grant = staff.StaffGrant(
            user_id=self.spare_user_id,
            role=staff.ASSESSOR,
            certification_code=f"X{self.next()}",
            granted_by="matrix test",
        )
        db.session.add(grant)
        db.session.commit()
        return grant.id


def _actor(role: str, client: Any) -> Actor:
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None, f"{role}: the launch set no session cookie"
    sess = db.session.get(ToolSession, cookie.value)
    return Actor(role, client, sess.id, sess.user_id)


def _upload(actor: Actor, portfolio_id: int, title: str, content: bytes) -> None:
    portfolio = db.session.get(Portfolio, portfolio_id)
    cert = portfolio.certification
    criteria = [str(c.id) for u in cert.units for o in u.outcomes for c in o.criteria]
    resp = actor.request(
        "POST",
        f"/portfolio/{portfolio_id}/evidence/new",
        {
            "kind": "work_product",
            "title": title,
            "description": "What I did on the visit.",
            "evidence_date": "2025-04-01",
            "criteria": criteria,
            "files": [(io.BytesIO(content), "notes.pdf")],
        },
    )
    assert resp.status_code == 303, resp.data[:500]


def _start_portfolio(actor: Actor) -> int:
    page = actor.request("GET", "/portfolio/placement")
    if page.status_code == 200:
        page = actor.request("POST", "/portfolio/placement", {"route": "training"})
    assert page.status_code == 303, page.data[:500]
    sess = db.session.get(ToolSession, actor.session_id)
    return db.session.scalar(
        select(Portfolio.id).where(
            Portfolio.user_id == sess.user_id, Portfolio.resource_link_id == sess.resource_link_id
        )
    )


def build_world(app: Flask, jwks: JwksServer) -> World:
    w = World(app)
    academy = db.session.scalar(select(Partner).where(Partner.slug == people.PARTNER_SLUG))
    demo_dep = db.session.scalar(select(Deployment).where(Deployment.deployment_id == people.DEPLOYMENT_ID))
    cert = assessment_factories.certification(CERT)
    north = Partner(slug="north-hub", name="North Hub", kind="hub")
    db.session.add(north)
    db.session.commit()
    platform = TestPlatform(jwks, issuer=NORTH_ISSUER, client_id="north-client", deployment_id="north-dep")
    north_dep = db.session.get(Registration, platform.registration_id).deployments[0]
    north_dep.partner_id = north.id
    db.session.commit()
    w.ids.update(
        academy_id=academy.id,
        north_id=north.id,
        cert_id=cert.id,
        demo_dep_id=demo_dep.id,
        north_dep_id=north_dep.id,
        cert_code=cert.code,
        cert_version=cert.version,
    )

    w.actors[ANON] = Actor(ANON, app.test_client())
    for role, sub in DEMO_PEOPLE.items():
        client = app.test_client()
        resp = demo_launch(client, sub, deep_link=role == INSTRUCTOR)
        assert resp.status_code == 303, (role, resp.data[:500])
        w.actors[role] = _actor(role, client)
    client = app.test_client()
    resp = platform.launch(
        client,
        sub="north-learner-noor",
        name=PARTNER2_NAME,
        CLAIM_roles=[LEARNER],
        CLAIM_resource_link={"id": "north-link", "title": "Portfolio"},
        CLAIM_custom={"certification": CERT},
    )
    assert resp.status_code == 303, resp.data[:500]
    w.actors[PARTNER2] = _actor(PARTNER2, client)
    regulator = TestPlatform(jwks, issuer=EQA_ISSUER, client_id="eqa-client", deployment_id="eqa-dep")
    client = app.test_client()
    resp = regulator.launch(
        client,
        sub="eqa-erin",
        name="Erin External",
        CLAIM_roles=[lti_roles.TEACHING_ASSISTANT],
        CLAIM_resource_link={"id": "eqa-link", "title": "Quality assurance"},
        CLAIM_custom={"certification": CERT},
    )
    assert resp.status_code == 303, resp.data[:500]
    w.actors[EQA] = _actor(EQA, client)

    # Staff scopes: the assessor and the internal verifier work for the academy only; the independent
    # verifier for everyone but belongs to North Hub; the admin is tool-wide.
    for role, partner_id, home in ((ASSESSOR, academy.id, None), (IV, academy.id, academy.id), (EV, None, north.id)):
        for grant in staff.grants_for(w.actors[role].user_id):
            grant.partner_id, grant.home_partner_id = partner_id, home
    db.session.add(
        staff.StaffGrant(
            user_id=w.actors[EQA].user_id,
            role=staff.EXTERNAL_QUALITY_ASSURER,
            partner_id=academy.id,
            granted_by="matrix test",
        )
    )
    db.session.commit()
    assert staff.is_tool_admin(w.actors[ADMIN].user_id)

    # The learners' own portfolios, made through their pages, with real uploaded files.
    owner, noor = w.actors[OWNER], w.actors[PARTNER2]
    draft = _start_portfolio(owner)
    _upload(owner, draft, OWNER_SECRET, pdf(OWNER_SECRET))
    north_draft = _start_portfolio(noor)
    _upload(noor, north_draft, PARTNER2_SECRET, pdf(PARTNER2_SECRET))
    resp = noor.request("POST", f"/portfolio/{north_draft}/submit", {"attempt": "1"})
    assert resp.status_code == 303, resp.data[:500]
    item = db.session.scalar(select(EvidenceItem).where(EvidenceItem.portfolio_id == draft))
    north_item = db.session.scalar(select(EvidenceItem).where(EvidenceItem.portfolio_id == north_draft))
    w.ids.update(
        draft=draft,
        item=item.id,
        file=item.files[0].id,
        owner_sha=item.files[0].sha256,
        north_submitted=north_draft,
        north_item=north_item.id,
        north_file=north_item.files[0].id,
        north_sha=north_item.files[0].sha256,
    )

    # The owner's portfolios in every state a staff page acts on (other placements of the same course).
    for state in (
        workflow.SUBMITTED,
        workflow.VERIFICATION_1,
        workflow.VERIFICATION_2,
        workflow.APPEALED,
        workflow.REFERRED,
        workflow.AWARDED,
    ):
        w.ids[state] = w.fresh_portfolio(state)
    award = db.session.scalar(select(Award).where(Award.portfolio_id == w.ids[workflow.AWARDED]))
    w.ids["award_number"] = award.certificate_number
    # A ready EQA pack of the awarded portfolio, asked for by the external quality assurer.
    job = eqa_jobs.request_pack(
        acting.Actor(actor=w.user(EQA), role=staff.EXTERNAL_QUALITY_ASSURER), [award.portfolio_id], kind="portfolio"
    )
    db.session.commit()
    assert eqa_jobs.process_queue("matrix") == 1
    w.ids["eqa_pack"] = job.id

    # A portfolio of a deployment that belongs to no partner, with the owner's file.
    loose_dep = assessment_factories.deployment(None)
    loose_learner = LtiUser(issuer=assessment_factories.ISSUER, sub="loose-learner", name=NO_PARTNER_NAME)
    db.session.add(loose_learner)
    db.session.flush()
    link = ResourceLink(deployment_id=loose_dep.id, resource_link_id="loose-link", title="Portfolio")
    db.session.add(link)
    db.session.flush()
    loose = Portfolio(
        user_id=loose_learner.id,
        certification_id=cert.id,
        resource_link_id=link.id,
        partner_id=None,
        route="training",
        state=workflow.DRAFT,
    )
    db.session.add(loose)
    db.session.flush()
    loose_item = w._evidence(loose, w.owner_sha)
    submission = Submission(portfolio_id=loose.id, attempt=1, snapshot=build_snapshot(loose))
    db.session.add(submission)
    workflow.transition(loose, workflow.SUBMITTED, duty="learner", actor=loose_learner)
    spare = LtiUser(issuer=assessment_factories.ISSUER, sub="spare-person", name="Spare Person")
    db.session.add(spare)
    db.session.commit()
    w.ids.update(
        no_partner=loose.id,
        no_partner_item=loose_item.id,
        no_partner_file=loose_item.files[0].id,
        spare_user_id=spare.id,
    )

    # Console objects: a grade job of the academy, an invite, a published key that no longer signs.
    w.ids["job"] = db.session.scalar(select(GradeJob.id).where(GradeJob.portfolio_id == draft).limit(1))
    assert w.ids["job"] is not None
    w.ids["invite"] = w.fresh_invite()
    w.ids["invite_token"] = _invite_token()
    store = key_store()
    spare_key = store.signing_key()
    store.rotate()
    w.ids["spare_kid"] = spare_key.kid
    from lti_tool.credentials.issuer import issuer_key_store

    w.ids["issuer_kid"] = issuer_key_store().active_keys()[0].kid
    _notification_objects(w)
    return w


def _notification_objects(w: World) -> None:
    """A notice of the owner's (their submission's, made by the workflow above), the signed tokens its e-mail
    carries, a queued message, and a message in the demo's mailbox (written here, with no one's evidence or
    name in it: the mailbox page is public)."""
    owner = w.user(OWNER)
    w.ids["notification"] = db.session.scalar(
        select(Notification.id).where(Notification.user_id == owner.id).order_by(Notification.id).limit(1)
    )
    assert w.ids["notification"] is not None
    w.ids["open_token"] = links.open_token(w.ids["notification"])
    w.ids["unsubscribe_token"] = links.unsubscribe_token(owner.id, kinds.DECISION)
    w.ids["mail"] = db.session.scalar(select(MailOutbox.id).order_by(MailOutbox.id).limit(1))
    assert w.ids["mail"] is not None
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Matrix mail", "tool@example.org", "nobody@example.org"
    message.set_content("Plain words.")
    message.add_alternative("<p>Plain words.</p>", subtype="html")
    row = DemoMail(to_address="nobody@example.org", subject="Matrix mail", raw=message.as_string())
    db.session.add(row)
    db.session.commit()
    w.ids["demo_mail"] = row.id


def _invite_token() -> str:
    """An open invite's token (only its hash is stored, so make one whose token we keep)."""
    _, token = create_invite(acting.Actor(label="matrix test", role=staff.TOOL_ADMIN), hours=24)
    db.session.commit()
    return token

"""The authorization matrix: every route of the app, tried by every kind of person, and only the allowed ones
succeed.

RULES below is generated against the app's route table: a route (or one of its methods) without a rule fails
`test_every_route_has_a_rule`, so a new route cannot ship without saying who may call it. Each rule gives
the exact status every role must get: anonymous, the learner who owns the work, another learner of the same
partner, a learner of another partner, the course instructor, an assessor and an internal verifier of the
learner's partner, an independent verifier (tool-wide, attached to the other partner) and a tool admin.
Public routes say why they are public, and must answer everyone alike.

Besides the status, every response is checked for other people's evidence and names (a page that answers 200
may still leak), and no refused request may leave a trace in the audit trail (nothing happened).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, url_for
from sqlalchemy import func, select

from lti_tool.audit.trail import AuditEvent
from lti_tool.credentials.share import handoff_token
from lti_tool.demo_platform import people
from lti_tool.demo_platform.setup import demo_issuer
from lti_tool.portfolio import workflow as wf
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.store.db import db
from tests import authz_world as aw
from tests.authz_world import (
    ADMIN,
    ANON,
    ASSESSOR,
    EQA,
    EV,
    IV,
    OWNER,
    PARTNER2,
    ROLES,
    World,
)
from tests.conftest import make_test_app

STAFF = (ASSESSOR, IV, EV, ADMIN)
IGNORED_METHODS = {"HEAD", "OPTIONS"}

Values = Callable[[World], dict[str, Any]]
Data = Callable[[World], dict[str, Any]]


def expect(default: int = 403, anon: int = 401, **by_role: int) -> dict[str, int]:
    """Every signed-in role gets `default` unless named; the anonymous get `anon` (no session: 401)."""
    unknown = set(by_role) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    out = {role: default for role in ROLES}
    out[ANON] = anon
    out.update(by_role)
    return out


def only(roles: tuple[str, ...], status: int) -> dict[str, int]:
    return expect(403, **{r: status for r in roles})


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    expect: dict[str, int]
    values: Values = lambda w: {}
    data: Data | None = None
    public: str = ""  # why anyone may call it (then every role must get the same answer)
    label: str = ""
    path: str = ""  # a literal path, for an endpoint served at several addresses (url_for picks one)

    def name(self) -> str:
        return f"{self.method} {self.endpoint}" + (f" [{self.label}]" if self.label else "")


def public(
    endpoint: str,
    status: int,
    reason: str,
    *,
    methods: tuple[str, ...] = ("GET",),
    values: Values = lambda w: {},
    data: Data | None = None,
    label: str = "",
    path: str = "",
) -> list[Case]:
    assert reason, "a public route needs its reason"
    return [Case(endpoint, m, {r: status for r in ROLES}, values, data, reason, label or path, path) for m in methods]


def case(
    endpoint: str,
    method: str,
    expected: dict[str, int],
    values: Values = lambda w: {},
    data: Data | None = None,
    label: str = "",
) -> Case:
    return Case(endpoint, method, expected, values, data, "", label)


def _evidence_form(w: World) -> dict[str, Any]:
    criteria = [
        str(c.id) for u in db.session.get(Certification, w.cert_id).units for o in u.outcomes for c in o.criteria
    ]
    return {
        "kind": "reflective_account",
        "title": "What I learned",
        "description": "Reflection.",
        "evidence_date": "2025-03-01",
        "criteria": criteria,
        "files": [(io.BytesIO(aw.pdf("reflection")), "reflection.pdf")],
    }


def _edit_form(w: World) -> dict[str, Any]:
    form = _evidence_form(w)
    form.pop("files")
    return form


def _login_params(w: World) -> dict[str, Any]:
    return {
        "iss": demo_issuer(),
        "login_hint": "demo-learner-ada",
        "target_link_uri": "http://localhost/lti/launch",
        "client_id": people.CLIENT_ID,
    }


# Learner pages are the owner's only; anyone else is told there is nothing of theirs at this address.
OWNER_PAGE = expect(404, learner=200)
OWNER_POST = expect(404, learner=303)
# Files: the owner, and staff whose grant covers the portfolio's partner and certification.
ACADEMY_FILE = expect(404, learner=200, assessor=200, internal_verifier=200, independent_verifier=200, admin=200)
NORTH_FILE = expect(404, learner_other_partner=200, independent_verifier=200, admin=200)
NO_PARTNER_FILE = expect(404, independent_verifier=200, admin=200)
ADMIN_PAGE = expect(admin=200)
ADMIN_POST = expect(admin=303)
DEMO = "the demo platform is its own LMS: its pages are public and its services check their own OAuth2 tokens"


def _rules() -> list[Case]:
    r: list[Case] = []
    # --- public: LTI, registration by the LMS, health, public verification, the demo LMS -------------------
    r += public("home.index", 200, "the welcome page; it shows only the visitor's own session")
    for path in ("/lti/jwks", "/.well-known/jwks.json"):
        r += public("launch.jwks", 200, "the tool's public keys, for platforms", path=path)
    login = "OIDC login initiation: the platform sends the browser, there is no session yet"
    r += public("launch.login", 302, login, values=_login_params)
    r += public("launch.login", 302, login, methods=("POST",), data=_login_params)
    r += public(
        "launch.launch", 400, "the LTI launch: the signed id_token is the credential (missing here)", methods=("POST",)
    )
    r += public(
        "registration.register",
        400,
        "dynamic registration: the LMS's registration token authorizes it",
        methods=("GET", "POST"),
    )
    r += public(
        "registration.register",
        400,
        "dynamic registration through a one-time invite",
        methods=("GET", "POST"),
        values=lambda w: {"invite_token": w.invite_token},
        label="invite",
    )
    r += public("registration.config_page", 200, "what an LMS admin pastes into the LMS: public URLs only")
    r += public("registration.canvas_json", 200, "the Canvas developer key JSON: public URLs and keys only")
    r += public("health.healthz", 200, "load balancers and operators; says nothing about anyone")
    r += public("verify.lookup", 200, "public verification of certificates (employers, regulators)")
    r += public(
        "verify.certificate",
        200,
        "public verification of a certificate by its number",
        values=lambda w: {"number": w.award_number},
    )
    r += public(
        "verify.certificate_json", 200, "public verification as JSON", values=lambda w: {"number": w.award_number}
    )
    r += public("verify.issuer_profile", 200, "the credential issuer's public profile")
    r += public("verify.issuer_jwks", 200, "the credential issuer's public keys")
    r += public("verify.issuer_key", 200, "one issuer key at its kid URL", values=lambda w: {"kid": w.issuer_kid})
    r += public(
        "verify.status", 200, "the signed revocation status list verifiers fetch", values=lambda w: {"list_no": 1}
    )
    r += public(
        "verify.achievement",
        200,
        "the public description of a certification in credentials",
        values=lambda w: {"code": w.cert_code, "version": w.cert_version},
    )
    r += public(
        "verify.unit_achievement",
        404,
        "the public description of one unit of a certification (a unit-only award's achievement)",
        values=lambda w: {"code": w.cert_code, "version": w.cert_version, "unit_code": "NO-SUCH-UNIT"},
    )
    r += public(
        "verify.wallet_credential",
        200,
        "the wallet hand-off: a signed, expiring link the holder gave a wallet app is the permission",
        values=lambda w: {"token": handoff_token(w.award_number)},
    )
    r += public("demo.index", 200, DEMO)
    r += public("demo.course", 200, DEMO, values=lambda w: {"sub": "demo-learner-ada"})
    r += public("demo.start_launch", 302, DEMO, values=lambda w: {"user": "demo-learner-ada"})
    r += public("demo.auth", 400, DEMO + " (the OIDC request is incomplete here)", methods=("GET", "POST"))
    r += public("demo.jwks", 200, DEMO)
    r += public("demo.gradebook", 200, DEMO)
    r += public(
        "demo.outage",
        303,
        DEMO + " (its switch for simulating an outage; count 0)",
        methods=("POST",),
        data=lambda w: {"count": "0"},
    )
    r += public("demo.token", 400, DEMO + ": no client assertion, no token", methods=("POST",))
    ctx = lambda w: {"context_id": people.COURSE_ID}  # noqa: E731
    item = lambda w: {"context_id": people.COURSE_ID, "item_id": 1}  # noqa: E731
    r += public(
        "demo.lineitems", 401, DEMO + ": a tool session is no bearer token", methods=("GET", "POST"), values=ctx
    )
    r += public("demo.lineitem", 401, DEMO + ": a tool session is no bearer token", values=item)
    r += public("demo.results", 401, DEMO + ": a tool session is no bearer token", values=item)
    r += public("demo.scores", 401, DEMO + ": a tool session is no bearer token", methods=("POST",), values=item)
    r += public("demo.memberships", 401, DEMO + ": a tool session is no bearer token", values=ctx)
    r += public("demo.deep_link_return", 400, DEMO + ": only a JWT signed by the tool is accepted", methods=("POST",))
    ada, iris = {"sub": "demo-learner-ada"}, {"sub": "demo-instructor-iris"}
    r += public("demo.moodle_course", 200, DEMO + " (Moodle mode)", values=lambda w: ada)
    r += public("demo.moodle_view", 200, DEMO + " (Moodle mode)", values=lambda w: {**ada, "link": "demo-link-cmiacr"})
    r += public("demo.moodle_add", 200, DEMO + " (Moodle mode)", values=lambda w: iris)
    r += public(
        "demo.moodle_launch",
        200,
        DEMO + " (Moodle mode)",
        values=lambda w: {"user": "demo-learner-ada", "link": "demo-link-cmiacr"},
    )
    r += public(
        "demo.moodle_contentitem", 200, DEMO + " (Moodle mode)", values=lambda w: {"user": "demo-instructor-iris"}
    )
    handoff = "the new-window handoff: a verified launch's one-time token, posted from the tool's own page (none here)"
    for endpoint in ("launch.handoff_page", "launch.handoff_confirm", "launch.handoff_here", "launch.handoff_result"):
        r += public(endpoint, 403, handoff, methods=("POST",))

    # --- anyone who launched --------------------------------------------------------------------------------
    r.append(case("home.start", "GET", expect(303)))
    r.append(case("learner.mine", "GET", expect(200)))
    r.append(case("credentials.mine", "GET", expect(200)))
    # Only learners start portfolios: the owner and the other partner's learner have theirs already.
    r.append(case("learner.placement", "GET", expect(403, learner=303, other_learner=200, learner_other_partner=303)))
    r.append(
        case(
            "learner.placement",
            "POST",
            expect(403, learner=303, other_learner=303, learner_other_partner=303),
            data=lambda w: {"route": "training"},
        )
    )

    # --- the learner's own portfolio ------------------------------------------------------------------------
    draft = lambda w: {"portfolio_id": w.draft}  # noqa: E731
    r.append(case("learner.overview", "GET", OWNER_PAGE, draft))
    r.append(case("learner.add_item", "GET", OWNER_PAGE, draft))
    r.append(case("learner.add_item", "POST", OWNER_POST, draft, _evidence_form))
    r.append(case("learner.edit_item", "GET", OWNER_PAGE, lambda w: {"portfolio_id": w.draft, "item_id": w.item}))
    r.append(
        case(
            "learner.edit_item",
            "POST",
            OWNER_POST,
            lambda w: {"portfolio_id": w.draft, "item_id": w.fresh_item(w.draft)},
            _edit_form,
        )
    )
    r.append(case("learner.remove_item", "GET", OWNER_PAGE, lambda w: {"portfolio_id": w.draft, "item_id": w.item}))
    r.append(
        case(
            "learner.remove_item",
            "POST",
            OWNER_POST,
            lambda w: {"portfolio_id": w.draft, "item_id": w.fresh_item(w.draft)},
        )
    )
    first_criterion = lambda w: {"portfolio_id": w.draft, "criterion_id": int(_evidence_form(w)["criteria"][0])}  # noqa: E731
    r.append(case("learner.criterion", "GET", OWNER_PAGE, first_criterion))
    r.append(case("learner.criterion", "POST", OWNER_POST, first_criterion, lambda w: {"items": [str(w.item)]}))
    r.append(case("learner.submit", "GET", OWNER_PAGE, draft))
    r.append(
        case(
            "learner.submit",
            "POST",
            OWNER_POST,
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.DRAFT)},
            lambda w: {"attempt": "1"},
        )
    )
    r.append(
        case("learner.submission", "GET", OWNER_PAGE, lambda w: {"portfolio_id": w.ids[wf.SUBMITTED], "attempt": 1})
    )
    r.append(
        case(
            "learner.download_file",
            "GET",
            ACADEMY_FILE,
            lambda w: {"portfolio_id": w.draft, "item_id": w.item, "file_id": w.file},
        )
    )
    r.append(
        case(
            "learner.download_file",
            "GET",
            NORTH_FILE,
            lambda w: {"portfolio_id": w.north_submitted, "item_id": w.north_item, "file_id": w.north_file},
            label="another partner's portfolio",
        )
    )
    r.append(
        case(
            "learner.download_file",
            "GET",
            NO_PARTNER_FILE,
            lambda w: {"portfolio_id": w.no_partner, "item_id": w.no_partner_item, "file_id": w.no_partner_file},
            label="a portfolio of no partner",
        )
    )
    r.append(
        case(
            "learner.download_submitted_file",
            "GET",
            ACADEMY_FILE,
            lambda w: {"portfolio_id": w.ids[wf.SUBMITTED], "attempt": 1, "sha256": w.owner_sha},
        )
    )
    r.append(
        case(
            "learner.download_submitted_file",
            "GET",
            NORTH_FILE,
            lambda w: {"portfolio_id": w.north_submitted, "attempt": 1, "sha256": w.north_sha},
            label="another partner's portfolio",
        )
    )
    r.append(
        case(
            "learner.download_submitted_file",
            "GET",
            NO_PARTNER_FILE,
            lambda w: {"portfolio_id": w.no_partner, "attempt": 1, "sha256": w.owner_sha},
            label="a portfolio of no partner",
        )
    )
    # Evidence shown beside the criteria: exactly who may download it (access.may_download).
    for label, expected, values in (
        ("", ACADEMY_FILE, lambda w: {"portfolio_id": w.ids[wf.SUBMITTED], "attempt": 1, "sha256": w.owner_sha}),
        (
            "another partner's portfolio",
            NORTH_FILE,
            lambda w: {"portfolio_id": w.north_submitted, "attempt": 1, "sha256": w.north_sha},
        ),
        (
            "a portfolio of no partner",
            NO_PARTNER_FILE,
            lambda w: {"portfolio_id": w.no_partner, "attempt": 1, "sha256": w.owner_sha},
        ),
    ):
        r.append(case("staff_work.view_file", "GET", expected, values, label=label))
    r.append(case("appeals.appeal", "GET", expect(404, learner=200), lambda w: {"portfolio_id": w.ids[wf.APPEALED]}))
    r.append(
        case(
            "appeals.appeal",
            "POST",
            expect(404, learner=303),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.REFERRED)},
            lambda w: {"grounds": "My second file shows the escalation."},
        )
    )

    # --- certificates ---------------------------------------------------------------------------------------
    number = lambda w: {"number": w.award_number}  # noqa: E731
    for endpoint in (
        "credentials.award_page",
        "credentials.certificate",
        "credentials.download_json",
        "credentials.download_jwt",
    ):
        r.append(case(endpoint, "GET", expect(403, learner=200, admin=200), number))
    r.append(case("credentials.admin_list", "GET", ADMIN_PAGE))
    r.append(case("credentials.admin_award", "GET", ADMIN_PAGE, number))
    r.append(
        case(
            "credentials.admin_award",
            "POST",
            ADMIN_POST,
            lambda w: {"number": w.fresh_award()},
            lambda w: {"reason": "Evidence found to be copied.", "confirm": "revoke"},
        )
    )
    # Without the confirmation step's confirm=revoke: the confirmation page, nothing revoked.
    r.append(
        case(
            "credentials.admin_award",
            "POST",
            ADMIN_PAGE,
            lambda w: {"number": w.fresh_award()},
            lambda w: {"reason": "Evidence found to be copied."},
            label="not yet confirmed",
        )
    )

    # --- staff work -----------------------------------------------------------------------------------------
    r.append(case("staff_work.home", "GET", only(STAFF, 200)))
    r.append(case("staff_work.sampling_report", "GET", ADMIN_PAGE))
    # Oversight (issue 17): caseloads and the sampling plan are the tool administrators'; a portfolio's audit
    # trail is for whoever may view the portfolio as staff.
    r.append(case("staff_oversight.caseloads", "GET", ADMIN_PAGE))
    r.append(
        case(
            "staff_oversight.set_caseload",
            "POST",
            ADMIN_POST,
            lambda w: {"user_id": w.user(ASSESSOR).id},
            lambda w: {"max_items": str(w.next() % 50 + 1)},
        )
    )
    r.append(case("staff_oversight.sampling_plan", "GET", ADMIN_PAGE, lambda w: {"certification": aw.CERT}))
    plan = {"certification": aw.CERT, "new_assessor_threshold": "5", "coverage_decisions": "10", "coverage_days": "90"}
    r.append(
        case(
            "staff_oversight.sampling_plan",
            "POST",
            ADMIN_POST,
            data=lambda w: {**plan, "share_percent": str(w.next() % 100), "confirm": "save"},
        )
    )
    r.append(
        case(
            "staff_oversight.portfolio_trail",
            "GET",
            only(STAFF, 200),
            lambda w: {"portfolio_id": w.ids[wf.SUBMITTED]},
        )
    )
    r.append(
        case(
            "staff_oversight.portfolio_trail",
            "GET",
            only((EV, ADMIN), 200),
            lambda w: {"portfolio_id": w.north_submitted},
            label="another partner's portfolio",
        )
    )
    queue_roles = {
        "assessment": (ASSESSOR,),
        "sent_back": (ASSESSOR,),
        "verification_1": (IV,),
        "verification_2": (EV,),
        "appeals": STAFF,
    }
    for name, roles in queue_roles.items():
        expected = expect(403, **{s: 200 if s in roles else 404 for s in STAFF})
        r.append(case("staff_work.queue", "GET", expected, lambda w, n=name: {"name": n}, label=name))
    r.append(case("staff_work.record", "GET", only(STAFF, 200), lambda w: {"portfolio_id": w.ids[wf.SUBMITTED]}))
    r.append(
        case(
            "staff_work.record",
            "GET",
            only((EV, ADMIN), 200),
            lambda w: {"portfolio_id": w.north_submitted},
            label="another partner's portfolio",
        )
    )
    r.append(
        case(
            "staff_work.record",
            "GET",
            only((EV, ADMIN), 200),
            lambda w: {"portfolio_id": w.no_partner},
            label="a portfolio of no partner",
        )
    )
    r.append(case("staff_work.assess", "GET", only((ASSESSOR,), 200), lambda w: {"portfolio_id": w.ids[wf.SUBMITTED]}))
    r.append(
        case(
            "staff_work.assess",
            "GET",
            only((), 200),
            lambda w: {"portfolio_id": w.north_submitted},
            label="another partner's portfolio",
        )
    )
    # Claims (assessment queue): only someone the item waits for takes it; the holder or an admin releases
    # it; only an admin reassigns. Staff whose queues do not include it are told there is no such queue.
    claim_on = lambda w: {"name": "assessment", "portfolio_id": w.fresh_portfolio(wf.SUBMITTED)}  # noqa: E731
    not_theirs = {IV: 404, EV: 404}
    r.append(case("staff_work.claim", "POST", expect(403, assessor=303, **not_theirs), claim_on))
    r.append(case("staff_work.release", "POST", expect(403, assessor=303, admin=303, **not_theirs), claim_on))
    r.append(
        case(
            "staff_work.reassign",
            "POST",
            expect(403, admin=303, **not_theirs),
            claim_on,
            lambda w: {"user_id": str(w.user(ASSESSOR).id)},
        )
    )
    r.append(
        case(
            "staff_work.queue",
            "GET",
            expect(403, assessor=200, internal_verifier=404, independent_verifier=404, admin=200),
            lambda w: {"name": "assessment", "all": "1"},
            label="every item (admins allocating)",
        )
    )
    # Refused for who they are before anything about the portfolio's state is told; staff who could act on
    # it hear that it is not waiting for them (409).
    on_draft = lambda w: {"portfolio_id": w.draft}  # noqa: E731
    r.append(case("staff_work.assess", "GET", expect(403, assessor=409), on_draft, label="a draft"))
    r.append(
        case(
            "staff_work.verify",
            "GET",
            expect(403, internal_verifier=409, independent_verifier=409),
            on_draft,
            label="a draft",
        )
    )
    r.append(case("staff_work.appeal", "GET", only(STAFF, 409), on_draft, label="a draft"))
    r.append(
        case(
            "staff_work.assess",
            "POST",
            only((ASSESSOR,), 303),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.SUBMITTED)},
            lambda w: {"action": "save"},
        )
    )
    r.append(
        case(
            "staff_work.verify",
            "GET",
            only((IV,), 200),
            lambda w: {"portfolio_id": w.ids[wf.VERIFICATION_1]},
            label="step 1",
        )
    )
    r.append(
        case(
            "staff_work.verify",
            "POST",
            only((IV,), 303),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.VERIFICATION_1)},
            lambda w: {"outcome": "agree", "declaration": "accepted"},
            label="step 1",
        )
    )
    # Without the declaration the verifier is asked to confirm (nothing is recorded yet).
    r.append(
        case(
            "staff_work.verify",
            "POST",
            only((IV,), 200),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.VERIFICATION_1)},
            lambda w: {"outcome": "agree"},
            label="step 1, not yet confirmed",
        )
    )
    r.append(
        case(
            "staff_work.verify",
            "GET",
            only((EV,), 200),
            lambda w: {"portfolio_id": w.ids[wf.VERIFICATION_2]},
            label="step 2",
        )
    )
    r.append(
        case(
            "staff_work.verify",
            "POST",
            only((EV,), 303),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.VERIFICATION_2)},
            lambda w: {"outcome": "confirm", "declaration": "accepted"},
            label="step 2",
        )
    )
    # The assessor took the decision appealed: someone not involved decides.
    r.append(
        case("staff_work.appeal", "GET", only((IV, EV, ADMIN), 200), lambda w: {"portfolio_id": w.ids[wf.APPEALED]})
    )
    r.append(
        case(
            "staff_work.appeal",
            "POST",
            only((IV, EV, ADMIN), 303),
            lambda w: {"portfolio_id": w.fresh_portfolio(wf.APPEALED)},
            lambda w: {
                "outcome": "dismiss",
                "rationale": "The record is not in the second file.",
                "declaration": "accepted",
            },
        )
    )
    # Without the declaration the decider is asked to confirm (nothing is recorded yet).
    r.append(
        case(
            "staff_work.appeal",
            "POST",
            only((IV, EV, ADMIN), 200),
            lambda w: {"portfolio_id": w.ids[wf.APPEALED]},
            lambda w: {"outcome": "dismiss", "rationale": "Not in the second file."},
            label="not yet confirmed",
        )
    )

    # --- staff roles (tool admins) --------------------------------------------------------------------------
    r.append(case("staff_admin.index", "GET", ADMIN_PAGE))
    r.append(
        case(
            "staff_admin.grant",
            "POST",
            ADMIN_POST,
            data=lambda w: {"user_id": str(w.spare_user_id), "role": "assessor", "certification_code": f"G{w.next()}"},
        )
    )
    r.append(
        case(
            "staff_admin.pending",
            "POST",
            ADMIN_POST,
            data=lambda w: {"issuer": "https://later.example", "sub": f"later-{w.next()}", "role": "assessor"},
        )
    )
    # Irreversible: the first post shows what happens, only confirm=yes acts.
    pending_id = lambda w: {"pending_id": w.fresh_pending()}  # noqa: E731
    r.append(case("staff_admin.cancel_pending", "POST", ADMIN_PAGE, pending_id, label="not yet confirmed"))
    r.append(case("staff_admin.cancel_pending", "POST", ADMIN_POST, pending_id, lambda w: {"confirm": "yes"}))
    grant_id = lambda w: {"grant_id": w.fresh_grant()}  # noqa: E731
    r.append(
        case("staff_admin.revoke", "POST", ADMIN_PAGE, grant_id, lambda w: {"reason": "left"}, "not yet confirmed")
    )
    r.append(case("staff_admin.revoke", "POST", ADMIN_POST, grant_id, lambda w: {"reason": "left", "confirm": "yes"}))

    # --- the admin console ----------------------------------------------------------------------------------
    for endpoint in (
        "admin.index",
        "admin.registrations",
        "admin.registration_new",
        "admin.partners",
        "admin.keys",
        "admin.invites",
    ):
        r.append(case(endpoint, "GET", ADMIN_PAGE))
    r.append(case("admin.registration_new", "POST", ADMIN_POST, data=lambda w: _new_registration(w.next())))
    fresh_reg = lambda w: {"reg_id": w.fresh_registration()}  # noqa: E731
    fresh_dep = lambda w: {"dep_id": w.fresh_deployment()}  # noqa: E731
    for endpoint in ("admin.registration_activate", "admin.registration_deactivate"):
        r.append(case(endpoint, "POST", ADMIN_POST, fresh_reg))
    r.append(case("admin.registration_delete", "GET", ADMIN_PAGE, fresh_reg))
    r.append(case("admin.registration_delete", "POST", ADMIN_POST, fresh_reg))
    r.append(
        case("admin.deployment_add", "POST", ADMIN_POST, fresh_reg, lambda w: {"deployment_id": f"added-{w.next()}"})
    )
    for endpoint in ("admin.deployment_activate", "admin.deployment_deactivate", "admin.deployment_detach"):
        r.append(case(endpoint, "POST", ADMIN_POST, fresh_dep))
    r.append(case("admin.deployment_credits_column", "POST", ADMIN_POST, fresh_dep, lambda w: {"credits_column": "on"}))
    r.append(case("admin.deployment_delete", "GET", ADMIN_PAGE, fresh_dep))
    r.append(case("admin.deployment_delete", "POST", ADMIN_POST, fresh_dep))
    r.append(
        case(
            "admin.partners",
            "POST",
            ADMIN_POST,
            data=lambda w: {"slug": f"new-partner-{w.next()}", "name": "New Partner", "kind": "employer"},
        )
    )
    r.append(
        case(
            "admin.partner_attach",
            "POST",
            ADMIN_POST,
            lambda w: {"partner_id": w.fresh_partner()},
            lambda w: {"deployment_id": str(w.fresh_deployment())},
        )
    )
    r.append(case("admin.invites", "POST", ADMIN_PAGE, data=lambda w: {"hours": "24"}))
    invite_id = lambda w: {"invite_id": w.fresh_invite()}  # noqa: E731
    r.append(case("admin.invite_revoke", "POST", ADMIN_PAGE, invite_id, label="not yet confirmed"))
    r.append(case("admin.invite_revoke", "POST", ADMIN_POST, invite_id, lambda w: {"confirm": "yes"}))
    r.append(case("admin.key_rotate", "POST", ADMIN_POST))
    r.append(case("admin.key_retire", "GET", ADMIN_PAGE, lambda w: {"kid": w.spare_kid}))
    r.append(case("admin.key_retire", "POST", ADMIN_POST, lambda w: {"kid": w.spare_kid}))

    # --- external quality assurance (read only, within the grant; every view and download audited) ------------
    eqa_roles = (EQA, ADMIN)
    academy = lambda w: {"portfolio_id": w.ids[wf.SUBMITTED]}  # noqa: E731
    north = lambda w: {"portfolio_id": w.north_submitted}  # noqa: E731
    r.append(case("eqa.home", "GET", only(eqa_roles, 200)))
    r.append(case("eqa.sampling_report", "GET", only(eqa_roles, 200)))
    r.append(case("eqa.packs", "GET", only(eqa_roles, 200)))
    r.append(case("eqa.packs", "POST", only(eqa_roles, 303), data=lambda w: {"share": "50"}))
    r.append(case("eqa.portfolio", "GET", only(eqa_roles, 200), academy))
    r.append(case("eqa.portfolio", "GET", only((ADMIN,), 200), north, label="another partner's portfolio"))
    r.append(
        case(
            "eqa.portfolio",
            "GET",
            only((ADMIN,), 200),
            lambda w: {"portfolio_id": w.no_partner},
            label="a portfolio of no partner",
        )
    )
    r.append(
        case(
            "eqa.evidence_file",
            "GET",
            only(eqa_roles, 200),
            lambda w: {"portfolio_id": w.ids[wf.SUBMITTED], "attempt": 1, "sha256": w.owner_sha},
        )
    )
    r.append(
        case(
            "eqa.evidence_file",
            "GET",
            only((ADMIN,), 200),
            lambda w: {"portfolio_id": w.north_submitted, "attempt": 1, "sha256": w.north_sha},
            label="another partner's portfolio",
        )
    )
    r.append(case("eqa.request_portfolio_pack", "POST", only(eqa_roles, 303), academy))
    r.append(
        case("eqa.request_portfolio_pack", "POST", only((ADMIN,), 303), north, label="another partner's portfolio")
    )
    r.append(case("eqa.download", "GET", only(eqa_roles, 200), lambda w: {"job_id": w.eqa_pack}))

    # --- notifications ---------------------------------------------------------------------------------------
    # Everyone who launched has their own list and choices; a notice is its recipient's only.
    # The language switch (launch/language.py): anyone signed in chooses their own language, nothing else.
    r.append(case("language.switch", "POST", expect(303), data=lambda w: {"language": "es"}))
    r.append(case("notifications.index", "GET", expect(200)))
    r.append(case("notifications.read_all", "POST", expect(303)))
    notice = lambda w: {"notification_id": w.notification}  # noqa: E731
    r.append(case("notifications.open_item", "GET", expect(404, learner=303), notice))
    r.append(case("notifications.mark_read", "POST", expect(404, learner=303), notice))
    r.append(case("notifications.preferences", "GET", expect(200)))
    r.append(case("notifications.preferences", "POST", expect(303), data=lambda w: {"digest": "1"}))
    r.append(case("notifications.outbox_page", "GET", ADMIN_PAGE))
    r.append(case("notifications.outbox_retry", "POST", ADMIN_POST, lambda w: {"mail_id": w.mail}))
    # An e-mail's link to a notice: its own reader, signed in, goes on to it; anyone else holding the link is
    # told to open the activity from their course.
    r.append(case("mail.open_notice", "GET", expect(200, anon=200, learner=303), lambda w: {"token": w.open_token}))
    r += public(
        "mail.unsubscribe",
        200,
        "an e-mail's unsubscribe link: the signed token names one person and kind, and only stops those e-mails",
        methods=("GET", "POST"),
        values=lambda w: {"token": w.unsubscribe_token},
    )
    r += public("demo.mailbox", 200, DEMO + " (the mailbox standing in for a mail server)")
    r += public("demo.mailbox_message", 200, DEMO, values=lambda w: {"mail_id": w.demo_mail})
    r += public("demo.mailbox_html", 200, DEMO, values=lambda w: {"mail_id": w.demo_mail})

    # --- grading --------------------------------------------------------------------------------------------
    # The roster is for the course's staff as the LMS names them: Instructor, its TeachingAssistant sub-role
    # (the demo's assessor and verifiers) and the course Administrator.
    r.append(case("grading.roster_page", "GET", expect(200, learner=403, other_learner=403, learner_other_partner=403)))
    r.append(case("grading.roster_csv", "GET", expect(200, learner=403, other_learner=403, learner_other_partner=403)))
    # A learner's portfolio from the roster (read only, no files): the course's instructors, for the portfolios
    # of their activity (the course staff as the LMS names them, as for the roster); to others there is none.
    course_staff = expect(404, instructor=200, assessor=200, internal_verifier=200, independent_verifier=200, admin=200)
    r.append(case("grading.roster_portfolio", "GET", course_staff, lambda w: {"portfolio_id": w.draft}))
    r.append(
        case(
            "grading.roster_portfolio",
            "GET",
            expect(404),
            lambda w: {"portfolio_id": w.north_submitted},
            label="another course's portfolio",
        )
    )
    # Deep linking: refused by role first; course staff whose session is no deep-linking request are told so.
    deep_link = expect(400, learner=403, other_learner=403, learner_other_partner=403, instructor=200)
    r.append(case("grading.deep_link", "GET", deep_link))
    r.append(case("grading.deep_link", "POST", deep_link, data=lambda w: {"choice": w.cert_code}))
    r.append(case("grading.jobs_page", "GET", ADMIN_PAGE))
    r.append(case("grading.retry_job", "POST", ADMIN_POST, lambda w: {"job_id": w.job}))
    return r


def _new_registration(n: int) -> dict[str, str]:
    base = f"https://new-{n}.example"
    return {
        "name": f"New LMS {n}",
        "issuer": base,
        "client_id": f"new-{n}",
        "login_url": base + "/auth",
        "token_url": base + "/token",
        "jwks_url": base + "/jwks",
        "deployment_ids": "1",
        "active": "1",
    }


RULES = _rules()


def _route_methods(app: Flask) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            out.setdefault(rule.endpoint, set()).update((rule.methods or set()) - IGNORED_METHODS)
    return out


def missing_rules(app: Flask) -> list[str]:
    """What the route table serves that no rule covers, as the message to act on."""
    covered: dict[str, set[str]] = {}
    for c in RULES:
        covered.setdefault(c.endpoint, set()).add(c.method)
    return [
        f"add a rule for endpoint {endpoint} ({method})"
        for endpoint, methods in sorted(_route_methods(app).items())
        for method in sorted(methods - covered.get(endpoint, set()))
    ]


def test_every_route_has_a_rule(sqlite_app):
    for c in RULES:
        assert set(c.expect) == set(ROLES), f"{c.name()}: give an expectation for every role"
        if c.public:
            assert len(set(c.expect.values())) == 1, f"{c.name()}: a public route answers everyone alike"
    missing = missing_rules(sqlite_app)
    assert not missing, "\n".join(missing)
    stale = sorted({c.endpoint for c in RULES} - set(_route_methods(sqlite_app)))
    assert not stale, f"rules for endpoints that no longer exist: {stale}"


def test_a_new_route_without_a_rule_is_named(tmp_path, keys_dir):
    app = make_test_app("sqlite", tmp_path, keys_dir)
    app.add_url_rule("/reports/<int:n>", "reports.show", lambda n: "", methods=["GET", "POST"])
    app.add_url_rule("/portfolio/<int:portfolio_id>/export", "learner.export", lambda portfolio_id: "")
    assert missing_rules(app) == [
        "add a rule for endpoint learner.export (GET)",
        "add a rule for endpoint reports.show (GET)",
        "add a rule for endpoint reports.show (POST)",
    ]


# --- running the matrix -------------------------------------------------------------------------------------


@pytest.fixture
def matrix_app(backend, tmp_path, keys_dir):
    import shutil

    # Key rotation and retirement write key files: this test gets its own copy of the key directory.
    own_keys = tmp_path / "keys"
    shutil.copytree(keys_dir, own_keys)
    application = make_test_app(backend, tmp_path, own_keys)
    with application.app_context():
        yield application
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


# Whose evidence each role may see anywhere in the tool; any other response showing it is a leak.
SECRETS = {
    aw.OWNER_SECRET: {OWNER, ASSESSOR, IV, EV, ADMIN, EQA},
    aw.PARTNER2_SECRET: {PARTNER2, EV, ADMIN},
    aw.PARTNER2_NAME: {PARTNER2, EV, ADMIN},
    aw.NO_PARTNER_NAME: {EV, ADMIN},
}


def _audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _changes(c: Case, role: str) -> bool:
    """An allowed POST changes things: it runs after every read and refusal, on objects made for it."""
    return c.method != "GET" and not c.public and c.expect[role] < 400


def _run(w: World, c: Case, role: str, matched: set[str], seen: set[tuple[str, str]]) -> str | None:
    w.making = _changes(c, role)
    with w.app.test_request_context():
        url = c.path or url_for(c.endpoint, **c.values(w))
        rule, _ = w.app.url_map.bind("localhost").match(url.split("?")[0], method=c.method, return_rule=True)
    assert rule.endpoint == c.endpoint, f"{c.name()}: {url} is served by {rule.endpoint}"
    matched.add(rule.rule)
    data = c.data(w) if c.data else None
    before = _audit_count()
    resp = w.actors[role].request(c.method, url, data)
    db.session.expire_all()
    expected = c.expect[role]
    problems = []
    if resp.status_code != expected:
        problems.append(f"got {resp.status_code}, expected {expected}")
    body = resp.get_data()
    for secret, entitled in SECRETS.items():
        if secret.encode() in body:
            seen.add((secret, role))
            if role not in entitled:
                problems.append(f"shows {secret!r}")
    if resp.status_code >= 400 and not c.public and _audit_count() != before:
        problems.append("refused, yet something was recorded in the audit trail")
    if not problems:
        return None
    return f"{c.name()} as {role} ({url}): " + "; ".join(problems)


@pytest.mark.slow
def test_authorization_matrix(matrix_app, jwks_server):
    w = aw.build_world(matrix_app, jwks_server)
    first, last = [], []
    for c in RULES:
        for role in ROLES:
            (last if _changes(c, role) else first).append((c, role))
    failures, matched, seen = [], set(), set()
    for c, role in first + last:
        problem = _run(w, c, role, matched, seen)
        if problem:
            failures.append(problem)
    # The leak check is only worth something if the pages entitled people read do show these words.
    for secret, entitled in SECRETS.items():
        assert {r for s, r in seen if s == secret} & entitled, f"no page showed {secret!r} to anyone entitled"
    unmatched = sorted({r.rule for r in matrix_app.url_map.iter_rules() if r.endpoint != "static"} - matched)
    assert not unmatched, f"no case reaches these routes: {unmatched}"
    assert not failures, f"{len(failures)} of {len(first) + len(last)} requests outside the rules:\n" + "\n".join(
        failures
    )

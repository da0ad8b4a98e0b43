"""Seeding for bench/scale_bench.py: a realistic tool database at any size, in PostgreSQL, fast.

The small, fixed part goes through the tool's own code (the shipped catalogue imported as `lti-tool catalogue
import` does, partners' offerings and company-specific criteria); the bulk (learners and everything they make)
is written with set-based INSERT ... SELECT over generate_series, into the tables the migrations created, with
every constraint in force. Learners are added in rounds (`seed_learners(lo, hi)`), so one schema can be
measured at a tenth of the size and then grown to full size.

Shape (fixed, whatever the number of learners): 8 partners, each with its own LMS registration and two
deployments; 400 courses spread over the 16 deployments, each with one placement of CMIACR or CRAIACR (the
demo catalogue) with AGS and NRPS; one instructor per course; 60 assessors (partner-, certification-limited
and tool-wide), 16 internal verifiers, 6 independent verifiers, 2 tool administrators. As learners are added
the courses grow (25 learners each at 10,000 learners, 250 at 100,000), like the staff's queues.

Per learner: one portfolio in a state drawn from draft 22%, submitted 15%, referred 15%, sent back 2%,
internal verification 4%, independent verification 4%, under appeal 2%, awarded 36%; ~10 evidence items
(drafts fewer), each mapped to 1-4 criteria and carrying 0-2 files; a submission per attempt (~2 per learner)
with its frozen snapshot; decisions with a judgement per criterion, sampling decisions, verification records,
appeals (open, upheld, dismissed), awards, grade-sync jobs, and the course roster as NRPS returned it (cached).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

PARTNERS = [
    ("northbridge-academy", "Northbridge Clinical Academy", "academy"),
    ("helix-training", "Helix Research Training", "academy"),
    ("meridian-cro", "Meridian CRO Learning", "employer"),
    ("atlas-hub", "Atlas Clinical Skills Hub", "hub"),
    ("vantage-academy", "Vantage Trials Academy", "academy"),
    ("cortex-learning", "Cortex Learning Partners", "academy"),
    ("lumen-hub", "Lumen Monitoring Hub", "hub"),
    ("praxis-academy", "Praxis GCP Academy", "academy"),
]
DEPLOYMENTS_PER_PARTNER = 2
COURSES = 400
ASSESSORS_PER_PARTNER = 6
IVS_PER_PARTNER = 2

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
# Company-specific criteria (partner index, certification, outcome, code, text), added as the CLI adds them.
COMPANY_CRITERIA = [
    (
        0,
        "CMIACR",
        "CM4.2",
        "NB-CM4.2.1",
        "The learner can log an escalated central monitoring finding in the "
        "Northbridge issue tracker with its risk category, owner and due date.",
    ),
    (
        1,
        "CMIACR",
        "CM1.1",
        "HX-CM1.1.1",
        "The learner can present the critical-to-quality factors of a Helix sponsor protocol at the study risk review.",
    ),
    (
        2,
        "CRAIACR",
        "CRA1.1",
        "MR-CRA1.1.1",
        "The learner can complete Meridian's site qualification checklist "
        "and file it in the eTMF within five working days.",
    ),
]


@dataclass
class Course:
    k: int
    partner: int  # index into PARTNERS
    partner_id: int
    deployment_pk: int
    deployment_id: str
    issuer: str
    client_id: str
    code: str
    cert_id: int
    context_pk: int = 0
    link_pk: int = 0
    instructor_id: int = 0

    @property
    def context_id(self) -> str:
        return f"course-{self.k}"

    @property
    def link_id(self) -> str:
        return f"link-{self.k}"


@dataclass
class StaffMember:
    user_id: int
    sub: str
    issuer: str
    client_id: str
    deployment_id: str
    roles: list[str]  # grants, for the report
    partner: int | None


@dataclass
class World:
    courses: list[Course] = field(default_factory=list)
    assessors: list[StaffMember] = field(default_factory=list)
    verifiers: list[StaffMember] = field(default_factory=list)
    admins: list[StaffMember] = field(default_factory=list)
    registrations: dict[int, tuple[str, str]] = field(default_factory=dict)  # partner index -> issuer, client_id
    learners: int = 0


def issuer_of(p: int) -> str:
    return f"https://lms{p}.bench.example"


def seed_reference(jwks: dict[str, Any]) -> World:
    """Partners, registrations, catalogue, offerings, courses, placements, instructors and staff (ORM, small).
    Runs inside an app context; commits."""
    from lti_tool.identity import staff
    from lti_tool.identity.partners import Partner
    from lti_tool.launch.models import Deployment, LtiContext, LtiUser, Membership, Registration, ResourceLink
    from lti_tool.portfolio.catalogue.company_criteria import add_partner_criterion
    from lti_tool.portfolio.catalogue.importer import import_catalogue
    from lti_tool.portfolio.catalogue.models import Certification
    from lti_tool.portfolio.catalogue.offerings import offer_certification
    from lti_tool.store.db import db

    world = World()
    results = import_catalogue(actor_label="scale bench")
    certs = {r.code: db.session.query(Certification).filter_by(code=r.code).one() for r in results}
    codes = sorted(certs)
    partners, deployments = [], []
    for p, (slug, name, kind) in enumerate(PARTNERS):
        partner = Partner(slug=slug, name=name, kind=kind)
        db.session.add(partner)
        db.session.flush()
        partners.append(partner)
        for code in codes:
            offer_certification(partner, code, actor_label="scale bench")
        issuer, client_id = issuer_of(p), f"tool-{slug}"
        world.registrations[p] = (issuer, client_id)
        reg = Registration(
            issuer=issuer,
            client_id=client_id,
            name=name + " LMS",
            auth_login_url=issuer + "/auth",
            auth_token_url=issuer + "/token",
            key_set=jwks,
        )
        reg.deployments = [
            Deployment(deployment_id=f"dep-{d + 1}", partner_id=partner.id) for d in range(DEPLOYMENTS_PER_PARTNER)
        ]
        db.session.add(reg)
        db.session.flush()
        deployments += [(p, dep) for dep in reg.deployments]
    for p, code, outcome, crit_code, text in COMPANY_CRITERIA:
        add_partner_criterion(partners[p], code, outcome, crit_code, text, actor_label="scale bench")

    for k in range(COURSES):
        p, dep = deployments[k % len(deployments)]
        # Two thirds of the placements are CMIACR (the larger programme).
        code = "CMIACR" if k % 3 else "CRAIACR"
        issuer, client_id = world.registrations[p]
        course = Course(k, p, partners[p].id, dep.id, dep.deployment_id, issuer, client_id, code, certs[code].id)
        ctx = LtiContext(
            deployment_id=dep.id,
            context_id=course.context_id,
            label=f"{code}-{k}",
            title=f"{certs[code].title}: cohort {k}",
            nrps_url=f"{issuer}/nrps/{course.context_id}",
        )
        db.session.add(ctx)
        db.session.flush()
        link = ResourceLink(
            deployment_id=dep.id,
            context_id=ctx.id,
            resource_link_id=course.link_id,
            title="Accreditation portfolio",
            custom={"certification": code},
            ags_lineitems_url=f"{issuer}/ags/{course.context_id}/lineitems",
            ags_lineitem_url=f"{issuer}/ags/{course.context_id}/lineitems/1",
            ags_scopes=SCOPES,
        )
        teacher = LtiUser(
            issuer=issuer,
            sub=f"instructor-{k}",
            name=f"Instructor {k}",
            given_name="Instructor",
            family_name=str(k),
            email=f"instructor{k}@{PARTNERS[p][0]}.example",
        )
        db.session.add_all([link, teacher])
        db.session.flush()
        db.session.add(Membership(user_id=teacher.id, context_id=ctx.id, roles=[INSTRUCTOR]))
        course.context_pk, course.link_pk, course.instructor_id = ctx.id, link.id, teacher.id
        world.courses.append(course)

    def person(label: str, p: int | None, grants: list[tuple[str, int | None, str | None, int | None]]) -> StaffMember:
        home = p if p is not None else 0
        issuer, client_id = world.registrations[home]
        user = LtiUser(issuer=issuer, sub=label, name=label.replace("-", " ").title(), email=f"{label}@staff.example")
        db.session.add(user)
        db.session.flush()
        for role, partner_idx, code, home_idx in grants:
            db.session.add(
                staff.StaffGrant(
                    user_id=user.id,
                    role=role,
                    partner_id=partners[partner_idx].id if partner_idx is not None else None,
                    certification_code=code,
                    home_partner_id=partners[home_idx].id if home_idx is not None else None,
                    granted_by="scale bench",
                )
            )
        return StaffMember(user.id, label, issuer, client_id, "dep-1", [g[0] for g in grants], p)

    for p in range(len(PARTNERS)):
        for n in range(ASSESSORS_PER_PARTNER):
            world.assessors.append(person(f"assessor-{p}-{n}", p, [(staff.ASSESSOR, p, None, None)]))
        for n in range(IVS_PER_PARTNER):
            world.verifiers.append(person(f"iv-{p}-{n}", p, [(staff.INTERNAL_VERIFIER, p, None, p)]))
    for n in range(8):  # certification-limited, every partner
        code = codes[n % len(codes)]
        world.assessors.append(person(f"assessor-{code.lower()}-{n}", None, [(staff.ASSESSOR, None, code, None)]))
    for n in range(4):  # tool-wide
        world.assessors.append(person(f"assessor-any-{n}", None, [(staff.ASSESSOR, None, None, None)]))
    for n in range(6):  # independent verifiers: four belong to a partner, whose learners they may not verify
        home = n if n < 4 else None
        world.verifiers.append(person(f"ev-{n}", home, [(staff.INDEPENDENT_VERIFIER, None, None, home)]))
    for n in range(2):
        world.admins.append(person(f"admin-{n}", None, [(staff.TOOL_ADMIN, None, None, None)]))
    db.session.commit()
    return world


# --- the bulk, in SQL ------------------------------------------------------------------------------------

GIVEN = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Amir",
    "Bea",
    "Carlos",
    "Dana",
    "Emeka",
    "Freya",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kai",
]
FAMILY = [
    "Okafor",
    "Smith",
    "Nguyen",
    "García",
    "Müller",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Silva",
    "Dubois",
    "Novak",
    "Jensen",
    "Popescu",
    "Ahmed",
    "Kim",
    "Larsen",
    "Moreau",
    "Ivanova",
    "Costa",
    "O'Brien",
    "Fischer",
    "Santos",
    "Yilmaz",
    "Bianchi",
    "Hansen",
    "Lopez",
    "Sato",
    "Nowak",
    "Petrov",
    "Wright",
    "Mensah",
    "Ito",
    "Berg",
    "Adeyemi",
    "Kaur",
    "Duarte",
    "Lindqvist",
    "Farouk",
    "Meyer",
    "Chen",
]
TITLES = [
    "Central monitoring plan review",
    "Key risk indicator dashboard",
    "Site data trend analysis",
    "Observed escalation meeting",
    "Line manager testimony",
    "Protocol deviation review",
    "Data quality findings log",
    "Reflective account: a missed signal",
    "Risk assessment (RACT) update",
    "Statistical monitoring report",
    "Professional discussion notes",
    "Query trend summary",
    "Prior certificate: GCP refresher",
    "Expert witness statement",
    "Action plan follow-up",
    "Monitoring visit report",
]
DESCRIPTIONS = [
    "Prepared during the quarterly central monitoring cycle for a phase III oncology study: the plan, the "
    "thresholds chosen for each key risk indicator and the reasons, reviewed with the study statistician.",
    "Record of an observation by my line manager while I led the cross-functional review of site data, "
    "including how I explained the outliers and agreed the follow-up actions with the clinical lead.",
    "Statement from the study manager describing the escalation I raised about delayed SAE reporting at two "
    "sites, the evidence I assembled and what changed at the sites afterwards.",
    "My reflection on a signal I missed at first, what the data showed in hindsight, and how I changed my "
    "review routine and the dashboard so that the same pattern is now flagged.",
    "Analysis of query rates and data entry lag across 40 sites, with the sites selected for targeted "
    "monitoring and the rationale agreed with the sponsor's risk management team.",
    "Notes of the professional discussion with my assessor covering ICH E6(R3) principles, "
    "critical-to-quality factors and the proportionality of the monitoring approach.",
]
KINDS = [
    "work_product",
    "work_product",
    "work_product",
    "work_product",
    "direct_observation",
    "direct_observation",
    "witness_testimony",
    "witness_testimony",
    "expert_witness_testimony",
    "professional_discussion",
    "reflective_account",
    "prior_learning",
]
FILES = [
    ("pdf", "application/pdf"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("jpg", "image/jpeg"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _copy_rows(cur: psycopg.Cursor, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _reference_tables(cur: psycopg.Cursor, world: World) -> None:
    """Temporary lookup tables the bulk statements join: courses, the criteria each portfolio is held to (by
    certification and partner, with each certification's frozen criteria JSON), and who may decide what."""
    from lti_tool.identity import staff

    cur.execute("""
        CREATE TEMP TABLE t_course (k int PRIMARY KEY, partner_id int, context_pk int, link_pk int, cert_id int,
                                    code text, issuer text, instructor_id int) ON COMMIT PRESERVE ROWS""")
    _copy_rows(
        cur,
        "t_course",
        ["k", "partner_id", "context_pk", "link_pk", "cert_id", "code", "issuer", "instructor_id"],
        [
            (c.k, c.partner_id, c.context_pk, c.link_pk, c.cert_id, c.code, c.issuer, c.instructor_id)
            for c in world.courses
        ],
    )
    # Criteria in catalogue order (company-specific ones after each outcome's own), as criteria_for orders them.
    cur.execute("""
        CREATE TEMP TABLE t_crit AS
        SELECT p.id AS partner_id, u.certification_id AS cert_id, k.id AS criterion_id,
               (row_number() OVER (PARTITION BY p.id, u.certification_id
                                   ORDER BY u.position, o.position, k.partner_id IS NOT NULL, k.position, k.id)) - 1
                   AS n,
               json_build_object('id', k.id, 'code', k.code, 'text', k.text, 'unit_code', u.code,
                                 'unit_title', u.title, 'outcome_code', o.code, 'outcome_text', o.text,
                                 'partner_specific', k.partner_id IS NOT NULL) AS j
        FROM partner p CROSS JOIN cert_criterion k JOIN cert_outcome o ON o.id = k.outcome_id
        JOIN cert_unit u ON u.id = o.unit_id
        WHERE k.partner_id IS NULL OR k.partner_id = p.id""")
    cur.execute("""
        CREATE TEMP TABLE t_critset AS
        SELECT c.partner_id, c.cert_id, count(*) AS cnt, max(x.credits) AS credits,
               json_build_object('id', x.id, 'code', x.code, 'version', x.version, 'title', x.title)::text AS cert_json,
               json_agg(c.j ORDER BY c.n)::text AS criteria_json
        FROM t_crit c JOIN certification x ON x.id = c.cert_id
        GROUP BY c.partner_id, c.cert_id, x.id""")
    cur.execute("CREATE INDEX ON t_crit (partner_id, cert_id, n)")
    # Deciders for each (partner, certification): n-th of cnt, picked by portfolio id.
    grants = cur.execute(
        "SELECT user_id, role, partner_id, certification_code, home_partner_id FROM staff_grant"
    ).fetchall()
    pairs = cur.execute("SELECT DISTINCT partner_id, cert_id, code FROM t_course").fetchall()
    rows: list[tuple[Any, ...]] = []
    for partner_id, cert_id, code in pairs:
        for role, table in ((staff.ASSESSOR, "a"), (staff.INTERNAL_VERIFIER, "iv"), (staff.INDEPENDENT_VERIFIER, "ev")):
            # An independent verifier never verifies the learners of the partner they belong to.
            users = sorted(
                {
                    u
                    for u, r, gp, gc, home in grants
                    if r == role
                    and gp in (None, partner_id)
                    and gc in (None, code)
                    and not (role == staff.INDEPENDENT_VERIFIER and home == partner_id)
                }
            )
            rows += [(table, partner_id, cert_id, n, u, len(users)) for n, u in enumerate(users)]
    cur.execute("CREATE TEMP TABLE t_decider (kind text, partner_id int, cert_id int, n int, user_id int, cnt int)")
    _copy_rows(cur, "t_decider", ["kind", "partner_id", "cert_id", "n", "user_id", "cnt"], rows)
    cur.execute("CREATE INDEX ON t_decider (kind, partner_id, cert_id, n)")
    admin = world.admins[0].user_id
    cur.execute(f"CREATE TEMP TABLE t_admin AS SELECT {admin} AS user_id")
    # Temporary tables get no statistics unless asked: without them the planner picks nested loops over
    # millions of rows.
    cur.execute("ANALYZE t_course; ANALYZE t_crit; ANALYZE t_critset; ANALYZE t_decider")


NOW = "(now() AT TIME ZONE 'utc')"


def _statements(lo: int, hi: int, courses: int) -> list[tuple[str, str]]:
    """(label, SQL) in order. Every random draw is made once into t_plan, the rest follows from it."""
    day = "interval '1 day'"
    return [
        (
            "plan",
            f"""
        CREATE TEMP TABLE t_plan AS
        WITH base AS (
            SELECT i, c.*, random() AS rs, random() AS ra, random() AS ri, random() AS rd
            FROM generate_series({lo}, {hi - 1}) AS i JOIN t_course c ON c.k = i % {courses}),
        states AS (
            SELECT *, CASE WHEN rs < 0.22 THEN 'draft' WHEN rs < 0.37 THEN 'submitted' WHEN rs < 0.52 THEN 'referred'
                           WHEN rs < 0.54 THEN 'sent_back' WHEN rs < 0.58 THEN 'verification_1'
                           WHEN rs < 0.62 THEN 'verification_2' WHEN rs < 0.64 THEN 'appealed'
                           ELSE 'awarded' END AS state
            FROM base)
        SELECT *,
               CASE WHEN state = 'draft' THEN 0
                    WHEN state IN ('submitted', 'referred', 'appealed') THEN 1 + floor(ra * 4)::int
                    WHEN state = 'awarded' THEN 1 + floor(ra * 5)::int
                    ELSE 1 + floor(ra * 2)::int END AS attempts,
               CASE WHEN state = 'draft' THEN floor(ri * 14)::int ELSE 5 + floor(ri * 13)::int END AS items,
               {NOW} - (3 + rd * 400) * {day} AS changed_at,
               NULL::int AS user_id, NULL::int AS portfolio_id
        FROM states;
        ANALYZE t_plan""",
        ),
        (
            "lti_user",
            f"""
        INSERT INTO lti_user (issuer, sub, name, given_name, family_name, email, created_at, last_seen_at)
        SELECT issuer, 'learner-' || i, g || ' ' || f, g, f,
               lower(translate(g || '.' || f, ' ''üíé', '__uie')) || i || '@learners.example',
               changed_at - 400 * {day}, changed_at
        FROM (SELECT p.*, ({_array(GIVEN)})[1 + i % {len(GIVEN)}] AS g,
                          ({_array(FAMILY)})[1 + (i / {len(GIVEN)}) % {len(FAMILY)}] AS f FROM t_plan p) x
        ORDER BY i""",
        ),
        (
            "plan users",
            """
        ANALYZE lti_user;
        UPDATE t_plan p SET user_id = u.id FROM lti_user u WHERE u.issuer = p.issuer AND u.sub = 'learner-' || p.i""",
        ),
        (
            "lti_membership",
            f"""
        INSERT INTO lti_membership (user_id, context_id, roles, first_launch_at, last_launch_at)
        SELECT user_id, context_pk, '["{LEARNER}"]', changed_at - 390 * {day}, changed_at FROM t_plan ORDER BY i""",
        ),
        (
            "portfolio",
            f"""
        INSERT INTO portfolio (user_id, certification_id, resource_link_id, partner_id, route, state,
                               state_changed_at, created_at, updated_at)
        SELECT user_id, cert_id, link_pk, partner_id, CASE WHEN i % 10 < 7 THEN 'training' ELSE 'portfolio_only' END,
               state, changed_at, changed_at - (attempts * 35 + 30) * {day}, changed_at
        FROM t_plan ORDER BY i""",
        ),
        (
            "plan portfolios",
            """
        ANALYZE portfolio;
        UPDATE t_plan p SET portfolio_id = x.id FROM portfolio x WHERE x.user_id = p.user_id;
        CREATE INDEX ON t_plan (portfolio_id); ANALYZE t_plan""",
        ),
        (
            "evidence_item",
            f"""
        INSERT INTO evidence_item (portfolio_id, kind, title, description, evidence_date, created_at, updated_at)
        SELECT portfolio_id, ({_array(KINDS)})[1 + (i * 7 + j * 5) % {len(KINDS)}],
               ({_array(TITLES)})[1 + (i + j * 3) % {len(TITLES)}] || ' (' || j || ')',
               ({_array(DESCRIPTIONS)})[1 + (i + j) % {len(DESCRIPTIONS)}],
               (changed_at - (attempts * 35 + 40 + j * 9) * {day})::date,
               changed_at - (attempts * 35 + 30 - j) * {day}, changed_at - (attempts * 35 + 30 - j) * {day}
        FROM t_plan CROSS JOIN LATERAL generate_series(1, items) AS j
        ORDER BY portfolio_id, j""",
        ),
        (
            "items",
            """
        ANALYZE evidence_item;
        CREATE TEMP TABLE t_item AS
        SELECT e.id AS item_id, e.portfolio_id, p.partner_id, p.cert_id
        FROM evidence_item e JOIN t_plan p ON p.portfolio_id = e.portfolio_id;
        ANALYZE t_item""",
        ),
        (
            "evidence_criterion",
            """
        INSERT INTO evidence_criterion (evidence_id, criterion_id)
        SELECT t.item_id, c.criterion_id
        FROM t_item t JOIN t_critset s ON s.partner_id = t.partner_id AND s.cert_id = t.cert_id
        CROSS JOIN LATERAL generate_series(0, t.item_id % 4) AS g
        JOIN t_crit c ON c.partner_id = t.partner_id AND c.cert_id = t.cert_id
                     AND c.n = (t.item_id * 7 + t.portfolio_id + g) % s.cnt""",
        ),
        (
            "files",
            f"""
        CREATE TEMP TABLE t_file AS
        SELECT t.item_id, g, md5(t.item_id || ':' || g || ':a') || md5(t.item_id || ':' || g || ':b') AS sha,
               20000 + (t.item_id::bigint * 7919 + g) % 3000000 AS size,
               ({_array([m for _, m in FILES])})[1 + (t.item_id + g) % {len(FILES)}] AS media_type,
               'evidence-' || t.item_id || '-' || g || '.'
                   || ({_array([e for e, _ in FILES])})[1 + (t.item_id + g) % {len(FILES)}] AS filename
        FROM t_item t
        CROSS JOIN LATERAL generate_series(1, CASE WHEN t.item_id % 20 = 0 THEN 0 WHEN t.item_id % 7 = 0 THEN 2
                                                   ELSE 1 END) AS g;
        ANALYZE t_file""",
        ),
        (
            "stored_file",
            f"""
        INSERT INTO stored_file (sha256, size, media_type, created_at)
        SELECT sha, size, media_type, {NOW} FROM t_file ORDER BY sha""",
        ),
        (
            "evidence_file",
            f"""
        INSERT INTO evidence_file (item_id, sha256, filename, created_at)
        SELECT item_id, sha, filename, {NOW} FROM t_file ORDER BY item_id, g""",
        ),
        (
            "snapshot evidence",
            """
        ANALYZE evidence_criterion;
        CREATE TEMP TABLE t_evjson AS
        WITH crit AS (SELECT ec.evidence_id, json_agg(ec.criterion_id ORDER BY ec.criterion_id) AS ids
                      FROM evidence_criterion ec JOIN t_item t ON t.item_id = ec.evidence_id GROUP BY ec.evidence_id),
             files AS (SELECT item_id, json_agg(json_build_object('sha256', sha, 'filename', filename, 'size', size,
                                                                  'media_type', media_type) ORDER BY g) AS list
                       FROM t_file GROUP BY item_id)
        SELECT e.portfolio_id,
               json_agg(json_build_object('id', e.id, 'kind', e.kind, 'title', e.title, 'description', e.description,
                                          'date', e.evidence_date, 'criteria', coalesce(crit.ids, '[]'::json),
                                          'files', coalesce(files.list, '[]'::json)) ORDER BY e.id)::text AS ev
        FROM evidence_item e JOIN t_plan p ON p.portfolio_id = e.portfolio_id AND p.state <> 'draft'
        LEFT JOIN crit ON crit.evidence_id = e.id LEFT JOIN files ON files.item_id = e.id
        GROUP BY e.portfolio_id;
        ANALYZE t_evjson""",
        ),
        (
            "submission",
            f"""
        INSERT INTO submission (portfolio_id, attempt, snapshot, learner_note, created_at)
        SELECT p.portfolio_id, a,
               '{{"certification": ' || s.cert_json || ', "criteria": ' || s.criteria_json || ', "evidence": '
                   || coalesce(ev.ev, '[]') || '}}',
               CASE WHEN (p.i + a) % 3 = 0 THEN 'Attempt ' || a || ': I added the items my assessor asked for.'
                    ELSE '' END,
               p.changed_at - ((p.attempts - a) * 35 + CASE WHEN p.state = 'submitted' THEN 0 ELSE 6 END) * {day}
        FROM t_plan p CROSS JOIN LATERAL generate_series(1, p.attempts) AS a
        JOIN t_critset s ON s.partner_id = p.partner_id AND s.cert_id = p.cert_id
        LEFT JOIN t_evjson ev ON ev.portfolio_id = p.portfolio_id
        ORDER BY p.portfolio_id, a""",
        ),
        (
            "submissions",
            """
        ANALYZE submission;
        CREATE TEMP TABLE t_sub AS
        SELECT s.id AS submission_id, s.attempt, s.created_at AS submitted_at, s.attempt = p.attempts AS latest,
               p.i, p.portfolio_id, p.user_id, p.partner_id, p.cert_id, p.code, p.state, p.changed_at, p.link_pk
        FROM submission s JOIN t_plan p ON p.portfolio_id = s.portfolio_id;
        ANALYZE t_sub""",
        ),
        # Earlier attempts were referred; the latest carries the decision its state implies. A submitted one
        # with i % 50 = 0 came back through an upheld appeal (its first assessor may not re-assess it).
        (
            "assessment",
            f"""
        INSERT INTO assessment (submission_id, assessor_id, decision, summary, created_at, decided_at)
        SELECT s.submission_id, d.user_id, s.decision,
               CASE WHEN s.decision = 'competent'
                    THEN 'Competent: every criterion is met by sufficient, valid evidence.'
                    ELSE 'Not yet competent: see the criteria marked not yet met for what is missing.' END,
               s.submitted_at + 2 * {day}, s.submitted_at + 5 * {day}
        FROM (SELECT *, CASE WHEN NOT latest OR state IN ('referred', 'appealed')
                                  OR (state = 'submitted' AND i % 50 = 0) THEN 'not_yet_competent'
                             WHEN state IN ('sent_back', 'verification_1', 'verification_2', 'awarded')
                                  THEN 'competent' END AS decision
              FROM t_sub) s
        JOIN t_decider d ON d.kind = 'a' AND d.partner_id = s.partner_id AND d.cert_id = s.cert_id
                        AND d.n = s.portfolio_id % d.cnt
        WHERE s.decision IS NOT NULL ORDER BY s.submission_id""",
        ),
        (
            "draft assessments",
            f"""
        INSERT INTO assessment (submission_id, assessor_id, decision, summary, created_at, decided_at)
        SELECT s.submission_id, d.user_id, NULL, '', s.submitted_at + {day}, NULL
        FROM t_sub s JOIN t_decider d ON d.kind = 'a' AND d.partner_id = s.partner_id AND d.cert_id = s.cert_id
                                     AND d.n = (s.portfolio_id + 1) % d.cnt
        WHERE s.latest AND s.state = 'submitted' AND s.i % 10 = 3""",
        ),
        (
            "decisions",
            """
        ANALYZE assessment;
        CREATE TEMP TABLE t_dec AS
        SELECT a.id AS assessment_id, a.assessor_id, a.decision, a.decided_at, s.*
        FROM assessment a JOIN t_sub s ON s.submission_id = a.submission_id WHERE a.decision IS NOT NULL;
        ANALYZE t_dec""",
        ),
        (
            "criterion_judgement",
            """
        INSERT INTO criterion_judgement (assessment_id, criterion_id, met, feedback)
        SELECT assessment_id, criterion_id, met,
               CASE WHEN met THEN 'Sufficient and valid evidence.'
                    ELSE 'Not yet shown in your own work: add a work product or observation for this criterion.' END
        FROM (SELECT d.assessment_id, c.criterion_id,
                     d.decision = 'competent' OR (c.n + d.assessment_id) % 4 <> 0 AS met
              FROM t_dec d JOIN t_crit c ON c.partner_id = d.partner_id AND c.cert_id = d.cert_id) x
        ORDER BY assessment_id, criterion_id""",
        ),
        (
            "sampling_decision",
            """
        INSERT INTO sampling_decision (assessment_id, assessor_id, certification_code, sampled, reasons, draw, policy,
                                       created_at)
        SELECT assessment_id, assessor_id, code, state IN ('verification_1', 'sent_back') OR i % 5 < 2,
               CASE WHEN state IN ('verification_1', 'sent_back') OR i % 5 < 2 THEN '["share"]' ELSE '[]' END,
               ((i * 37) % 100) / 100.0,
               '{"coverage_days": 90, "coverage_decisions": 10, "new_assessor_threshold": 5, "share": 0.25}',
               decided_at
        FROM t_dec WHERE decision = 'competent' AND latest""",
        ),
        (
            "verification_record",
            f"""
        INSERT INTO verification_record (assessment_id, submission_id, step, outcome, verifier_id, rationale,
                                         created_at)
        SELECT v.assessment_id, v.submission_id, v.step, v.outcome,
               CASE WHEN v.outcome = 'not_sampled' THEN NULL ELSE d.user_id END, v.rationale,
               v.decided_at + v.step * 3 * {day}
        FROM (
            SELECT t.*, 1 AS step,
                   CASE WHEN state = 'sent_back' AND i % 2 = 0 THEN 'disagreed'
                        WHEN state = 'sent_back' OR i % 5 < 2 THEN 'agreed' ELSE 'not_sampled' END AS outcome,
                   CASE WHEN state = 'sent_back' AND i % 2 = 0
                             THEN 'The evidence for two criteria is not the learner''s own work.'
                        WHEN state = 'sent_back' OR i % 5 < 2 THEN 'Decision sound; evidence valid and sufficient.'
                        ELSE 'Not sampled: share draw above the policy share.' END AS rationale
            FROM t_dec t WHERE latest AND state IN ('verification_2', 'awarded', 'sent_back')
            UNION ALL
            SELECT t.*, 2, CASE WHEN state = 'awarded' THEN 'confirmed' ELSE 'sent_back' END,
                   CASE WHEN state = 'awarded' THEN 'Confirmed.' ELSE 'Judgement on CM2 criteria not supported.' END
            FROM t_dec t WHERE latest AND (state = 'awarded' OR (state = 'sent_back' AND i % 2 = 1))
        ) v
        JOIN t_decider d ON d.kind = CASE WHEN v.step = 1 THEN 'iv' ELSE 'ev' END AND d.partner_id = v.partner_id
                        AND d.cert_id = v.cert_id AND d.n = v.portfolio_id % d.cnt
        ORDER BY v.assessment_id, v.step""",
        ),
        (
            "appeal",
            f"""
        INSERT INTO appeal (portfolio_id, submission_id, assessment_id, learner_id, grounds, lodged_at, status,
                            decided_by_id, decided_at, outcome_rationale)
        SELECT portfolio_id, submission_id, assessment_id, user_id,
               'The assessor did not consider the witness testimony I submitted for unit 2.',
               decided_at + 4 * {day}, status,
               CASE WHEN status = 'open' THEN NULL ELSE (SELECT user_id FROM t_admin) END,
               CASE WHEN status = 'open' THEN NULL ELSE decided_at + 10 * {day} END,
               CASE WHEN status = 'upheld' THEN 'The testimony was valid evidence; assess afresh.'
                    WHEN status = 'dismissed' THEN 'The referral stands: the testimony does not cover CM2.1.'
                    ELSE '' END
        FROM (SELECT *, CASE WHEN state = 'appealed' THEN 'open' WHEN state = 'submitted' THEN 'upheld'
                             ELSE 'dismissed' END AS status
              FROM t_dec WHERE latest AND (state IN ('appealed', 'submitted') OR (state = 'referred' AND i % 20 = 7))
             ) x""",
        ),
        (
            "award",
            """
        INSERT INTO award (portfolio_id, submission_id, certificate_number, credits, cpd_points, awarded_on,
                           created_at, revocation_reason)
        SELECT t.portfolio_id, t.submission_id, t.code || '-' || lpad(t.portfolio_id::text, 7, '0'), s.credits,
               s.credits * 10, t.changed_at::date, t.changed_at, ''
        FROM t_sub t JOIN t_critset s ON s.partner_id = t.partner_id AND s.cert_id = t.cert_id
        WHERE t.latest AND t.state = 'awarded'""",
        ),
        # One gradebook job per state change (start, each submission's outcome); the latest of each learner
        # mostly delivered, some failed or still pending; awards also send the credits column.
        (
            "grade_job",
            f"""
        INSERT INTO grade_job (portfolio_id, resource_link_id, user_id, lms_user_id, target, state, sequence, payload,
                               line_item, status, attempts, next_attempt_at, last_status, last_error, created_at,
                               updated_at, delivered_at)
        SELECT portfolio_id, link_pk, user_id, 'learner-' || i, target, job_state, q,
               '{{"activityProgress": "' || progress || '", "gradingProgress": "' || grading
                   || '", "scoreMaximum": 100, "timestamp": "' || to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS') || 'Z", '
                   || '"userId": "learner-' || i || '"}}',
               '{{"label": "' || code || ' accreditation", "resourceId": "' || code || '", "scoreMaximum": 100, '
                   || '"tag": "' || target || '"}}',
               status, CASE WHEN status = 'failed' THEN 8 ELSE 1 END, at,
               CASE WHEN status = 'delivered' THEN 200 WHEN status = 'failed' THEN 400 END,
               CASE WHEN status = 'failed' THEN 'HTTP 400: line item not found' ELSE '' END, at, at,
               CASE WHEN status = 'delivered' THEN at END
        FROM (
            SELECT p.*, q, 'main' AS target,
                   CASE WHEN q = p.attempts + 1 THEN p.state WHEN q = 1 THEN 'draft' ELSE 'referred' END AS job_state,
                   CASE WHEN q = 1 THEN 'Started' WHEN q = p.attempts + 1 AND p.state = 'awarded' THEN 'Completed'
                        ELSE 'Submitted' END AS progress,
                   CASE WHEN q = p.attempts + 1 AND p.state = 'awarded' THEN 'FullyGraded' ELSE 'PendingManual' END
                       AS grading,
                   CASE WHEN q <= p.attempts OR p.i % 100 < 93 THEN 'delivered' WHEN p.i % 100 < 97 THEN 'failed'
                        ELSE 'pending' END AS status,
                   p.changed_at - (p.attempts + 1 - q) * 35 * {day} AS at
            FROM t_plan p CROSS JOIN LATERAL generate_series(1, p.attempts + 1) AS q
            UNION ALL
            SELECT p.*, 1, 'credits', 'awarded', 'Completed', 'FullyGraded', 'delivered', p.changed_at
            FROM t_plan p WHERE p.state = 'awarded'
        ) j ORDER BY portfolio_id, target, q""",
        ),
        ("cleanup", "DROP TABLE t_plan, t_item, t_file, t_evjson, t_sub, t_dec"),
    ]


def _roster_cache(courses: int) -> str:
    """The course roster as NRPS returns it, cached as the roster page caches it: every learner (a few
    inactive), the instructor, and a tenth more who are enrolled but have never opened the tool."""
    return f"""
        DELETE FROM lti_cache WHERE key LIKE 'grading:roster:%';
        INSERT INTO lti_cache (key, value, expires_at)
        SELECT 'grading:roster:' || context_pk, json_agg(member ORDER BY sub)::text, {NOW} + interval '30 days'
        FROM (
            SELECT c.context_pk, u.sub, json_build_object(
                       'user_id', u.sub, 'name', u.name, 'given_name', u.given_name, 'family_name', u.family_name,
                       'email', u.email, 'status', CASE WHEN u.id % 50 = 0 THEN 'Inactive' ELSE 'Active' END,
                       'roles', m.roles::json) AS member
            FROM t_course c JOIN lti_membership m ON m.context_id = c.context_pk JOIN lti_user u ON u.id = m.user_id
            UNION ALL
            SELECT c.context_pk, 'lms-only-' || c.k || '-' || g, json_build_object(
                       'user_id', 'lms-only-' || c.k || '-' || g, 'name', 'Enrolled Learner ' || c.k || '-' || g,
                       'email', 'enrolled' || c.k || '-' || g || '@learners.example', 'status', 'Active',
                       'roles', json_build_array('{LEARNER}')) AS member
            FROM t_course c CROSS JOIN LATERAL generate_series(
                1, (SELECT count(*) / 10 FROM lti_membership m WHERE m.context_id = c.context_pk)) AS g
        ) x GROUP BY context_pk"""


@dataclass
class SeedTiming:
    steps: list[tuple[str, float]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(s for _, s in self.steps)


def seed_learners(url: str, schema: str, world: World, lo: int, hi: int) -> SeedTiming:
    """Learners lo..hi-1 and everything they made, then VACUUM ANALYZE (the planner and index-only scans
    need fresh statistics and visibility maps, as autovacuum would give a live database)."""
    timing = SeedTiming()
    with psycopg.connect(url, options=f"-csearch_path={schema}") as conn, conn.cursor() as cur:
        # Nothing here needs to survive a crash: the schema is thrown away.
        cur.execute("SET synchronous_commit = off; SET work_mem = '64MB'; SET maintenance_work_mem = '256MB'")
        _reference_tables(cur, world)
        steps = [*_statements(lo, hi, len(world.courses)), ("roster cache", _roster_cache(len(world.courses)))]
        for label, sql in steps:
            started = time.perf_counter()
            cur.execute(sql)
            timing.steps.append((label, time.perf_counter() - started))
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(url, options=f"-csearch_path={schema}", autocommit=True) as conn:
        # Only this schema's tables (a bare VACUUM would work through every schema in the database).
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
        conn.execute("VACUUM ANALYZE " + ", ".join(f'"{schema}"."{t}"' for t in tables))
    timing.steps.append(("vacuum analyze", time.perf_counter() - started))
    world.learners = hi
    return timing


def table_counts(url: str, schema: str) -> dict[str, int]:
    tables = [
        "lti_user",
        "portfolio",
        "evidence_item",
        "evidence_criterion",
        "evidence_file",
        "submission",
        "assessment",
        "criterion_judgement",
        "verification_record",
        "appeal",
        "award",
        "grade_job",
    ]
    with psycopg.connect(url, options=f"-csearch_path={schema}") as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def database_size(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return int(row[0] or 0) if row else 0


def dumps(value: Any) -> str:
    return json.dumps(value)

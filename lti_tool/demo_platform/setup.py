"""Registers the demo platform with the tool, exactly as an admin would register a real LMS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.demo_platform import people
from lti_tool.demo_platform.catalogue_seed import ensure_demo_catalogue
from lti_tool.identity.grants import Scope, add_pending_grant
from lti_tool.identity.partners import Partner
from lti_tool.identity.staff import INTERNAL_VERIFIER, PendingStaffGrant
from lti_tool.launch.keys import load_or_create_private_key
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db


def demo_base(app: Flask | None = None) -> str:
    return (app or current_app).config["DEMO_BASE_URL"]


def demo_issuer(app: Flask | None = None) -> str:
    return demo_base(app) + "/demo"


def platform_key(app: Flask | None = None) -> tuple[str, dict[str, Any]]:
    app = app or current_app
    return load_or_create_private_key(Path(app.config["KEYS_DIR"]) / "demo-platform.pem")


def ensure_demo_platform(app: Flask) -> Registration:
    _, jwk = platform_key(app)
    base = demo_base(app)
    partner = db.session.scalar(select(Partner).where(Partner.slug == people.PARTNER_SLUG))
    if partner is None:
        partner = Partner(slug=people.PARTNER_SLUG, name=people.PARTNER_NAME, kind="academy")
        db.session.add(partner)
    reg = db.session.scalar(
        select(Registration).where(Registration.issuer == demo_issuer(app), Registration.client_id == people.CLIENT_ID)
    )
    if reg is None:
        reg = Registration(issuer=demo_issuer(app), client_id=people.CLIENT_ID)
        db.session.add(reg)
    reg.name = "Demo platform (built in)"
    reg.auth_login_url = base + "/demo/auth"
    reg.auth_token_url = base + "/demo/token"
    reg.key_set_url = base + "/demo/jwks"
    # Inline keys: the tool must not call itself over HTTP to verify its own demo's launches.
    reg.key_set = {"keys": [jwk]}
    db.session.flush()
    dep = db.session.scalar(
        select(Deployment).where(Deployment.registration_id == reg.id, Deployment.deployment_id == people.DEPLOYMENT_ID)
    )
    if dep is None:
        dep = Deployment(registration_id=reg.id, deployment_id=people.DEPLOYMENT_ID)
        db.session.add(dep)
    dep.partner = partner
    if app.config.get("DEMO_CATALOGUE", True):
        ensure_demo_catalogue(partner)
    db.session.flush()
    _ensure_demo_staff(demo_issuer(app), partner)
    db.session.commit()
    return reg


def _ensure_demo_staff(issuer: str, partner: Partner) -> None:
    """The demo's assessor, verifiers and admin get their tool roles at their first launch (pending grants).

    Once recorded, a pending grant is never recreated, so a role an admin revokes stays revoked. The internal
    verifier belongs to the academy; the independent verifier (Eli) deliberately does not.
    """
    for person in people.USERS:
        if not person.tool_role:
            continue
        recorded = db.session.scalar(
            select(PendingStaffGrant.id)
            .where(
                PendingStaffGrant.issuer == issuer,
                PendingStaffGrant.sub == person.sub,
                PendingStaffGrant.role == person.tool_role,
            )
            .limit(1)
        )
        if recorded is None:
            scope = Scope(home_partner_id=partner.id) if person.tool_role == INTERNAL_VERIFIER else Scope()
            add_pending_grant(issuer, person.sub, person.tool_role, scope, Actor(label="demo setup", role="system"))

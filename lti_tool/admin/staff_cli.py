"""`lti-tool staff`: grant, revoke and list tool staff roles from the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext
from flask_babel import gettext
from sqlalchemy import select

from lti_tool.audit.actor import cli_actor, cli_errors
from lti_tool.identity.grants import (
    Actor,
    Scope,
    add_pending_grant,
    cancel_pending_grant,
    describe,
    find_user,
    grant_role,
    open_pending_grants,
    partner_by_slug,
    revoke_grant,
)
from lti_tool.identity.staff import STAFF_ROLES, StaffGrant
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

T = TypeVar("T")


def _operator() -> Actor:
    return cli_actor()


def _run(action: Callable[[], T]) -> T:
    with cli_errors():
        return action()


def _scope(partner: str | None, certification: str | None, home_partner: str | None) -> Scope:
    p = partner_by_slug(partner)
    home = partner_by_slug(home_partner)
    return Scope(
        partner_id=p.id if p else None,
        certification_code=(certification or "").strip() or None,
        home_partner_id=home.id if home else None,
    )


@click.group("staff", help="Tool staff roles: assessors, verifiers and tool administrators.")
def staff_cli() -> None:
    pass


_role_option = click.option("--role", required=True, type=click.Choice(list(STAFF_ROLES)), help="The tool role.")


@staff_cli.command("grant")
@click.option("--issuer", required=True, help="The person's platform issuer (iss).")
@click.option("--sub", required=True, help="The person's subject (sub) on that platform.")
@_role_option
@click.option("--partner", default=None, help="Limit the role to this partner's learners (slug).")
@click.option("--certification", default=None, help="Limit the role to this certification (code).")
@click.option(
    "--home-partner",
    default=None,
    help="The partner a verifier belongs to (slug); an independent verifier may not verify its learners.",
)
@click.option("--pending", is_flag=True, help="If the person has not launched yet, grant at their first launch.")
@with_appcontext
def staff_grant(
    issuer: str,
    sub: str,
    role: str,
    partner: str | None,
    certification: str | None,
    home_partner: str | None,
    pending: bool,
) -> None:
    def act() -> str:
        scope = _scope(partner, certification, home_partner)
        user = find_user(issuer, sub)
        if user is None and pending:
            row = add_pending_grant(issuer, sub, role, scope, _operator())
            db.session.commit()
            return f"Pending grant {row.id}: {describe(row)}; applied when {sub} first launches the tool."
        if user is None:
            raise UserError(
                gettext(
                    "Nobody with issuer '%(issuer)s' and subject '%(sub)s' has launched the tool yet. Ask them to "
                    "open it once from their course, or add --pending to grant the role at their first launch.",
                    issuer=issuer,
                    sub=sub,
                )
            )
        grant = grant_role(user, role, scope, _operator())
        db.session.commit()
        return f"Granted {describe(grant)} to {user.display_name()} (grant {grant.id})."

    click.echo(_run(act))


@staff_cli.command("revoke")
@click.option("--id", "grant_id", type=int, default=None, help="The grant's id (see 'staff list').")
@click.option("--issuer", default=None)
@click.option("--sub", default=None)
@click.option("--role", default=None, type=click.Choice(list(STAFF_ROLES)))
@click.option("--partner", default=None, help="Only the grant limited to this partner (slug).")
@click.option("--certification", default=None, help="Only the grant limited to this certification.")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@with_appcontext
def staff_revoke(
    grant_id: int | None,
    issuer: str | None,
    sub: str | None,
    role: str | None,
    partner: str | None,
    certification: str | None,
    reason: str,
) -> None:
    def act() -> str:
        if grant_id is not None:
            grant = db.session.get(StaffGrant, grant_id)
            if grant is None:
                raise UserError(gettext("No grant with id %(id)s. See 'lti-tool staff list'.", id=grant_id))
            matches = [grant]
        else:
            if not (issuer and sub and role):
                raise UserError("Say which grant: --id, or --issuer, --sub and --role.")
            user = find_user(issuer, sub)
            if user is None:
                return _cancel_pending(issuer, sub, role)
            query = select(StaffGrant).where(StaffGrant.user_id == user.id, StaffGrant.role == role)
            if partner:
                partner_row = partner_by_slug(partner)
                assert partner_row is not None  # a non-empty slug names a partner or raises NotFound
                query = query.where(StaffGrant.partner_id == partner_row.id)
            if certification:
                query = query.where(StaffGrant.certification_code == certification)
            matches = list(db.session.scalars(query))
            if not matches:
                raise UserError(gettext("%(name)s holds no such role.", name=user.display_name()))
            if len(matches) > 1:
                listed = "; ".join(f"{g.id}: {describe(g)}" for g in matches)
                raise UserError(
                    gettext("Several grants match (%(grants)s). Use --id, --partner or --certification.", grants=listed)
                )
        grant = matches[0]
        text = f"Revoked {describe(grant)} from {grant.user.display_name()} (grant {grant.id})."
        revoke_grant(grant, _operator(), reason)
        db.session.commit()
        return text

    click.echo(_run(act))


def _cancel_pending(issuer: str, sub: str, role: str) -> str:
    rows = [p for p in open_pending_grants(issuer, sub) if p.role == role]
    if not rows:
        raise UserError(
            gettext(
                "Nobody with issuer '%(issuer)s' and subject '%(sub)s' has launched the tool, and no pending "
                "%(role)s grant exists for them.",
                issuer=issuer,
                sub=sub,
                role=role,
            )
        )
    for row in rows:
        cancel_pending_grant(row, _operator())
    db.session.commit()
    return f"Cancelled {len(rows)} pending {role} grant(s) for {sub}."


@staff_cli.command("list")
@click.option("--role", default=None, type=click.Choice(list(STAFF_ROLES)))
@with_appcontext
def staff_list(role: str | None) -> None:
    query = select(StaffGrant, LtiUser).join(LtiUser, StaffGrant.user_id == LtiUser.id).order_by(StaffGrant.id)
    if role:
        query = query.where(StaffGrant.role == role)
    rows: list[Any] = list(db.session.execute(query))
    pending = [p for p in open_pending_grants() if not role or p.role == role]
    if not rows and not pending:
        click.echo("No staff roles granted yet. Grant one with 'lti-tool staff grant'.")
    for grant, user in rows:
        click.echo(
            f"[{grant.id}] {user.display_name()} <{user.sub}@{user.issuer}>: {describe(grant)}"
            f" - by {grant.granted_by or '?'} on {grant.granted_at:%Y-%m-%d}"
        )
    for row in pending:
        waiting = f" ({row.note})" if row.note else ""
        click.echo(f"[pending {row.id}] {row.sub}@{row.issuer}: {describe(row)} - waiting for first launch{waiting}")

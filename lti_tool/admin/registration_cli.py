"""Command line for platform registrations, deployments, registration invites and tool keys.

The rules (validation, duplicates, what may be deleted) are those of the admin console:
lti_tool.launch.registrations. Every change is audited as done by 'cli:<login>'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit import trail as audit
from lti_tool.audit.actor import Actor, cli_actor, cli_actor_label
from lti_tool.identity.partners import Partner
from lti_tool.identity.staff import TOOL_ADMIN
from lti_tool.launch import registrations as rules
from lti_tool.launch.invites import create_invite
from lti_tool.launch.keys import KeyStoreError, key_store
from lti_tool.launch.models import Registration
from lti_tool.launch.tool_urls import invite_url
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.store.db import db
from lti_tool.web.errors import UserError


def _who() -> Actor:
    return cli_actor(TOOL_ADMIN)


def find_registration_or_fail(issuer: str, client_id: str) -> Registration:
    reg = rules.find_registration(issuer, client_id)
    if reg is None:
        raise click.ClickException(
            f"No registration for issuer {issuer!r} and client ID {client_id!r}. See 'lti-tool registration list'."
        )
    return reg


def _find_partner(slug: str | None) -> Partner | None:
    if not slug:
        return None
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"No partner with short name {slug!r}.")
    return partner


@contextmanager
def _refused() -> Iterator[None]:
    """A change the rules refuse is rolled back and reported as a clear CLI error, never a traceback."""
    try:
        yield
    except UserError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message + (f" {exc.hint}" if exc.hint else "")) from exc


@click.group("registration", help="Platform registrations (issuer + client ID).")
def registration_cli() -> None:
    pass


@registration_cli.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://moodle.example.edu")
@click.option("--client-id", required=True, help="The client ID the platform gave the tool.")
@click.option("--login-url", required=True, help="Platform OIDC authentication request URL.")
@click.option("--token-url", required=True, help="Platform OAuth2 access token URL.")
@click.option("--jwks-url", required=True, help="Platform public keyset URL.")
@click.option("--audience", default=None, help="OAuth2 audience for token requests, if not the token URL.")
@click.option("--name", default="", help="A label for people, e.g. 'Acme Academy Moodle'.")
@click.option("--deployment", "deployments", multiple=True, help="Deployment ID (repeatable).")
@click.option("--partner", default=None, help="Short name (slug) of the partner the deployments belong to.")
@click.option("--inactive", is_flag=True, help="Register without enabling launches yet.")
@with_appcontext
def registration_add(
    issuer: str,
    client_id: str,
    login_url: str,
    token_url: str,
    jwks_url: str,
    audience: str | None,
    name: str,
    deployments: tuple[str, ...],
    partner: str | None,
    inactive: bool,
) -> None:
    with _refused():
        reg = rules.create_registration(
            _who(),
            issuer=issuer,
            client_id=client_id,
            login_url=login_url,
            token_url=token_url,
            jwks_url=jwks_url,
            audience=audience,
            name=name,
            deployment_ids=deployments,
            active=not inactive,
            partner=_find_partner(partner),
        )
        db.session.commit()
    click.echo(f"Registered {reg.label()} (id {reg.id}) with {len(reg.deployments)} deployment(s).")


@registration_cli.command("list")
@with_appcontext
def registration_list() -> None:
    rows = list(db.session.scalars(select(Registration).order_by(Registration.id)))
    if not rows:
        click.echo("No registrations yet. Add one with 'lti-tool registration add'.")
    for reg in rows:
        state = "active" if reg.active else "INACTIVE"
        click.echo(f"[{reg.id}] {reg.label()} - {state}")
        click.echo(f"     issuer={reg.issuer} client_id={reg.client_id}")
        for dep in reg.deployments:
            partner = f" partner={dep.partner.slug}" if dep.partner else ""
            click.echo(f"     deployment {dep.deployment_id!r}{'' if dep.active else ' (inactive)'}{partner}")


def _set_active(issuer: str, client_id: str, active: bool) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    rules.set_registration_active(_who(), reg, active)
    db.session.commit()
    click.echo(f"{reg.label()} is now {'active' if active else 'inactive'}.")


@registration_cli.command("activate")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@with_appcontext
def registration_activate(issuer: str, client_id: str) -> None:
    _set_active(issuer, client_id, True)


@registration_cli.command("deactivate")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@with_appcontext
def registration_deactivate(issuer: str, client_id: str) -> None:
    _set_active(issuer, client_id, False)


@registration_cli.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def registration_remove(issuer: str, client_id: str, yes: bool) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    label = reg.label()
    if not yes:
        click.confirm(f"Remove {label} and its {len(reg.deployments)} deployment(s)?", abort=True)
    with _refused():
        rules.delete_registration(_who(), reg)
        db.session.commit()
    click.echo(f"Removed {label}.")


@registration_cli.command("invite")
@click.option("--partner", default=None, help="Short name (slug) of the partner the new deployment joins.")
@click.option("--hours", default=72, show_default=True, type=int, help="How long the invite stays valid.")
@click.option("--note", default="", help="Who it is for (shown in the admin console).")
@with_appcontext
def registration_invite(partner: str | None, hours: int, note: str) -> None:
    """A one-time dynamic registration URL: the platform registered through it is active at once."""
    with _refused():
        invite, token = create_invite(_who(), hours=hours, partner=_find_partner(partner), note=note)
        db.session.commit()
    click.echo(
        "Paste this URL into the LMS's dynamic registration (Moodle: Manage tools > Tool URL > "
        "Add LTI Advantage). It works once, until "
        f"{invite.expires_at:%Y-%m-%d %H:%M} UTC:"
    )
    click.echo(invite_url(token))
    if not current_app.config.get("PUBLIC_URL"):
        click.echo(
            "Note: LTI_TOOL_PUBLIC_URL is not set, so this URL uses the local address; set it to the "
            "tool's public address (and replace the start of the URL accordingly).",
            err=True,
        )


@click.group("deployment", help="Deployments of a registration.")
def deployment_cli() -> None:
    pass


@deployment_cli.command("add")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@click.option("--partner", default=None, help="Short name (slug) of the partner the deployment belongs to.")
@with_appcontext
def deployment_add(issuer: str, client_id: str, deployment_id: str, partner: str | None) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    with _refused():
        rules.add_deployment(_who(), reg, deployment_id, _find_partner(partner))
        db.session.commit()
    click.echo(f"Added deployment {deployment_id!r} to {reg.label()}.")


@deployment_cli.command("list")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@with_appcontext
def deployment_list(issuer: str, client_id: str) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    for dep in reg.deployments:
        click.echo(
            f"{dep.deployment_id}\t{'active' if dep.active else 'inactive'}\t{dep.partner.slug if dep.partner else '-'}"
        )


@deployment_cli.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@with_appcontext
def deployment_remove(issuer: str, client_id: str, deployment_id: str) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    dep = next((d for d in reg.deployments if d.deployment_id == deployment_id), None)
    if dep is None:
        raise click.ClickException(f"No deployment {deployment_id!r} on {reg.label()}.")
    with _refused():
        rules.delete_deployment(_who(), dep)
        db.session.commit()
    click.echo(f"Removed deployment {deployment_id!r}.")


@deployment_cli.command("default")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
@click.option(
    "--certification",
    "code",
    default=None,
    help="Certification code used when a placement names none (no deep linking, no custom parameter).",
)
@click.option("--clear", is_flag=True, help="Remove the default.")
@with_appcontext
def deployment_default(issuer: str, client_id: str, deployment_id: str, code: str | None, clear: bool) -> None:
    reg = find_registration_or_fail(issuer, client_id)
    dep = next((d for d in reg.deployments if d.deployment_id == deployment_id), None)
    if dep is None:
        raise click.ClickException(f"No deployment {deployment_id!r} on {reg.label()}.")
    if clear == bool(code):
        raise click.UsageError("Give either --certification CODE or --clear.")
    before = dep.default_certification_code
    if code:
        code = code.strip()
        cert = latest_certification(code)
        if cert is None:
            raise click.ClickException(f"There is no certification {code!r} in the catalogue; import it first.")
        dep.default_certification_code = cert.code
        message = f"Placements of deployment {deployment_id!r} that name no certification now use {cert.code}."
    else:
        dep.default_certification_code = None
        message = f"Deployment {deployment_id!r} has no default certification any more."
    audit.record(
        "deployment.default_certification",
        actor_label=cli_actor_label(),
        role="tool_admin",
        subject_type="lti_deployment",
        subject_id=dep.id,
        before={"certification": before},
        after={"certification": dep.default_certification_code},
    )
    db.session.commit()
    click.echo(message)


@click.group("keys", help="The tool's signing keys (published in its JWKS).")
def keys_cli() -> None:
    pass


@keys_cli.command("list")
@with_appcontext
def keys_list() -> None:
    keys = key_store().active_keys()
    for i, key in enumerate(keys):
        role = "signing" if i == len(keys) - 1 else "published"
        click.echo(f"{key.kid}\tcreated {key.created}\t{role}")


@keys_cli.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    key = key_store().rotate()
    _who().record("key.rotate", subject_type="tool_key", subject_id=key.kid, after={"signing": key.kid})
    db.session.commit()
    click.echo(f"New signing key {key.kid}. Older keys stay in the JWKS until you retire them.")


@keys_cli.command(
    "retire",
    help="Stop publishing the key KID (see 'keys list'). A key id may start with '-' (ids are base64url "
    "thumbprints): then write it after '--', as in: lti-tool keys retire -- -Iq3...",
)
@click.argument("kid")
@with_appcontext
def keys_retire(kid: str) -> None:
    try:
        key = key_store().retire(kid)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    _who().record(
        "key.retire", subject_type="tool_key", subject_id=kid, before={"published": True}, after={"published": False}
    )
    db.session.commit()
    click.echo(f"Retired {key.kid}; it is no longer published.")

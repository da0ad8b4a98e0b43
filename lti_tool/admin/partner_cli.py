"""`lti-tool partner`: partners, their deployments, their pathways and their company-specific criteria."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit.actor import cli_actor, cli_actor_label, cli_errors, cli_transaction
from lti_tool.identity.partners import (
    PARTNER_KINDS,
    Partner,
    add_partner,
    find_deployment,
    find_partner,
    partner_deployments,
    set_deployment_partner,
)
from lti_tool.portfolio.catalogue.company_criteria import add_partner_criterion, partner_criteria
from lti_tool.portfolio.catalogue.offerings import offer_certification, offered_certifications, withdraw_offering
from lti_tool.store.db import db


@click.group("partner", help="Partners (academies, hubs, employers): deployments, pathways, own criteria.")
def partner_cli() -> None:
    pass


@partner_cli.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The partner's name, e.g. 'Acme Clinical Academy'.")
@click.option(
    "--kind",
    type=click.Choice(list(PARTNER_KINDS)),
    default="academy",
    show_default=True,
    help="academy: accredited training; hub: enrols learners; employer: its own staff.",
)
@with_appcontext
def partner_add(slug: str, name: str, kind: str) -> None:
    with cli_transaction():
        partner = add_partner(cli_actor(), slug, name, kind)
    click.echo(f"Added partner {partner.slug} ({partner.name}, {partner.kind}).")


@partner_cli.command("list")
@with_appcontext
def partner_list() -> None:
    partners = list(db.session.scalars(select(Partner).order_by(Partner.slug)))
    if not partners:
        click.echo("No partners yet. Add one with 'lti-tool partner add'.")
    for p in partners:
        click.echo(f"{p.slug} - {p.name} ({p.kind})")
        offers = offered_certifications(p.id)
        if not offers:
            click.echo("  offers nothing yet")
        for offer in offers:
            units = ", ".join(u.code for u in offer.units) if offer.narrowed else "all units"
            click.echo(
                f"  offers {offer.certification.code} v{offer.certification.version}: {units} ({offer.credits} credits)"
            )
        for dep in partner_deployments(p.id):
            reg = dep.registration
            named = f" ({reg.name})" if reg.name else ""
            click.echo(f"  deployment {dep.deployment_id!r}: issuer {reg.issuer}, client ID {reg.client_id}{named}")
        own = partner_criteria(p.id)
        if own:
            click.echo(f"  company-specific criteria: {', '.join(k.code for k in own)}")


def _unit_list(value: str | None) -> list[str] | None:
    return [u.strip() for u in value.split(",") if u.strip()] if value else None


@partner_cli.command("offer")
@click.argument("slug")
@click.argument("code")
@click.option(
    "--units", default=None, help="Offer only these units (comma-separated codes), e.g. CM1,CM2. Default: every unit."
)
@with_appcontext
def partner_offer(slug: str, code: str, units: str | None) -> None:
    """Offer a certification (or some of its units) on the partner's pathway."""
    with cli_transaction():
        offering, status = offer_certification(
            find_partner(slug), code, _unit_list(units), actor_label=cli_actor_label()
        )
        which = offering.unit_codes.replace(",", ", ") or "all units"
    click.echo(f"{slug} offers {code} ({which}): {status}.")


@partner_cli.command("withdraw")
@click.argument("slug")
@click.argument("code")
@with_appcontext
def partner_withdraw(slug: str, code: str) -> None:
    """Stop offering a certification to new placements (existing portfolios carry on)."""
    with cli_transaction():
        withdraw_offering(find_partner(slug), code, actor_label=cli_actor_label())
    click.echo(f"{slug} no longer offers {code}.")


@partner_cli.command("attach")
@click.argument("slug")
@click.option("--issuer", required=True, help="The platform's issuer, as registered.")
@click.option("--client-id", required=True, help="The client ID, as registered.")
@click.option("--deployment-id", required=True, help="The deployment ID, as registered.")
@click.option("--move", is_flag=True, help="Move the deployment from the partner it belongs to now.")
@with_appcontext
def partner_attach(slug: str, issuer: str, client_id: str, deployment_id: str, move: bool) -> None:
    """Make a registered deployment belong to the partner (its launches act for the partner)."""
    with cli_transaction():
        partner = find_partner(slug)
        set_deployment_partner(cli_actor(), find_deployment(issuer, client_id, deployment_id), partner, move=move)
    click.echo(f"Deployment {deployment_id!r} ({issuer}, client ID {client_id}) now belongs to {slug}.")


@partner_cli.group("criterion", help="Company-specific assessment criteria.")
def criterion_cli() -> None:
    pass


@criterion_cli.command("add")
@click.argument("slug")
@click.argument("code")
@click.option("--outcome", "outcome_code", required=True, help="The learning outcome's code, e.g. CM4.2.")
@click.option("--code", "criterion_code", required=True, help="A code for the new criterion, e.g. ACME-1.")
@click.option("--text", required=True, help="What the learner must show: 'The learner can ...'.")
@with_appcontext
def criterion_add(slug: str, code: str, outcome_code: str, criterion_code: str, text: str) -> None:
    """Add a criterion to a learning outcome of CODE's latest version, for this partner's learners only."""
    with cli_transaction():
        criterion = add_partner_criterion(
            find_partner(slug), code, outcome_code, criterion_code, text, actor_label=cli_actor_label()
        )
        version = criterion.outcome.unit.certification.version
    click.echo(f"Added {criterion_code} to {code} version {version}, outcome {outcome_code}, for {slug}.")


@criterion_cli.command("list")
@click.argument("slug")
@click.argument("code", required=False)
@with_appcontext
def criterion_list(slug: str, code: str | None) -> None:
    """The partner's own criteria on the latest versions."""
    with cli_errors():
        partner = find_partner(slug)
    own = partner_criteria(partner.id, code)
    if not own:
        click.echo(f"{slug} has no company-specific criteria{' for ' + code if code else ''}.")
    for k in own:
        cert = k.outcome.unit.certification
        click.echo(f"{cert.code} v{cert.version} {k.outcome.code} {k.code}: {k.text}")

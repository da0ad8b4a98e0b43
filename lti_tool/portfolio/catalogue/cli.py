"""`lti-tool catalogue`: import the catalogue data files, list certifications, show one as a tree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit.actor import cli_actor_label, cli_errors, cli_transaction
from lti_tool.identity.partners import Partner, find_partner
from lti_tool.portfolio.catalogue.importer import ISCED_BROAD_FIELDS, ISCED_LEVELS, import_catalogue
from lti_tool.portfolio.catalogue.models import Certification, Criterion
from lti_tool.portfolio.catalogue.offerings import require_certification
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.store.db import db

WIDTH = 100


@click.group("catalogue", help="The accreditation catalogue: certifications, units, outcomes, criteria.")
def catalogue_cli() -> None:
    pass


@catalogue_cli.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@with_appcontext
def catalogue_import(paths: tuple[Path, ...]) -> None:
    """Import catalogue files (default: every file in the catalogue directory).

    Unchanged files are skipped; a changed file becomes a new version. One invalid file and nothing is imported.
    """
    with cli_transaction():
        results = import_catalogue(paths or None, actor_label=cli_actor_label())
    for r in results:
        if not r.created:
            click.echo(f"{r.code}: version {r.version} unchanged ({r.source})")
            continue
        was = f" (was version {r.previous_version})" if r.previous_version else ""
        click.echo(f"{r.code}: version {r.version} created{was} from {r.source}")
        if r.carried:
            click.echo(f"  company-specific criteria carried forward: {', '.join(r.carried)}")
        for line in r.not_carried:
            click.echo(f"  NOT carried forward: {line}")


def _versions(code: str) -> list[Certification]:
    return list(
        db.session.scalars(select(Certification).where(Certification.code == code).order_by(Certification.version))
    )


@catalogue_cli.command("list")
@with_appcontext
def catalogue_list() -> None:
    """Every certification version in the catalogue."""
    certs = list(db.session.scalars(select(Certification).order_by(Certification.code, Certification.version)))
    if not certs:
        click.echo("The catalogue is empty. Import it with 'lti-tool catalogue import'.")
        return
    rows = [("CODE", "VERSION", "TITLE", "LEVEL", "FIELD", "CREDITS", "UNITS")]
    rows += [
        (c.code, str(c.version), c.title, c.isced_level, c.isced_field, str(c.credits), str(len(c.units)))
        for c in certs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _wrap(text: str, indent: str, first: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent + first, subsequent_indent=indent + " " * len(first))


@catalogue_cli.command("show")
@click.argument("code")
@click.option("--version", "version", type=int, default=None, help="A version number (default: the latest).")
@click.option(
    "--partner",
    "partner_slug",
    default=None,
    help="Show what this partner's learners are assessed against (catalogue + its own criteria).",
)
@with_appcontext
def catalogue_show(code: str, version: int | None, partner_slug: str | None) -> None:
    """A certification as a tree: units, learning outcomes, assessment criteria."""
    with cli_errors():
        cert = require_certification(code)
        partner = find_partner(partner_slug) if partner_slug else None
    versions = _versions(code)
    if version is not None:
        chosen = next((c for c in versions if c.version == version), None)
        if chosen is None:
            raise click.ClickException(
                f"{code} has no version {version} (versions: {', '.join(str(c.version) for c in versions)})."
            )
        cert = chosen

    if partner is not None:
        shown = criteria_for(cert, partner.id)
    else:
        shown = [k for u in cert.units for o in u.outcomes for k in o.criteria]
    slugs = _partner_slugs(shown)
    latest = versions[-1].version
    click.echo(f"{cert.code} version {cert.version}{' (latest)' if cert.version == latest else ''}: {cert.title}")
    click.echo(
        f"ISCED 2011 level {cert.isced_level} ({ISCED_LEVELS.get(cert.isced_level, '?')}); "
        f"ISCED-F 2013 field {cert.isced_field} "
        f"(broad field {cert.isced_field[:2]}: {ISCED_BROAD_FIELDS.get(cert.isced_field[:2], '?')})"
    )
    click.echo(f"Framework: {cert.framework}")
    click.echo(
        f"Credits: {cert.credits} ({cert.notional_hours} notional learning hours, {cert.cpd_points} CPD/CPE points)"
    )
    click.echo(
        f"Versions: {', '.join(str(c.version) for c in versions)}; this one imported "
        f"{cert.created_at:%Y-%m-%d %H:%M} UTC, content hash {cert.content_hash[:16]}"
    )
    if partner is not None:
        click.echo(f"As assessed for {partner.slug} ({partner.name}): [{partner.slug}] marks its own criteria")
    for paragraph in cert.description.split("\n\n") if cert.description else []:
        click.echo()
        click.echo(_wrap(paragraph, ""))
    by_outcome: dict[int, list[Criterion]] = {}
    for k in shown:
        by_outcome.setdefault(k.outcome_id, []).append(k)
    for unit in cert.units:
        click.echo()
        click.echo(
            _wrap(f"{unit.title} ({unit.credits} credit{'s' if unit.credits != 1 else ''})", "", f"Unit {unit.code}: ")
        )
        if unit.framework_refs:
            click.echo(_wrap("; ".join(unit.framework_refs), "  ", "Maps to: "))
        for outcome in unit.outcomes:
            click.echo(_wrap(outcome.text, "  ", f"Outcome {outcome.code}: "))
            for k in by_outcome.get(outcome.id, []):
                mark = f"[{slugs[k.partner_id]}] " if k.partner_id is not None else ""
                click.echo(_wrap(mark + k.text, "    ", f"{k.code}  "))


def _partner_slugs(criteria: list[Criterion]) -> dict[int, str]:
    ids = {k.partner_id for k in criteria if k.partner_id is not None}
    if not ids:
        return {}
    return {p.id: p.slug for p in db.session.scalars(select(Partner).where(Partner.id.in_(ids)))}

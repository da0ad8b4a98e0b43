"""`lti-tool audit`: check the tamper-evident chain and read the trail."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent, verify_chain
from lti_tool.store.db import db


@click.group("audit", help="The append-only audit trail.")
def audit_cli() -> None:
    pass


@audit_cli.command("verify")
@click.option(
    "--head",
    "expected_head",
    default=None,
    metavar="HASH",
    help="A head hash printed by an earlier verify and kept outside the database: also check that "
    "its event is still in the chain, so removing or rewriting the latest events is detected.",
)
@with_appcontext
def audit_verify(expected_head: str | None) -> None:
    """Exit 0 and print OK when every event matches its hash and links to the one before; else exit 1."""
    report = verify_chain(expected_head=expected_head)
    if report.ok:
        head = f" Head: {report.head_hash} (event {report.head_id})." if report.head_id is not None else ""
        click.echo(f"OK: {report.checked} event(s), chain intact.{head}")
        return
    where = f" at event {report.broken_at}" if report.broken_at is not None else ""
    before = "before it " if report.broken_at is not None else ""
    click.echo(f"BROKEN{where}: {report.reason}. {report.checked} event(s) {before}are intact.", err=True)
    raise SystemExit(1)


@audit_cli.command("show")
@click.option("--subject", default=None, help="TYPE:ID, e.g. portfolio:12 or lti_user:3.")
@click.option("--action", default=None, help="Only events whose action starts with this, e.g. portfolio.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="The most recent N events, shown oldest first.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def audit_show(subject: str | None, action: str | None, limit: int, as_json: bool) -> None:
    query = select(AuditEvent)
    if subject:
        kind, sep, ident = subject.partition(":")
        if not sep or not kind or not ident:
            raise click.BadParameter("use TYPE:ID, e.g. portfolio:12", param_hint="--subject")
        query = query.where(AuditEvent.subject_type == kind, AuditEvent.subject_id == ident)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    events = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))[::-1]
    if not events:
        click.echo("No events.")
    for e in events:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor_label,
                        "actor_id": e.actor_id,
                        "role": e.role,
                        "action": e.action,
                        "subject": f"{e.subject_type}:{e.subject_id}",
                        "before": e.before,
                        "after": e.after,
                        "rationale": e.rationale,
                        "hash": e.hash,
                    },
                    sort_keys=True,
                )
            )
            continue
        click.echo(
            f"#{e.id} {e.at:%Y-%m-%d %H:%M:%S} {e.action} {e.subject_type}:{e.subject_id} "
            f"by {e.actor_label} ({e.role or '-'})"
        )
        if e.before is not None or e.after is not None:
            click.echo(f"    {json.dumps(e.before, sort_keys=True)} -> {json.dumps(e.after, sort_keys=True)}")
        if e.rationale:
            click.echo(f"    why: {e.rationale}")

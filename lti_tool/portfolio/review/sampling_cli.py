"""`lti-tool sampling`: the step-1 sampling policy per certification."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit.actor import cli_actor_label
from lti_tool.portfolio.review.sampling import Policy, policy_for, set_policy
from lti_tool.portfolio.review.verification_models import SamplingPolicy
from lti_tool.store.db import db


def _describe(code: str, policy: Policy) -> str:
    return (
        f"{code}: every decision of an assessor with fewer than {policy.new_assessor_threshold} verified "
        f"decisions; otherwise {policy.share:.0%} at random; and any assessor, unit or evidence kind not "
        f"sampled in its last {policy.coverage_decisions} decisions or {policy.coverage_days} days."
    )


@click.group("sampling", help="How decisions are sampled for internal verification (step 1).")
def sampling_cli() -> None:
    pass


@sampling_cli.command("set")
@click.option("--certification", required=True, help="Certification code, e.g. CMIACR (all its versions).")
@click.option(
    "--new-assessor-threshold",
    type=click.IntRange(0, 10000),
    default=None,
    help="Sample every decision of an assessor with fewer verified decisions than this.",
)
@click.option("--share", type=click.FloatRange(0.0, 1.0), default=None, help="Share of other decisions, 0..1.")
@click.option(
    "--coverage-decisions",
    type=click.IntRange(1, 10000),
    default=None,
    help="Force sampling of an assessor/unit/evidence kind not sampled in this many decisions.",
)
@click.option("--coverage-days", type=click.IntRange(1, 3650), default=None, help="... or in this many days.")
@with_appcontext
def sampling_set(
    certification: str,
    new_assessor_threshold: int | None,
    share: float | None,
    coverage_decisions: int | None,
    coverage_days: int | None,
) -> None:
    _, after = set_policy(
        certification,
        {
            "new_assessor_threshold": new_assessor_threshold,
            "share": share,
            "coverage_decisions": coverage_decisions,
            "coverage_days": coverage_days,
        },
        actor_label=cli_actor_label(),
        role="operator",
    )
    db.session.commit()
    click.echo("Sampling policy set. " + _describe(certification, after))


@sampling_cli.command("show")
@with_appcontext
def sampling_show() -> None:
    rows = list(db.session.scalars(select(SamplingPolicy).order_by(SamplingPolicy.certification_code)))
    click.echo(_describe("Default (certifications without their own policy)", Policy()))
    for row in rows:
        click.echo(_describe(row.certification_code, policy_for(row.certification_code)))

"""`lti-tool credential ...`: issue, revoke and verify award credentials; manage the issuer key."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.audit.actor import cli_actor_label
from lti_tool.credentials import issuer, revocation, vc_jwt
from lti_tool.credentials.data_integrity import ProofError
from lti_tool.credentials.issuance import award_by_number, credential_for, ensure_embedded_proof, issue_for_award
from lti_tool.credentials.models import IssuedCredential
from lti_tool.credentials.verify import (
    Verification,
    fetch_json,
    fetch_jwks,
    http_status_fetcher,
    issuer_key_resolver,
    local_key_resolver,
    local_status_fetcher,
    verify_credential_json,
    verify_vc_jwt,
)
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")


def _award(number: str) -> Award:
    award = award_by_number(number)
    if award is None:
        raise click.ClickException(f"No award with certificate number {number!r}.")
    return award


def _read_token(source: str) -> str:
    if source == "-":
        text = sys.stdin.read()
    elif COMPACT_JWS.fullmatch(source.strip()):
        text = source
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(
                f"Cannot read {source}: it is neither a readable file nor a compact JWT ({exc.__class__.__name__})."
            ) from exc
    return text.strip()


def _verify_json(text: str, jwks_url: str | None, timeout: float) -> Verification:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"This is neither a compact JWT nor JSON ({exc}).") from exc
    if not isinstance(document, dict) or "proof" not in document:
        raise click.ClickException(
            "This credential JSON carries no embedded proof (credentials issued before embedded proofs existed). "
            "Verify the signed .jwt file (or its text) instead."
        )
    claimed = vc_jwt.issuer_of(document)
    status = local_status_fetcher(http_status_fetcher(timeout))
    if claimed == issuer.issuer_id() and not jwks_url:
        return verify_credential_json(document, local_key_resolver, issuer.issuer_jwks(), fetch_status_list=status)
    if not jwks_url and claimed:
        # The status list is a VC-JWT: its keys are where the issuer's profile says (jwks_uri).
        try:
            profile = fetch_json(claimed, timeout)
        except Exception:  # network, HTTP or JSON errors: the status check will say it could not be done
            profile = None
        jwks_url = profile.get("jwks_uri") if isinstance(profile, dict) else None
    jwks = _jwks(jwks_url, timeout) if isinstance(jwks_url, str) and jwks_url else {"keys": []}
    resolver = issuer_key_resolver(claimed, lambda url: fetch_json(url, timeout))
    return verify_credential_json(document, resolver, jwks, fetch_status_list=status)


def _jwks(url: str, timeout: float) -> dict[str, object]:
    try:
        return fetch_jwks(url, timeout)
    except Exception as exc:  # network, HTTP or JSON errors all mean: no keys to check against
        raise click.ClickException(f"Could not fetch the JWKS from {url}: {exc}") from exc


@click.group("credential", help="Signed award credentials (Open Badges 3.0): issue, revoke, verify.")
def credential_cli() -> None:
    pass


@credential_cli.command("issue", help="Issue the signed credential of an award (does nothing if it exists).")
@click.argument("number")
@with_appcontext
def issue(number: str) -> None:
    award = _award(number)
    try:
        issued = issue_for_award(award)
    except UserError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"Credential {issued.credential_id} for certificate {award.certificate_number}.")


@credential_cli.command("revoke", help="Revoke an award: final, audited, shown to everyone who verifies it.")
@click.argument("number")
@click.option("--reason", required=True, help="Why (shown publicly on the verification page).")
@with_appcontext
def revoke(number: str, reason: str) -> None:
    award = _award(number)
    try:
        revocation.revoke(award, reason, actor_label=cli_actor_label())
    except UserError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"Revoked certificate {award.certificate_number}: {award.revocation_reason}")


@credential_cli.command(
    "verify",
    help="Verify a signed credential: a .jwt file (VC-JWT) or a .json file with an embedded Data Integrity "
    "proof, their text, or - for stdin. Exits non-zero unless every check passes.",
)
@click.argument("source")
@click.option(
    "--jwks",
    "jwks_url",
    default=None,
    help="Issuer JWKS URL to check a VC-JWT (and a status list) against (default: this tool's own issuer keys). "
    "An embedded proof's key is found from its verification method and the issuer's profile.",
)
@with_appcontext
def verify(source: str, jwks_url: str | None) -> None:
    token = _read_token(source)
    timeout = current_app.config["HTTP_TIMEOUT"]
    if token.startswith("{"):
        result = _verify_json(token, jwks_url, timeout)
    else:
        jwks = _jwks(jwks_url, timeout) if jwks_url else issuer.issuer_jwks()
        result = verify_vc_jwt(token, jwks, fetch_status_list=local_status_fetcher(http_status_fetcher(timeout)))
    credential = result.credential or {}
    if credential:
        subject = credential.get("credentialSubject") or {}
        click.echo(f"Credential: {credential.get('name', '(no name)')}")
        if isinstance(subject, dict) and subject.get("licenseNumber"):
            click.echo(f"Certificate number: {subject['licenseNumber']}")
        click.echo(f"Valid from: {credential.get('validFrom')}")
    for check in result.checks:
        click.echo(f"  ok: {check}")
    if not result.valid:
        raise click.ClickException("NOT VALID\n" + "\n".join(f"  - {p}" for p in result.problems))
    click.echo("VALID")


@credential_cli.command("keys", help="List the issuer's signing keys (all stay published, for life).")
@with_appcontext
def keys() -> None:
    found = issuer.issuer_key_store().active_keys()
    if not found:
        click.echo("No issuer key yet: one is created with the first credential.")
    for i, key in enumerate(found):
        click.echo(f"{issuer.key_url(key.kid)}\tcreated {key.created}\t{'signing' if i == len(found) - 1 else ''}")
    ed_keys = issuer.ed25519_keys()
    for i, ed_key in enumerate(ed_keys):
        signing = "signing embedded proofs" if i == len(ed_keys) - 1 else "embedded proofs"
        click.echo(f"{issuer.verification_method_url(ed_key)}\tcreated {ed_key.created}\t{signing}")


@credential_cli.command(
    "rotate-key",
    help="Sign new credentials with new issuer keys (RSA for the VC-JWT, Ed25519 for the embedded proof); "
    "old keys stay published.",
)
@with_appcontext
def rotate_key() -> None:
    key = issuer.issuer_key_store().rotate()
    click.echo(f"New issuer signing key {issuer.key_url(key.kid)}")
    ed_key = issuer.rotate_ed25519_key()
    click.echo(f"New embedded-proof key {issuer.verification_method_url(ed_key)}")


@credential_cli.command(
    "add-proofs",
    help="Give credentials issued before embedded proofs existed their Data Integrity form (wallets need it). "
    "Their signed JWT is unchanged. Revoked awards are left alone.",
)
@with_appcontext
def add_proofs() -> None:
    added = refused = 0
    rows = db.session.scalars(select(IssuedCredential).where(IssuedCredential.proofed.is_(None)))
    for row in list(rows):
        if row.award.revoked_at is not None:
            continue
        try:
            ensure_embedded_proof(row)
        except ProofError as exc:
            refused += 1
            click.echo(f"{row.award.certificate_number}: not signed ({exc})", err=True)
            continue
        added += 1
    db.session.commit()
    click.echo(f"Embedded proofs added: {added}; refused: {refused}.")


@credential_cli.command("show", help="Print the stored credential JSON of an award.")
@click.argument("number")
@with_appcontext
def show(number: str) -> None:
    issued = credential_for(_award(number))
    if issued is None:
        raise click.ClickException("No credential has been issued for this award yet (see 'credential issue').")
    click.echo(json.dumps(issued.credential, indent=2, ensure_ascii=False))

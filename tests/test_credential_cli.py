"""`lti-tool credential ...`: revoke and verify from the command line; failures exit non-zero with the reason."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.credentials import issuer
from lti_tool.credentials.cli import credential_cli
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.models import IssuedCredential
from lti_tool.store.db import db
from tests.conftest import table_count
from tests.credential_helpers import award_through_workflow
from tests.lti_helpers import new_rsa_key

NUMBER = "CMIACR-2025-000123"


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(credential_cli, list(args), **kwargs)

    return invoke


def test_verify_a_jwt_file(run, tmp_path):
    issued = credential_for(award_through_workflow(number=NUMBER))
    path = tmp_path / "certificate.jwt"
    path.write_text(issued.jwt + "\n")
    result = run("verify", str(path))
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output and f"Certificate number: {NUMBER}" in result.output
    assert "ok: Signature: verified" in result.output


def test_verify_jwt_text_and_stdin(run):
    issued = credential_for(award_through_workflow(number=NUMBER))
    assert run("verify", issued.jwt).exit_code == 0
    assert run("verify", "-", input=issued.jwt).exit_code == 0


def test_verify_tampered_fails_with_reason(run):
    issued = credential_for(award_through_workflow(number=NUMBER))
    header, payload, signature = issued.jwt.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    result = run("verify", tampered)
    assert result.exit_code != 0
    assert "NOT VALID" in result.output


def test_verify_revoked_fails(run):
    issued = credential_for(award_through_workflow(number=NUMBER))
    assert run("revoke", NUMBER, "--reason", "Evidence found to be plagiarised").exit_code == 0
    result = run("verify", issued.jwt)
    assert result.exit_code != 0 and "The issuer has revoked this credential." in result.output


def test_verify_against_a_fetched_jwks(run, jwks_server):
    issued = credential_for(award_through_workflow(number=NUMBER))
    jwks_server.keys[:] = issuer.issuer_jwks()["keys"]
    result = run("verify", issued.jwt, "--jwks", jwks_server.url)
    assert result.exit_code == 0, result.output
    # a JWKS that does not hold the issuer's key: the signature cannot be checked
    _, other = new_rsa_key()
    jwks_server.keys[:] = [other]
    result = run("verify", issued.jwt, "--jwks", jwks_server.url)
    assert result.exit_code != 0 and "not among the issuer's published keys" in result.output
    jwks_server.fail = True
    result = run("verify", issued.jwt, "--jwks", jwks_server.url)
    assert result.exit_code != 0 and "Could not fetch the JWKS" in result.output


def test_verify_refuses_unsigned_json_and_missing_files(run, tmp_path):
    path = tmp_path / "credential.json"
    path.write_text('{"id": "urn:uuid:x"}')
    result = run("verify", str(path))
    assert result.exit_code != 0 and "carries no embedded proof" in result.output
    result = run("verify", str(tmp_path / "missing.jwt"))
    assert result.exit_code != 0 and "neither a readable file nor a compact JWT" in result.output
    assert "Traceback" not in result.output


def test_revoke_is_audited_and_needs_a_reason(run):
    award = award_through_workflow(number=NUMBER)
    result = run("revoke", NUMBER)
    assert result.exit_code != 0 and "--reason" in result.output
    result = run("revoke", NUMBER, "--reason", "too short")
    assert result.exit_code != 0 and "at least 10 characters" in result.output
    result = run("revoke", NUMBER, "--reason", "Awarded in error by the centre")
    assert result.exit_code == 0, result.output
    db.session.refresh(award)
    assert award.revoked_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "award.revoked"))
    assert event.actor_label.startswith("cli:") and event.rationale == "Awarded in error by the centre"
    again = run("revoke", NUMBER, "--reason", "Awarded in error by the centre")
    assert again.exit_code != 0 and "already revoked" in again.output


def test_revoke_unknown_number(run):
    result = run("revoke", "NOPE", "--reason", "Awarded in error by the centre")
    assert result.exit_code != 0 and "No award with certificate number 'NOPE'" in result.output


def test_issue_is_idempotent_and_show_prints_the_credential(run):
    award = award_through_workflow(number=NUMBER)
    db.session.delete(credential_for(award))
    db.session.commit()
    assert "No credential has been issued" in run("show", NUMBER).output
    assert run("issue", NUMBER).exit_code == 0
    assert run("issue", NUMBER).exit_code == 0
    assert table_count(IssuedCredential) == 1
    shown = run("show", NUMBER)
    assert shown.exit_code == 0 and credential_for(award).credential_id in shown.output


def test_rotated_issuer_key_signs_new_credentials_and_old_ones_still_verify(run):
    old = credential_for(award_through_workflow(number="OLD-1"))
    rotated = run("rotate-key")
    assert rotated.exit_code == 0
    new = credential_for(award_through_workflow(number="NEW-1"))
    assert jwt.get_unverified_header(new.jwt)["kid"] != jwt.get_unverified_header(old.jwt)["kid"]
    assert run("verify", old.jwt).exit_code == 0 and run("verify", new.jwt).exit_code == 0
    listed = run("keys").output
    assert old.kid in listed and new.kid in listed


def test_cli_is_registered_on_lti_tool():
    from lti_tool.cli import cli

    assert "credential" in cli.commands
    assert {"issue", "revoke", "verify", "keys", "rotate-key", "show"} <= set(cli.commands["credential"].commands)

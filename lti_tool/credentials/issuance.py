"""Issuing the signed credential of an award: once, in the same transaction as the award.

The award service creates the Award row, then moves the portfolio to 'awarded'; the workflow listener here
issues the credential inside that transaction, so an award and its credential commit (or roll back) together.
`issue_for_award` may also be called directly (or by `lti-tool credential issue`); it is idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import trail as audit
from lti_tool.credentials import content, data_integrity, issuer, status_list, vc_jwt
from lti_tool.credentials.models import IssuedCredential
from lti_tool.portfolio import workflow
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError

log = logging.getLogger(__name__)


def award_by_number(certificate_number: str) -> Award | None:
    number = (certificate_number or "").strip()
    if not number or len(number) > 40:
        return None
    return db.session.scalar(select(Award).where(Award.certificate_number == number))


def get_award(certificate_number: str) -> Award:
    award = award_by_number(certificate_number)
    if award is None:
        raise NotFound(
            gettext("No certificate with the number “%(number)s” was issued here.", number=certificate_number),
            hint="Check the number printed on the certificate, including letters, digits and dashes.",
        )
    return award


def credential_for(award: Award) -> IssuedCredential | None:
    return db.session.scalar(select(IssuedCredential).where(IssuedCredential.award_id == award.id))


def issue_for_award(award: Award) -> IssuedCredential:
    """The award's credential, signed and stored; the existing one if it was issued before. Caller commits."""
    existing = credential_for(award)
    if existing is not None:
        return existing
    if award.revoked_at is not None:
        raise UserError("This award has been revoked; no credential is issued for it.", status=409)
    name = content.learner_name(award.portfolio.user)
    row = _insert_with_random_slot(award, name)
    credential = content.award_credential(
        award,
        credential_id=row.credential_id,
        subject_id=row.subject_id,
        name=name,
        status=status_list.entry(row.status_list, row.status_index),
    )
    key = issuer.signing_key()
    row.kid = issuer.key_url(key.kid)
    row.credential = credential
    row.jwt = vc_jwt.sign(credential, key, row.kid)
    row.proofed = _with_proof(credential)
    audit.record(
        "credential.issued",
        subject=award,
        after={
            "certificate_number": award.certificate_number,
            "credential_id": row.credential_id,
            "kid": row.kid,
            "verification_method": row.proofed["proof"]["verificationMethod"],
            "status_list": row.status_list,
            "status_index": row.status_index,
        },
    )
    db.session.flush()
    return row


def _with_proof(credential: dict[str, Any]) -> dict[str, Any]:
    key = issuer.ed25519_signing_key()
    created = vc_jwt.format_datetime(dt.datetime.now(dt.UTC))
    return data_integrity.add_proof(credential, key.private_key, issuer.verification_method_url(key), created)


def ensure_embedded_proof(row: IssuedCredential) -> bool:
    """Give a credential issued before embedded proofs existed its Data Integrity form (caller commits).

    Its stored JSON and JWT stay as issued. The proofed copy lists the contexts new credentials list (the
    old ones left the credentialSchema type undefined, which strict JSON-LD refuses and so cannot be signed);
    every other field is the same. True if a proof was added now."""
    if row.proofed is not None:
        return False
    upgraded = dict(row.credential)
    listed = upgraded.get("@context")
    if isinstance(listed, list) and listed == content.CONTEXT[: len(listed)]:
        upgraded["@context"] = list(content.CONTEXT)
    row.proofed = _with_proof(upgraded)
    audit.record(
        "credential.proof_added",
        subject=row.award,
        after={
            "certificate_number": row.award.certificate_number,
            "credential_id": row.credential_id,
            "verification_method": row.proofed["proof"]["verificationMethod"],
        },
    )
    db.session.flush()
    return True


def _insert_with_random_slot(award: Award, name: str) -> IssuedCredential:
    """The credential's row at a random free status slot. Two issuers drawing the same slot at once: the unique
    (list, index) constraint refuses the second, whose savepoint rolls back and which draws again."""
    lost: list[tuple[int, int]] = []
    for _ in range(status_list.RANDOM_TRIES):
        slot = status_list.random_slot(avoid=lost)
        row = IssuedCredential(
            award_id=award.id,
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            subject_id=f"urn:uuid:{uuid.uuid4()}",
            learner_name=name,
            status_list=slot[0],
            status_index=slot[1],
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            if credential_for(award) is not None:
                raise  # another process issued this award's credential meanwhile: not a slot collision
            lost.append(slot)
            continue
        return row
    raise status_list.StatusListError("no free status slot could be claimed")


def on_portfolio_transition(portfolio: Any, from_state: str, to_state: str) -> None:
    """Transition listener (registered by create_app): an award gets its signed credential at once."""
    if to_state != workflow.AWARDED:
        return
    award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
    if award is None:
        # The award service must create the Award first; without it there is nothing to sign yet.
        log.warning("portfolio %s awarded without an Award row: no credential issued", portfolio.id)
        return
    issue_for_award(award)

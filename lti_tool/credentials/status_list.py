"""Revocation status as a W3C Bitstring Status List (the status method Open Badges 3.0 names).

Each credential gets a fixed slot (list number, bit index); the bit is 1 once the award is revoked. New
credentials get a random free index (the specification asks for random indexes: sequential ones reveal the
order of issue); credentials issued before that keep the sequential slot their row id gave them.

The list is built from the database on request and served as a BitstringStatusListCredential signed
as a VC-JWT with the issuer key, so nothing lives in process memory and every process serves the same list.
A verifier that asks for JSON (wallets checking Data Integrity credentials fetch the list as a document and
verify its embedded proof) gets the same credential with an eddsa-rdfc-2022 proof instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import secrets
import zlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from lti_tool.credentials import data_integrity, issuer, vc_jwt
from lti_tool.credentials.models import IssuedCredential
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db

# The specification's minimum length: each credential hides among 131,072 slots (herd privacy).
LIST_SIZE = 131_072
# A list takes new credentials until half its slots are used, so a random pick is free at least half the time.
LIST_FILL = LIST_SIZE // 2
RANDOM_TRIES = 64
# A status list credential is valid for a day after it was produced, so an old copy cannot be replayed forever.
VALIDITY = dt.timedelta(days=1)
# Refuse to inflate more than this from a fetched list (a gzip bomb would otherwise exhaust memory).
MAX_LIST_BYTES = 16 * 1024 * 1024


class StatusListError(Exception):
    pass


def slot_for(row_id: int) -> tuple[int, int]:
    """(list number starting at 1, bit index) for the credential stored in row `row_id`: how credentials issued
    before random indexes got their slot (they keep it)."""
    return (row_id - 1) // LIST_SIZE + 1, (row_id - 1) % LIST_SIZE


def open_list() -> int:
    """The list new credentials go into: the newest one, until it holds LIST_FILL credentials."""
    newest = db.session.scalar(select(func.max(IssuedCredential.status_list))) or 1
    newest = max(newest, 1)
    used = db.session.scalar(select(func.count()).where(IssuedCredential.status_list == newest)) or 0
    return newest + 1 if used >= LIST_FILL else newest


def random_slot(avoid: Iterable[tuple[int, int]] = ()) -> tuple[int, int]:
    """A random free (list number, index) in the open list. A pick already in use (or in `avoid`: slots that
    lost a race with another issuer) is drawn again."""
    list_no = open_list()
    avoided = set(avoid)
    for _ in range(RANDOM_TRIES):
        index = secrets.randbelow(LIST_SIZE)
        if (list_no, index) in avoided:
            continue
        taken = db.session.scalar(
            select(IssuedCredential.id).where(
                IssuedCredential.status_list == list_no, IssuedCredential.status_index == index
            )
        )
        if taken is None:
            return list_no, index
    raise StatusListError(f"no free status slot found in list {list_no} after {RANDOM_TRIES} random picks")


def entry(list_no: int, index: int) -> dict[str, Any]:
    """The credentialStatus a credential carries."""
    url = issuer.status_list_url(list_no)
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def encode(set_bits: Iterable[int], size: int = LIST_SIZE) -> str:
    """Multibase base64url (prefix 'u', no padding) of the GZIP-compressed bitstring; bit 0 is the leftmost."""
    data = bytearray(size // 8)
    for index in set_bits:
        data[index // 8] |= 0x80 >> (index % 8)
    packed = gzip.compress(bytes(data), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode(encoded: object) -> bytes:
    """The list's bytes from its multibase form; anything else (a missing or non-string value) is refused."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("the encoded list is not multibase base64url (it must start with 'u')")
    raw = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(packed, MAX_LIST_BYTES)
    except (ValueError, zlib.error) as exc:
        raise StatusListError(f"the encoded list cannot be decoded ({exc})") from exc
    if inflater.unconsumed_tail:
        raise StatusListError("the status list is larger than this verifier accepts")
    if len(data) * 8 < LIST_SIZE:
        raise StatusListError(f"the status list is shorter than the required {LIST_SIZE} entries")
    return data


def bit(data: bytes, index: int) -> int:
    if not 0 <= index < len(data) * 8:
        raise StatusListError(f"status index {index} is outside the list")
    return (data[index // 8] >> (7 - index % 8)) & 1


def revoked_indexes(list_no: int) -> list[int]:
    query = (
        select(IssuedCredential.status_index)
        .join(Award, Award.id == IssuedCredential.award_id)
        .where(IssuedCredential.status_list == list_no, Award.revoked_at.is_not(None))
    )
    return list(db.session.scalars(query))


def status_list_credential(list_no: int, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    url = issuer.status_list_url(list_no)
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.issuer_id(),
        "validFrom": vc_jwt.format_datetime(now),
        "validUntil": vc_jwt.format_datetime(now + VALIDITY),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode(revoked_indexes(list_no)),
        },
    }


def signed_status_list(list_no: int) -> str:
    key = issuer.signing_key()
    return vc_jwt.sign(status_list_credential(list_no), key, issuer.key_url(key.kid))


def proofed_status_list(list_no: int) -> dict[str, Any]:
    """The status list credential with an embedded Data Integrity proof (issuer's Ed25519 key)."""
    now = dt.datetime.now(dt.UTC)
    key = issuer.ed25519_signing_key()
    return data_integrity.add_proof(
        status_list_credential(list_no, now),
        key.private_key,
        issuer.verification_method_url(key),
        created=vc_jwt.format_datetime(now),
    )

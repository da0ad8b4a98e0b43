"""Verifying an Open Badges 3.0 credential in VC-JWT form, as the OB 3.0 'Verification' section lays out:

1. the signature, against a key of the issuer's JWKS named by the header's kid (RS256 only);
2. the claims against the credential: iss = issuer.id, sub = credentialSubject.id, jti = id,
   nbf = validFrom, exp = validUntil;
3. the credential's shape (types, a subject with id or identifier);
4. the dates: not before validFrom, not after validUntil;
5. the status: a BitstringStatusListEntry is looked up in the issuer's signed status list.

The same credential as JSON with an embedded Data Integrity proof (eddsa-rdfc-2022) goes through
`verify_credential_json`: the proof instead of step 1 (the verification method must be an assertionMethod
of the credential's issuer), no JWT claims, then steps 3 to 5 alike.

`verify_vc_jwt` and `verify_credential_json` need no Flask app: give them the keys and a function that returns
a status list credential (compact JWT) for a URL. `verify_here` and `verify_json_here` wire in this tool's own
keys and status lists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from lti_tool.credentials import data_integrity, issuer, status_list, vc_jwt

StatusFetcher = Callable[[str], str]
CREDENTIAL_TYPES = {"OpenBadgeCredential", "AchievementCredential"}
MAX_FETCH_BYTES = 2 * 1024 * 1024


@dataclass
class Verification:
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    kid: str | None = None
    revoked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": self.problems,
            "checks": self.checks,
            "key": self.kid,
            "revoked": self.revoked,
        }


def _types(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {t for t in value if isinstance(t, str)} if isinstance(value, list) else set()


def _when(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _check_shape(credential: dict[str, Any], result: Verification) -> None:
    if not vc_jwt.issuer_of(credential):
        result.problems.append("The credential names no issuer.")
    subject = vc_jwt.subject_of(credential)
    if not subject.get("id") and not subject.get("identifier"):
        result.problems.append("The credential subject has neither an id nor an identifier.")
    if not credential.get("id"):
        result.problems.append("The credential has no id.")
    types = _types(credential.get("type"))
    if "VerifiableCredential" not in types or not types & CREDENTIAL_TYPES:
        result.problems.append("The credential is not typed as a VerifiableCredential and an OpenBadgeCredential.")


def _check_claims(payload: dict[str, Any], credential: dict[str, Any], result: Verification) -> None:
    problems = result.problems
    issuer_id = vc_jwt.issuer_of(credential)
    if not issuer_id:
        problems.append("The credential names no issuer.")
    elif payload.get("iss") != issuer_id:
        problems.append(f"The JWT issuer (iss {payload.get('iss')!r}) is not the credential's issuer ({issuer_id}).")
    subject = vc_jwt.subject_of(credential)
    subject_id = subject.get("id")
    if not subject_id and not subject.get("identifier"):
        problems.append("The credential subject has neither an id nor an identifier.")
    if (subject_id or "sub" in payload) and payload.get("sub") != subject_id:
        problems.append(f"The JWT subject (sub {payload.get('sub')!r}) is not the credential subject ({subject_id}).")
    if not credential.get("id"):
        problems.append("The credential has no id.")
    elif payload.get("jti") != credential["id"]:
        problems.append(f"The JWT id (jti {payload.get('jti')!r}) is not the credential id ({credential['id']}).")
    types = _types(credential.get("type"))
    if "VerifiableCredential" not in types or not types & CREDENTIAL_TYPES:
        problems.append("The credential is not typed as a VerifiableCredential and an OpenBadgeCredential.")


def _dates(
    payload: dict[str, Any], credential: dict[str, Any], now: dt.datetime, leeway: int, result: Verification
) -> None:
    problems = result.problems
    already = len(problems)
    try:
        valid_from = vc_jwt.parse_datetime(credential.get("validFrom") or credential.get("issuanceDate"))
    except ValueError:
        problems.append("The credential has no valid validFrom date.")
        valid_from = None
    if valid_from is not None:
        if not isinstance(payload.get("nbf"), int | float):
            problems.append("The JWT has no nbf claim (it must equal validFrom).")
        elif int(payload["nbf"]) != int(valid_from.timestamp()):
            problems.append("The JWT nbf claim does not equal the credential's validFrom.")
        if now + dt.timedelta(seconds=leeway) < valid_from:
            problems.append(f"The credential is not valid before {_when(valid_from)}.")
    raw_until = credential.get("validUntil") or credential.get("expirationDate")
    valid_until = None
    if raw_until is not None:
        try:
            valid_until = vc_jwt.parse_datetime(raw_until)
        except ValueError:
            problems.append("The credential's validUntil is not a date-time.")
        if valid_until is not None and "exp" not in payload:
            problems.append("The credential has a validUntil but the JWT has no exp claim.")
    if "exp" in payload:
        try:
            exp = dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC)
        except (TypeError, ValueError, OverflowError):
            problems.append("The JWT exp claim is not a date.")
            exp = None
        if exp is not None and valid_until is not None and int(exp.timestamp()) != int(valid_until.timestamp()):
            problems.append("The JWT exp claim does not equal the credential's validUntil.")
        valid_until = valid_until or exp
    if valid_until is not None and now - dt.timedelta(seconds=leeway) > valid_until:
        problems.append(f"The credential expired on {_when(valid_until)}.")
    elif len(problems) == already:
        result.checks.append(
            "Dates: in force" + (f" until {_when(valid_until)}" if valid_until else " (no end date: awarded for life)")
        )


def _status_bit(
    entry: dict[str, Any],
    issuer_id: str | None,
    jwks: dict[str, Any],
    fetch: StatusFetcher,
    now: dt.datetime,
    leeway: int,
) -> int:
    """1 if the status list says the credential is revoked, 0 if not; StatusListError if it cannot tell."""
    url = entry.get("statusListCredential")
    try:
        index = int(entry["statusListIndex"])
    except (KeyError, TypeError, ValueError) as exc:
        raise status_list.StatusListError("the credential's statusListIndex is not a number") from exc
    if not isinstance(url, str) or not url:
        raise status_list.StatusListError("the credential names no status list")
    try:
        token = fetch(url)
    except Exception as exc:  # network, HTTP or resolver errors: the status is unknown
        raise status_list.StatusListError(f"the status list {url} could not be fetched ({exc})") from exc
    try:
        _, payload = vc_jwt.decode_verified(token, jwks)
    except vc_jwt.JwtError as exc:
        raise status_list.StatusListError(f"the status list is not signed by the issuer: {exc}") from exc
    listing = vc_jwt.credential_from_payload(payload)
    if "BitstringStatusListCredential" not in _types(listing.get("type")):
        raise status_list.StatusListError("the status list is not a BitstringStatusListCredential")
    if listing.get("id") != url or vc_jwt.issuer_of(listing) != issuer_id or payload.get("iss") != issuer_id:
        raise status_list.StatusListError("the status list is not the one the credential names, from its issuer")
    if "exp" in payload:
        if not isinstance(payload["exp"], int | float):
            raise status_list.StatusListError("the status list's exp claim is not a date")
        if now - dt.timedelta(seconds=leeway) > dt.datetime.fromtimestamp(payload["exp"], dt.UTC):
            raise status_list.StatusListError("the status list served has expired")
    subject = vc_jwt.subject_of(listing)
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise status_list.StatusListError("the status list is for another purpose")
    return status_list.bit(status_list.decode(subject.get("encodedList")), index)


def _check_status(
    credential: dict[str, Any],
    jwks: dict[str, Any],
    fetch: StatusFetcher | None,
    now: dt.datetime,
    leeway: int,
    result: Verification,
) -> None:
    entries = credential.get("credentialStatus")
    if entries is None:
        result.checks.append("Status: the credential has no status list (it cannot be revoked)")
        return
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            result.problems.append(
                "The credential's status method is not one this verifier knows (BitstringStatusListEntry)."
            )
            continue
        purpose = entry.get("statusPurpose")
        if fetch is None:
            result.problems.append("The revocation status could not be checked (no way to fetch the status list).")
            continue
        try:
            set_bit = _status_bit(entry, vc_jwt.issuer_of(credential), jwks, fetch, now, leeway)
        except status_list.StatusListError as exc:
            result.problems.append(f"The revocation status could not be checked: {exc}.")
            continue
        if set_bit and purpose == "revocation":
            result.revoked = True
            result.problems.append("The issuer has revoked this credential.")
        elif set_bit and purpose == "suspension":
            result.problems.append("The issuer has suspended this credential.")
        else:
            result.checks.append(
                f"Status: not {'suspended' if purpose == 'suspension' else 'revoked'} "
                "(checked in the issuer's signed status list)"
            )


def verify_vc_jwt(
    token: str,
    jwks: dict[str, Any],
    *,
    fetch_status_list: StatusFetcher | None = None,
    now: dt.datetime | None = None,
    leeway: int = 60,
) -> Verification:
    """Every check, with a reason for each failure. `valid` only when nothing failed."""
    now = now or dt.datetime.now(dt.UTC)
    result = Verification()
    try:
        header, payload = vc_jwt.decode_verified(token, jwks)
    except vc_jwt.JwtError as exc:
        result.problems.append(str(exc))
        return result
    result.kid = header.get("kid")
    result.checks.append(f"Signature: verified with the issuer's key {result.kid}")
    if header.get("typ", "JWT") != "JWT":
        result.problems.append("The JWT header typ must be 'JWT' when present.")
    credential = vc_jwt.credential_from_payload(payload)
    result.credential = credential
    _check_claims(payload, credential, result)
    if not result.problems:
        result.checks.append("Claims: iss, sub, jti and nbf match the credential")
    _dates(payload, credential, now, leeway, result)
    _check_status(credential, jwks, fetch_status_list, now, leeway, result)
    result.valid = not result.problems
    return result


def verify_credential_json(
    document: Any,
    resolve_key: data_integrity.KeyResolver,
    jwks: dict[str, Any],
    *,
    fetch_status_list: StatusFetcher | None = None,
    now: dt.datetime | None = None,
    leeway: int = 60,
) -> Verification:
    """The credential as JSON with its embedded eddsa-rdfc-2022 proof. `resolve_key` gives the raw Ed25519 key
    of a verification method, and must refuse one that the credential's issuer does not control (see
    `issuer_key_resolver`); `jwks` checks the signed status list."""
    now = now or dt.datetime.now(dt.UTC)
    result = Verification()
    if not isinstance(document, dict):
        result.problems.append("This is not a credential (a JSON object).")
        return result
    credential = {k: v for k, v in document.items() if k != "proof"}
    result.credential = credential
    try:
        method = data_integrity.verify_proof(document, resolve_key)
    except data_integrity.ProofError as exc:
        result.problems.append(f"Embedded proof: {str(exc)[0].upper()}{str(exc)[1:]}.")
        return result
    result.kid = method
    result.checks.append(f"Embedded proof ({data_integrity.CRYPTOSUITE}): verified with the issuer's key {method}")
    _check_shape(credential, result)
    try:
        claims = vc_jwt.claims_for(credential)
    except (KeyError, TypeError, ValueError):
        claims = {}
    _dates(claims, credential, now, leeway, result)
    _check_status(credential, jwks, fetch_status_list, now, leeway, result)
    result.valid = not result.problems
    return result


def issuer_key_resolver(issuer_id: str | None, fetch_json: Callable[[str], Any]) -> data_integrity.KeyResolver:
    """Resolves a verification method over HTTP(S): its document must be a Multikey controlled by `issuer_id`,
    and the issuer's profile must list it under assertionMethod (so nobody else's key can sign as the issuer)."""

    def resolve(method: str) -> bytes:
        if not issuer_id:
            raise data_integrity.ProofError("the credential names no issuer to check the key against")
        doc = fetch_json(method.split("#", 1)[0])
        if isinstance(doc, dict) and "#" in method:
            listed = doc.get("assertionMethod") or doc.get("verificationMethod") or []
            doc = next((m for m in listed if isinstance(m, dict) and m.get("id") == method), doc)
        if not isinstance(doc, dict) or doc.get("type") != "Multikey" or doc.get("id") != method:
            raise data_integrity.ProofError(f"{method} is not a Multikey verification method")
        if doc.get("controller") != issuer_id:
            raise data_integrity.ProofError(f"the key {method} is not controlled by the issuer {issuer_id}")
        profile = fetch_json(issuer_id)
        listed = profile.get("assertionMethod") if isinstance(profile, dict) else None
        ids = {m if isinstance(m, str) else m.get("id") for m in listed or [] if isinstance(m, str | dict)}
        if method not in ids:
            raise data_integrity.ProofError(f"the issuer's profile does not list {method} as an assertionMethod")
        return data_integrity.public_key_from_multibase(doc.get("publicKeyMultibase"))

    return resolve


def local_key_resolver(method: str) -> bytes:
    """This tool's own Ed25519 issuer keys (needs an app context)."""
    try:
        return issuer.ed25519_public_key(method)
    except KeyError as exc:
        raise data_integrity.ProofError(f"the key {method} is not one of this issuer's keys") from exc


def _read_limited(resp: requests.Response) -> str:
    body = b""
    for chunk in resp.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_FETCH_BYTES:
            raise ValueError("the response is too large")
    return body.decode("utf-8", errors="replace")


def http_get(url: str, timeout: float = 10, accept: str = "application/json") -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    with requests.get(url, timeout=timeout, headers={"Accept": accept}, stream=True) as resp:
        resp.raise_for_status()
        return _read_limited(resp)


def fetch_json(url: str, timeout: float = 10) -> Any:
    return json.loads(http_get(url, timeout, "application/ld+json, application/json"))


def fetch_jwks(url: str, timeout: float = 10) -> dict[str, Any]:
    data = json.loads(http_get(url, timeout, "application/jwk-set+json, application/json"))
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("the document is not a JWKS (an object with a 'keys' list)")
    return data


def http_status_fetcher(timeout: float = 10) -> StatusFetcher:
    def fetch(url: str) -> str:
        return http_get(url, timeout, "application/vc+jwt, application/jwt").strip()

    return fetch


def local_status_fetcher(fallback: StatusFetcher | None = None) -> StatusFetcher:
    """This tool's own status lists straight from the database (no HTTP to ourselves); other URLs go to
    `fallback`. Needs an app context."""
    prefix = issuer.status_list_url(0)[:-1]

    def fetch(url: str) -> str:
        tail = url[len(prefix) :] if url.startswith(prefix) else ""
        if tail.isdigit() and int(tail) > 0:
            return status_list.signed_status_list(int(tail))
        if fallback is None:
            raise ValueError(f"{url} is not a status list of this tool")
        return fallback(url)

    return fetch


def verify_here(token: str, *, now: dt.datetime | None = None) -> Verification:
    """Verify against this tool's own issuer keys and status lists (the public verification page uses it)."""
    return verify_vc_jwt(token, issuer.issuer_jwks(), fetch_status_list=local_status_fetcher(), now=now)


def verify_json_here(document: Any, *, now: dt.datetime | None = None) -> Verification:
    """The embedded proof against this tool's own Ed25519 keys, and its own status lists."""
    claimed = vc_jwt.issuer_of(document) if isinstance(document, dict) else None

    def resolve(method: str) -> bytes:
        if claimed != issuer.issuer_id():
            raise data_integrity.ProofError(f"the credential's issuer ({claimed}) is not this tool's issuer")
        return local_key_resolver(method)

    return verify_credential_json(
        document, resolve, issuer.issuer_jwks(), fetch_status_list=local_status_fetcher(), now=now
    )

"""VC-JWT as Open Badges 3.0 defines it (spec section 'JSON Web Token Proof Format').

The JWT payload is the credential itself (VCDM 2.0: no `vc` wrapper) plus the registered claims
iss = issuer.id, sub = credentialSubject.id, nbf = validFrom, jti = id, and exp = validUntil only when the
credential has one. The JOSE header holds alg RS256, typ JWT and a `kid` URL that dereferences to the key.
typ stays "JWT": OB 3.0 says it MUST be "JWT" when present; "vc+jwt" belongs to VC-JOSE-COSE, a different
format (its payload rules differ), which OB 3.0 verifiers do not expect. Wallets that want a proof inside the
JSON get the Data Integrity form (data_integrity.py) instead.
PyJWT does the signing and the signature check; this module only maps credential fields to claims.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt

from lti_tool.launch.keys import ToolKey

ALGORITHM = "RS256"
REGISTERED_CLAIMS = ("iss", "sub", "nbf", "jti", "exp")
ALLOWED_HEADERS = {"alg", "kid", "jwk", "typ"}


class JwtError(Exception):
    """A JWT that cannot be trusted, with a reason a person can read."""


def format_datetime(value: dt.datetime) -> str:
    """DateTimeZ with seconds precision: what validFrom/validUntil carry."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("not a date-time string")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("the date-time has no time zone")
    return parsed.astimezone(dt.UTC)


def issuer_of(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    return issuer if isinstance(issuer, str) else (issuer or {}).get("id")


def subject_of(credential: dict[str, Any]) -> dict[str, Any]:
    subject = credential.get("credentialSubject")
    if isinstance(subject, list):
        subject = subject[0] if subject else {}
    return subject if isinstance(subject, dict) else {}


def claims_for(credential: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer_of(credential),
        "jti": credential["id"],
        "nbf": int(parse_datetime(credential["validFrom"]).timestamp()),
    }
    subject_id = subject_of(credential).get("id")
    if subject_id:
        claims["sub"] = subject_id
    if credential.get("validUntil"):
        claims["exp"] = int(parse_datetime(credential["validUntil"]).timestamp())
    return claims


def sign(credential: dict[str, Any], key: ToolKey, kid: str) -> str:
    """The compact JWS of the credential: it is both the credential and its proof."""
    payload = {**credential, **claims_for(credential)}
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def credential_from_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The credential a payload carries: the payload minus JWT claims, or the `vc` claim of a VCDM 1.1 JWT."""
    if isinstance(payload.get("vc"), dict) and "@context" not in payload:
        return dict(payload["vc"])
    return {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}


def decode_verified(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWT whose RS256 signature checks out against a key of `jwks` named by its kid.
    Dates are not checked here: the caller compares them with the credential and explains."""
    token = (token or "").strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise JwtError("This is not a compact JWT (three base64url parts separated by dots).") from exc
    if header.get("alg") != ALGORITHM:
        raise JwtError(f"The signature algorithm {header.get('alg')!r} is not accepted; only RS256 is.")
    unexpected = sorted(set(header) - ALLOWED_HEADERS)
    if unexpected:
        raise JwtError(f"The JWT header has fields Open Badges 3.0 does not allow: {', '.join(unexpected)}.")
    kid = header.get("kid")
    if not kid:
        raise JwtError("The JWT header names no key (kid), so the issuer's published key cannot be found.")
    jwk = next((k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid), None)
    if jwk is None:
        raise JwtError(f"The key that signed it ({kid}) is not among the issuer's published keys.")
    try:
        public_key = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        payload = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise JwtError(
            "The signature does not match: the content was changed after signing, or it was signed with another key."
        ) from exc
    except jwt.PyJWTError as exc:
        raise JwtError(f"The JWT could not be read: {exc}.") from exc
    if not isinstance(payload, dict):
        raise JwtError("The JWT payload is not a JSON object.")
    return header, payload

"""Embedded proofs: W3C Data Integrity, cryptosuite `eddsa-rdfc-2022` (Ed25519 over RDFC-1.0 canonical data).

Wallets and verifiers that read only proofs inside the JSON (the Digital Credentials Consortium's Learner
Credential Wallet and VerifierPlus among them) need this; VC-JWT carries its proof outside the JSON.

The steps, from the Data Integrity EdDSA Cryptosuites specification:
1. the proof configuration is the proof without `proofValue`, with the document's `@context`;
2. both the configuration and the document without `proof` are canonicalized (RDFC-1.0, N-Quads);
3. the signed data is SHA-256(canonical configuration) followed by SHA-256(canonical document);
4. `proofValue` is the Ed25519 signature, multibase base58btc (a leading `z`).
The verification method is a Multikey: `publicKeyMultibase` is `z` + base58btc(0xed 0x01 + the 32-byte key).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lti_tool.credentials import jsonld_docs

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
PURPOSE = "assertionMethod"
ED25519_PUB_PREFIX = b"\xed\x01"  # multicodec ed25519-pub, as a varint
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

KeyResolver = Callable[[str], bytes]  # verification method URL -> raw 32-byte Ed25519 public key


class ProofError(Exception):
    """A proof that cannot be made or does not verify, with a reason a person can read."""


def base58_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = BASE58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = BASE58.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not a base58 character")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def multibase_decode(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("z") or len(value) < 2:
        raise ProofError("the value is not multibase base58btc (it must start with 'z')")
    try:
        return base58_decode(value[1:])
    except ValueError as exc:
        raise ProofError(f"the value is not multibase base58btc ({exc})") from exc


def public_key_multibase(public_key: bytes) -> str:
    return "z" + base58_encode(ED25519_PUB_PREFIX + public_key)


def public_key_from_multibase(value: Any) -> bytes:
    raw = multibase_decode(value)
    if not raw.startswith(ED25519_PUB_PREFIX) or len(raw) != 34:
        raise ProofError("the key is not a multibase Ed25519 public key (multicodec 0xed01, 32 bytes)")
    return raw[2:]


def _hash_data(document: dict[str, Any], proof_config: dict[str, Any]) -> bytes:
    try:
        doc_hash = hashlib.sha256(jsonld_docs.canonical_nquads(document).encode()).digest()
        config_hash = hashlib.sha256(jsonld_docs.canonical_nquads(proof_config).encode()).digest()
    except jsonld_docs.JsonLdError as exc:
        raise ProofError(f"the credential is not strict JSON-LD: {exc}") from exc
    return config_hash + doc_hash


def add_proof(
    document: dict[str, Any], private_key: Ed25519PrivateKey, verification_method: str, created: str
) -> dict[str, Any]:
    """A copy of `document` with an embedded eddsa-rdfc-2022 proof."""
    unsecured = {k: v for k, v in copy.deepcopy(document).items() if k != "proof"}
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": PURPOSE,
    }
    signature = private_key.sign(_hash_data(unsecured, {"@context": unsecured["@context"], **proof}))
    proof["proofValue"] = "z" + base58_encode(signature)
    return {**unsecured, "proof": proof}


def verify_proof(document: dict[str, Any], resolve_key: KeyResolver) -> str:
    """The verification method of the document's eddsa-rdfc-2022 proof when its signature holds; ProofError
    (with the reason) when it does not or there is no such proof."""
    proofs = document.get("proof")
    if proofs is None:
        raise ProofError("the JSON carries no embedded proof")
    candidates = [p for p in (proofs if isinstance(proofs, list) else [proofs]) if isinstance(p, dict)]
    proof = next((p for p in candidates if p.get("cryptosuite") == CRYPTOSUITE), None)
    if proof is None or proof.get("type") != PROOF_TYPE:
        raise ProofError(f"the JSON carries no {PROOF_TYPE} proof with cryptosuite {CRYPTOSUITE}")
    if proof.get("proofPurpose") != PURPOSE:
        raise ProofError(f"the proof's purpose is {proof.get('proofPurpose')!r}, not {PURPOSE!r}")
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise ProofError("the proof names no verification method")
    try:
        signature = multibase_decode(proof.get("proofValue"))
    except ProofError as exc:
        raise ProofError(f"the proofValue is unreadable: {exc}") from exc
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in config and config["@context"] != unsecured.get("@context"):
        raise ProofError("the proof's @context differs from the credential's")
    config["@context"] = unsecured.get("@context")
    hash_data = _hash_data(unsecured, config)
    try:
        raw_key = resolve_key(method)
    except ProofError:
        raise
    except Exception as exc:  # a resolver may fail on the network, on HTTP or on JSON: the key is unknown
        raise ProofError(f"the verification method {method} could not be resolved ({exc})") from exc
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, hash_data)
    except (InvalidSignature, ValueError) as exc:
        raise ProofError(
            "the signature does not match: the credential was changed after signing, or signed with another key"
        ) from exc
    return method

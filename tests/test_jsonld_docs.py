"""The JSON-LD the proofs sign (lti_tool/credentials/jsonld_docs.py) is PyLD's, whatever it keeps between calls.

jsonld_docs keeps each type-scoped context it has processed (its `_Processor`), so these tests compare its
expansion and its canonical N-Quads with plain PyLD's (`jsonld.expand`, `jsonld.normalize`, the contexts read
by a loader of the tests' own from tests/contexts, PyLD's shared context cache emptied first), and check that
what is kept never answers for another document: documents whose type-scoped contexts differ canonicalize
differently, each as plain PyLD does, in any order and again; an inline context changed in place is read again.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from lti_tool.credentials import jsonld_docs

CONTEXTS = Path(__file__).parent / "contexts"
FILES = {
    jsonld_docs.VC_V2: "credentials-v2.json",
    jsonld_docs.OB_V3: "ob-context-3.0.3.json",
    jsonld_docs.OB_EXTENSIONS: "ob-extensions.json",
    jsonld_docs.MULTIKEY_V1: "multikey-v1.json",
}
NQUADS = {"algorithm": "URDNA2015", "format": "application/n-quads"}
BASE = "https://tool.example.org/credentials"

CREDENTIAL: dict[str, Any] = {
    "@context": [jsonld_docs.VC_V2, jsonld_docs.OB_V3, jsonld_docs.OB_EXTENSIONS],
    "id": "urn:uuid:e452d6d8-0b5f-4a1a-884f-0bf80a8398c6",
    "type": ["VerifiableCredential", "OpenBadgeCredential"],
    "name": "Qualified Clinical Research Central Monitor",
    "issuer": {"id": f"{BASE}/issuer", "type": ["Profile"], "name": "Accreditation portfolio"},
    "validFrom": "2025-03-01T00:00:00Z",
    "awardedDate": "2025-03-01T00:00:00Z",
    "credentialSchema": [
        {
            "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json",
            "type": "1EdTechJsonSchemaValidator2019",
        }
    ],
    "credentialStatus": {
        "id": f"{BASE}/status/1#126027",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "126027",
        "statusListCredential": f"{BASE}/status/1",
    },
    "credentialSubject": {
        "id": "urn:uuid:4a3105e5-0bc2-4858-9881-3bc950ad6076",
        "type": ["AchievementSubject"],
        "creditsEarned": 12.0,
        "licenseNumber": "CMIACR-2025-000123",
        "identifier": [
            {
                "type": "IdentityObject",
                "hashed": True,
                "identityHash": "sha256$d90fd69972e026e699b9e1f84e2462d2ce98215ef6ff594bee99b935662b6b28",
                "identityType": "name",
                "salt": "c1fad0b6e10184b4",
            }
        ],
        "result": [
            {"type": ["Result"], "resultDescription": f"{BASE}/achievements/CM/v1#outcome", "status": "Completed"}
        ],
        "achievement": {
            "id": f"{BASE}/achievements/CM/v1",
            "type": ["Achievement"],
            "achievementType": "Certification",
            "name": "Qualified Clinical Research Central Monitor",
            "description": "Competence-based certification for central monitors of clinical trials.",
            "criteria": {"id": f"{BASE}/achievements/CM/v1#criteria", "narrative": "A portfolio of evidence."},
            "creditsAvailable": 12.0,
            "alignment": [
                {
                    "type": ["Alignment"],
                    "targetCode": "ED5",
                    "targetName": "ISCED 2011 level 5",
                    "targetType": "ext:ISCEDLevel",
                    "targetUrl": "https://uis.unesco.org/en/topic/international-standard-classification-education-isced",
                }
            ],
            "resultDescription": [
                {
                    "id": f"{BASE}/achievements/CM/v1#outcome",
                    "type": ["ResultDescription"],
                    "name": "Assessment outcome",
                    "resultType": "Status",
                }
            ],
        },
    },
}
PROOF_CONFIG: dict[str, Any] = {
    "@context": CREDENTIAL["@context"],
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-rdfc-2022",
    "created": "2025-03-01T10:00:00Z",
    "verificationMethod": f"{BASE}/issuer/keys/z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "proofPurpose": "assertionMethod",
}


def _loader(url: str, options: Any = None) -> dict[str, Any]:
    if url not in FILES:  # the test fails rather than fetch anything
        raise AssertionError(f"unexpected context {url}")
    return {"contextUrl": None, "documentUrl": url, "document": json.loads((CONTEXTS / FILES[url]).read_text())}


def plain_nquads(document: dict[str, Any]) -> str:
    """Plain PyLD, from contexts it reads itself (nothing jsonld_docs left in PyLD's shared cache)."""
    jsonld._resolved_context_cache.clear()
    return str(jsonld.normalize(copy.deepcopy(document), {**NQUADS, "documentLoader": _loader}))


def typed(vocabulary: str) -> dict[str, Any]:
    """A document whose only type carries an inline type-scoped context mapping `level` into `vocabulary`."""
    return {
        "@context": {"Thing": {"@id": "https://example.org/Thing", "@context": {"level": f"{vocabulary}level"}}},
        "@id": "https://example.org/thing/1",
        "@type": "Thing",
        "level": "3",
    }


@pytest.mark.parametrize("document", [CREDENTIAL, PROOF_CONFIG], ids=["credential", "proof configuration"])
def test_canonical_nquads_are_plain_pyld_s(document):
    expected = plain_nquads(document)
    assert "_:c14n0" in expected or document is PROOF_CONFIG  # blank nodes: RDFC-1.0 had labels to choose
    for _ in range(3):  # the first call fills what is kept, the next ones use it
        assert jsonld_docs.canonical_nquads(document) == expected
    assert plain_nquads(document) == expected


def test_expansion_is_plain_pyld_s():
    jsonld._resolved_context_cache.clear()
    expected = jsonld.expand(copy.deepcopy(CREDENTIAL), {"documentLoader": _loader})
    for _ in range(2):
        assert jsonld_docs._Processor().expand(copy.deepcopy(CREDENTIAL), jsonld_docs._options()) == expected


def test_documents_with_different_scoped_contexts_never_share_a_result():
    first, second = typed("https://example.org/a#"), typed("https://example.org/b#")
    a, b = jsonld_docs.canonical_nquads(first), jsonld_docs.canonical_nquads(second)
    assert "<https://example.org/a#level>" in a and "<https://example.org/b#level>" in b
    assert a == plain_nquads(first) and b == plain_nquads(second)
    for _ in range(2):  # interleaved and again: each keeps its own
        assert jsonld_docs.canonical_nquads(second) == b
        assert jsonld_docs.canonical_nquads(first) == a
    # A change in the credential's own content changes its canonical form, and the unchanged one is as before.
    changed = copy.deepcopy(CREDENTIAL)
    changed["credentialSubject"]["achievement"]["alignment"][0]["targetCode"] = "ED6"
    assert jsonld_docs.canonical_nquads(changed) != jsonld_docs.canonical_nquads(CREDENTIAL)
    assert jsonld_docs.canonical_nquads(changed) == plain_nquads(changed)


def test_one_type_scoped_context_under_two_active_contexts():
    """The same scoped context object (Thing's) applied where `p` means a# and, inside `inner`, b#: what is kept
    for one active context must not answer for the other."""
    document = {
        "@context": {
            "p": "https://example.org/a#",
            "Thing": {"@id": "https://example.org/Thing", "@context": {"level": "p:level"}},
            "inner": {"@id": "https://example.org/inner", "@context": {"p": "https://example.org/b#"}},
        },
        "@id": "https://example.org/thing/1",
        "@type": "Thing",
        "level": "1",
        "inner": {"@id": "https://example.org/thing/2", "@type": "Thing", "level": "2"},
    }
    expected = plain_nquads(document)
    assert '<https://example.org/thing/1> <https://example.org/a#level> "1" .' in expected
    assert '<https://example.org/thing/2> <https://example.org/b#level> "2" .' in expected
    for _ in range(2):
        assert jsonld_docs.canonical_nquads(document) == expected


def test_an_inline_context_changed_in_place_is_read_again():
    document = typed("https://example.org/a#")
    before = jsonld_docs.canonical_nquads(document)
    document["@context"]["Thing"]["@context"]["level"] = "https://example.org/changed#level"
    after = jsonld_docs.canonical_nquads(document)
    assert "<https://example.org/changed#level>" in after and after != before
    assert after == plain_nquads(document)


def test_what_is_kept_is_bounded():
    for n in range(jsonld_docs._Processor.KEEP + 20):
        jsonld_docs.canonical_nquads(typed(f"https://example.org/v{n}#"))
    assert len(jsonld_docs._Processor._kept) <= jsonld_docs._Processor.KEEP
    assert jsonld_docs.canonical_nquads(CREDENTIAL) == plain_nquads(CREDENTIAL)


def test_threads_canonicalize_alike():
    expected = plain_nquads(CREDENTIAL)
    results: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                document = typed(f"https://example.org/t{n}-{i}#") if i % 3 == 0 else CREDENTIAL
                out = jsonld_docs.canonical_nquads(document)
                if document is CREDENTIAL:
                    results.append(out)
                else:
                    assert f"<https://example.org/t{n}-{i}#level>" in out
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results and all(out == expected for out in results)


def test_an_undefined_vocabulary_value_is_refused() -> None:
    """A term whose values are vocabulary terms (proofPurpose) with a value no listed context defines would be
    signed as a relative IRI resolved against a processor's base: refused, like an undefined term."""
    proof = {
        "@context": [jsonld_docs.VC_V2],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2024-01-01T00:00:00Z",
        "verificationMethod": "did:example:issuer#key-1",
        "proofPurpose": "somethingUndefined",
    }
    assert jsonld_docs.strict_problems(proof) == [
        "the value 'somethingUndefined' is not defined by any context the document lists"
    ]
    with pytest.raises(jsonld_docs.JsonLdError, match="somethingUndefined"):
        jsonld_docs.canonical_nquads(proof)
    assert jsonld_docs.strict_problems({**proof, "proofPurpose": "assertionMethod"}) == []

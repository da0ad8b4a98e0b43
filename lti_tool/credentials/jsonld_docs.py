"""JSON-LD for credentials, offline and strict.

The contexts a credential lists are shipped in `contexts/` (copies of the published files, see their README)
and served to PyLD by `document_loader`, which refuses every other URL: nothing is fetched at run time, and a
document naming a context we do not ship cannot be signed.

`strict_problems` does what jsonld.js "safe mode" does: it reports every term that no listed context defines
(a processor would silently drop it, so the signature would not cover it) and every relative IRI in an `id`
or `type`. `canonical_nquads` is RDF Dataset Canonicalization (RDFC-1.0, published earlier as URDNA2015) of a
strict document: what the Data Integrity proof signs.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pyld import jsonld  # type: ignore[import-untyped]

CONTEXTS_DIR = Path(__file__).parent / "contexts"
VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_EXTENSIONS = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
CONTEXT_FILES = {
    VC_V2: "credentials-v2.json",
    OB_V3: "ob-context-3.0.3.json",
    OB_EXTENSIONS: "ob-extensions.json",
    MULTIKEY_V1: "multikey-v1.json",
}
# A vocabulary no real context uses: a term that expands into it was defined by none of the listed contexts.
UNDEFINED = "urn:x-undefined-term:"
ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class JsonLdError(Exception):
    """A document that strict JSON-LD processing refuses, with the reasons."""


@cache
def _context(url: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONTEXTS_DIR / CONTEXT_FILES[url]).read_text(encoding="utf-8"))
    return loaded


def document_loader(url: str, options: Any = None) -> dict[str, Any]:
    if url not in CONTEXT_FILES:
        raise JsonLdError(f"The context {url} is not one this tool ships; it is never fetched.")
    # "static": the shipped contexts never change, so PyLD keeps each one resolved across operations (without
    # the tag it loads, copies and resolves every context again for every expansion and canonicalization).
    return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(_context(url)), "tag": "static"}


def _options(**extra: Any) -> dict[str, Any]:
    return {"documentLoader": document_loader, **extra}


def _walk(node: Any, problems: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, problems)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key.startswith(UNDEFINED):
            problems.append(f"the term {key[len(UNDEFINED) :]!r} is not defined by any context the document lists")
        if key == "@id" and isinstance(value, str) and not (value.startswith("_:") or ABSOLUTE_IRI.match(value)):
            problems.append(f"the id {value!r} is not an absolute IRI")
        if key == "@type" and "@value" not in node:
            for kind in value if isinstance(value, list) else [value]:
                if isinstance(kind, str) and kind.startswith(UNDEFINED):
                    problems.append(f"the type {kind[len(UNDEFINED) :]!r} is not defined by any listed context")
                elif isinstance(kind, str) and not (kind.startswith("_:") or ABSOLUTE_IRI.match(kind)):
                    problems.append(f"the type {kind!r} is not an absolute IRI")
        _walk(value, problems)


def strict_problems(document: dict[str, Any]) -> list[str]:
    """Why strict JSON-LD processing would refuse `document` (empty when it would not)."""
    contexts = document.get("@context")
    if contexts is None:
        return ["the document has no @context"]
    probe = dict(document)
    # A trailing @vocab catches what the listed contexts leave undefined; protected terms are untouched by it.
    probe["@context"] = [*(contexts if isinstance(contexts, list) else [contexts]), {"@vocab": UNDEFINED}]
    try:
        expanded = jsonld.expand(probe, _options())
    except Exception as exc:  # PyLD raises its own error types for every kind of invalid JSON-LD
        return [f"JSON-LD expansion fails: {_reason(exc)}"]
    problems: list[str] = []
    _walk(expanded, problems)
    return sorted(set(problems))


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n", 1)[0]
    cause = getattr(exc, "cause", None)
    return f"{text} ({cause})" if cause else text


def canonical_nquads(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a strict document; JsonLdError (with the reasons) otherwise."""
    problems = strict_problems(document)
    if problems:
        raise JsonLdError("; ".join(problems))
    try:
        result = jsonld.normalize(document, _options(algorithm="URDNA2015", format="application/n-quads"))
    except Exception as exc:  # as above: PyLD's own error types
        raise JsonLdError(f"RDF canonicalization fails: {_reason(exc)}") from exc
    return str(result)

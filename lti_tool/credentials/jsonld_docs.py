"""JSON-LD for credentials, offline and strict.

The contexts a credential lists are shipped in `contexts/` (copies of the published files, see their README)
and served to PyLD by `document_loader`, which refuses every other URL: nothing is fetched at run time, and a
document naming a context we do not ship cannot be signed.

`strict_problems` does what jsonld.js "safe mode" does: it reports every term that no listed context defines
(a processor would silently drop it, so the signature would not cover it) and every relative IRI in an `id`
or `type`. `canonical_nquads` is RDF Dataset Canonicalization (RDFC-1.0, published earlier as URDNA2015) of a
strict document: what the Data Integrity proof signs.

Both run PyLD's own algorithms through `_Processor`, which only keeps the type-scoped contexts it has
processed (see there): what comes out is what plain PyLD gives, in about a third of the time.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
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


class _Processor(jsonld.JsonLdProcessor):
    """PyLD's JSON-LD processor, keeping each type-scoped context it has processed.

    PyLD keeps a processed context under the active context it was applied to, and the shipped contexts, once
    processed, come back from that cache as the same objects. A type-scoped context (a context on a type, such
    as the ones VCDM 2.0 and Open Badges put on VerifiableCredential, Achievement or DataIntegrityProof) does not
    propagate, so PyLD applies it to a fresh copy of the active context, under which its cache never answers:
    every typed node of every document had its type's context resolved (a canonical JSON key) and processed
    again, term by term: about 70% of each expansion.

    Here that result is kept, under the identity of the two inputs: the active context (PyLD never changes
    one once made; a document whose contexts differ gets a different one, as PyLD's own cache keys inline
    contexts by their content) and the type-scoped context (a value inside that active context). The same
    inputs give the same processed context as before, so expansion and canonicalization give what plain PyLD
    gives (tests/test_jsonld_docs.py compares them). Bounded; shared by the threads of a process."""

    _kept: OrderedDict[tuple[Any, ...], tuple[Any, Any, Any]] = OrderedDict()
    _lock = threading.Lock()
    KEEP = 256

    def _process_context(
        self,
        active_ctx: Any,
        local_ctx: Any,
        options: Any,
        override_protected: bool = False,
        propagate: bool = True,
        validate_scoped: bool = True,
        cycles: Any = None,
    ) -> Any:
        if propagate or cycles is not None:
            return super()._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
            )
        key = (
            id(active_ctx),
            id(local_ctx),
            override_protected,
            validate_scoped,
            options.get("base"),
            options.get("processingMode"),
            options.get("documentLoader"),
        )
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] is active_ctx and kept[1] is local_ctx:
                self._kept.move_to_end(key)
                return kept[2]
        processed = super()._process_context(
            active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
        )
        with self._lock:
            # The entry holds both inputs, so neither id can be reused by another object while it is kept.
            self._kept[key] = (active_ctx, local_ctx, processed)
            if len(self._kept) > self.KEEP:
                self._kept.popitem(last=False)
        return processed


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
        if key == "@id" and isinstance(value, str) and value.startswith(UNDEFINED):
            # A value of a term whose values are vocabulary terms (proofPurpose, say) that no context defines:
            # without the catch-all it would become a relative IRI, resolved against whatever base a processor has.
            problems.append(f"the value {value[len(UNDEFINED) :]!r} is not defined by any context the document lists")
        elif key == "@id" and isinstance(value, str) and not (value.startswith("_:") or ABSOLUTE_IRI.match(value)):
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
        expanded = _Processor().expand(probe, _options())
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
        result = _Processor().normalize(document, _options(algorithm="URDNA2015", format="application/n-quads"))
    except Exception as exc:  # as above: PyLD's own error types
        raise JsonLdError(f"RDF canonicalization fails: {_reason(exc)}") from exc
    return str(result)

"""Catalogue content in other languages: a certification's file may carry `[translations.<language>]` tables
with its title, description, units' titles, outcomes' and criteria's texts in that language; pages show them in
the page's language where present (`localized`), the catalogue's own words otherwise.

    [translations.es]
    title = "Monitor central de investigación clínica cualificado"
    description = "..."                    # when the certification has a description
    units = { CM1 = "..." }                # every unit, by code
    outcomes = { "CM1.1" = "..." }         # every learning outcome, by code
    criteria = { "CM1.1.1" = "El aprendiz es capaz de ..." }   # every criterion, by code

A translation covers exactly the same items as the certification: the import refuses one that misses an item
or names one the certification does not have (`check`). Company-specific criteria are a partner's own words
and have no translations here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import has_request_context
from flask_babel import get_locale

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
PARTS = {"units": "unit", "outcomes": "learning outcome", "criteria": "criterion"}
KEYS = ("title", "description", *PARTS)


def _codes(data: dict[str, Any]) -> dict[str, list[str]]:
    units = data.get("units") or []
    outcomes = [o for u in units for o in u.get("outcomes") or []]
    return {
        "units": [u["code"] for u in units if u.get("code")],
        "outcomes": [o["code"] for o in outcomes if o.get("code")],
        "criteria": [k["code"] for o in outcomes for k in o.get("criteria") or [] if k.get("code")],
    }


def check(raw: Any, data: dict[str, Any], problem: Callable[[str, str], None]) -> dict[str, Any]:
    """The canonical form of a file's `translations` table, reporting each problem through `problem(path,
    message)`. `data` is the file's own canonical data (its codes are what each translation must cover)."""
    if not isinstance(raw, dict):
        problem("translations", "must be a table of languages, e.g. [translations.es]")
        return {}
    codes = _codes(data)
    out: dict[str, Any] = {}
    for language, table in raw.items():
        where = f"translations.{language}"
        if not LANGUAGE.match(language):
            problem(where, f"{language!r} is not a language code such as es, fr or pt-BR")
            continue
        if not isinstance(table, dict):
            problem(where, "must be a table (title, description, units, outcomes, criteria)")
            continue
        for key in table:
            if key not in KEYS:
                problem(f"{where}.{key}", f"unknown field (allowed here: {', '.join(KEYS)})")
        entry: dict[str, Any] = {"title": _text(table, "title", where, problem)}
        if data.get("description"):
            entry["description"] = _text(table, "description", where, problem)
        elif "description" in table:
            problem(f"{where}.description", "the certification has no description to translate")
        for part, what in PARTS.items():
            entry[part] = _covering(table.get(part), codes[part], f"{where}.{part}", what, problem)
        out[language] = entry
    return out


def _text(table: dict[str, Any], key: str, where: str, problem: Callable[[str, str], None]) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        problem(f"{where}.{key}", "is missing or empty: every translation gives it")
        return ""
    return " ".join(value.split()) if key != "description" else value.strip()


def _covering(
    value: Any, codes: list[str], where: str, what: str, problem: Callable[[str, str], None]
) -> dict[str, str]:
    if not isinstance(value, dict):
        problem(
            where,
            f'is missing: give the text of every {what} by its code, e.g. {{ {codes[0]!r} = "..." }}'
            if codes
            else "must be a table",
        )
        return {}
    missing = [code for code in codes if code not in value]
    unknown = [code for code in value if code not in codes]
    if missing:
        problem(where, f"does not translate every {what}: missing {', '.join(missing)}")
    if unknown:
        problem(where, f"names {what} codes the certification does not have: {', '.join(unknown)}")
    out: dict[str, str] = {}
    for code in codes:
        text = value.get(code)
        if code in value and (not isinstance(text, str) or not text.strip()):
            problem(f"{where}.{code}", "must be a non-empty text")
        elif isinstance(text, str):
            out[code] = " ".join(text.split())
    return out


def page_language() -> str | None:
    """The page's language as catalogue files name it ("es", "pt-BR"), or None outside a request."""
    if not has_request_context():
        return None
    locale = get_locale()
    return str(locale).replace("_", "-") if locale is not None else None


# Which part of a file's translation holds an item, by the item's class: the catalogue's rows, and the
# coverage's views of them (portfolio/coverage.py), which carry codes but no certification.
PART_OF = {
    "Unit": "units",
    "UnitCoverage": "units",
    "Outcome": "outcomes",
    "OutcomeCoverage": "outcomes",
    "Criterion": "criteria",
    "CriterionCoverage": "criteria",
}


def localized(item: Any, field: str = "", cert: Any = None) -> str:
    """The text of a certification (title, description), unit (title), outcome or criterion (text) in the
    page's language when its certification's file translates it; its own words otherwise. Items that do not
    know their certification (the coverage's) are given it: `localized(unit, cert=portfolio.certification)`."""
    kind = type(item).__name__
    field = field or ("title" if kind in ("Certification", "Unit", "UnitCoverage") else "text")
    own = item.get(field, "") if isinstance(item, dict) else getattr(item, field, "")
    language = page_language()
    if not language or language.startswith("en"):
        return own  # the catalogue's own language: no lookup (and no query)
    part = PART_OF.get(kind)
    if kind == "Certification":
        cert = item
    elif part is None or getattr(item, "partner_id", None) is not None or getattr(item, "partner_specific", False):
        return own  # not catalogue content, or a partner's own criterion (its words are the partner's)
    elif cert is None:
        cert = _certification_of(item, kind)
    translations = getattr(cert, "translations", None) or {}
    table = translations.get(language) or translations.get(language.split("-", 1)[0]) or {}
    found = table.get(field) if part is None else (table.get(part) or {}).get(getattr(item, "code", None))
    return found or own


def _certification_of(item: Any, kind: str) -> Any:
    if kind == "Unit":
        return item.certification
    if kind == "Outcome":
        return item.unit.certification
    if kind == "Criterion":
        return item.outcome.unit.certification
    return None

"""Catalogue data files (`config/catalogue/*.toml`, one per certification): validate, hash, import.

Import is idempotent and never alters a stored version: the sha256 of the canonical data is compared with
the latest version's `content_hash`; identical data is a no-op, any change makes a new version (version + 1).
A run is all-or-nothing: every file is validated first, and one problem anywhere means nothing is written.

File layout (every field required unless marked optional):

    code = "CMIACR"                      # upper-case letters, digits, hyphens
    title = "..."
    description = "..."                  # optional
    isced_level = "ED6"                  # ISCED 2011 level, ED0..ED8
    isced_field = "0988"                 # ISCED-F 2013 detailed field, 4 digits
    framework = "..."                    # the competency framework the units map to
    credits = 12                         # 1 credit = 10 notional learning hours; = sum of the units' credits

    [[units]]
    code = "CM1"
    title = "..."
    credits = 3
    framework_refs = ["JTF 4: ..."]      # optional
      [[units.outcomes]]
      code = "CM1.1"
      text = "..."
        [[units.outcomes.criteria]]
        code = "CM1.1.1"
        text = "The learner can ..."

    [translations.es]                    # optional: the same items in another language (catalogue/translations.py)
    title = "..."
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from flask import current_app
from sqlalchemy import select

from lti_tool.audit import trail as audit
from lti_tool.identity.partners import Partner
from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.portfolio.catalogue.translations import check as check_translations
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

ISCED_LEVELS: dict[str, str] = {
    "ED0": "Early childhood education",
    "ED1": "Primary education",
    "ED2": "Lower secondary education",
    "ED3": "Upper secondary education",
    "ED4": "Post-secondary non-tertiary education",
    "ED5": "Short-cycle tertiary education",
    "ED6": "Bachelor's or equivalent level",
    "ED7": "Master's or equivalent level",
    "ED8": "Doctoral or equivalent level",
}

# ISCED-F 2013 broad fields: the first two digits of a detailed field code.
ISCED_BROAD_FIELDS: dict[str, str] = {
    "00": "Generic programmes and qualifications",
    "01": "Education",
    "02": "Arts and humanities",
    "03": "Social sciences, journalism and information",
    "04": "Business, administration and law",
    "05": "Natural sciences, mathematics and statistics",
    "06": "Information and Communication Technologies",
    "07": "Engineering, manufacturing and construction",
    "08": "Agriculture, forestry, fisheries and veterinary",
    "09": "Health and welfare",
    "10": "Services",
}

CERTIFICATION_CODE = re.compile(r"^[A-Z][A-Z0-9-]{1,39}$")
PART_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_TITLE = 300

_CERT_KEYS = (
    "code",
    "title",
    "description",
    "isced_level",
    "isced_field",
    "framework",
    "credits",
    "units",
    "translations",
)
_UNIT_KEYS = ("code", "title", "credits", "framework_refs", "outcomes")
_OUTCOME_KEYS = ("code", "text", "criteria")
_CRITERION_KEYS = ("code", "text")
_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    bool: "true/false",
    float: "a decimal number",
    list: "an array",
    dict: "a table",
}


# The canonical form of a file's parts as validate() builds it (None where a field has a problem).
class _CriterionData(TypedDict):
    code: str | None
    text: str | None


class _OutcomeData(TypedDict):
    code: str | None
    text: str | None
    criteria: list[_CriterionData]


class _UnitData(TypedDict):
    code: str | None
    title: str | None
    credits: int | None
    framework_refs: list[str]
    outcomes: list[_OutcomeData]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a catalogue file: where (file and path inside it) and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class CatalogueInvalid(UserError):
    title = "Catalogue data is not valid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(
            f"{count} in the catalogue data; nothing was imported:\n" + "\n".join(f"  {p}" for p in problems)
        )


@dataclass(frozen=True)
class CatalogueFile:
    """A validated file: its canonical data (the form that is hashed and imported) and that hash."""

    path: Path
    data: dict[str, Any]
    content_hash: str

    @property
    def code(self) -> str:
        return str(self.data["code"])


@dataclass
class ImportResult:
    code: str
    version: int
    status: str  # "created" | "unchanged"
    source: str
    previous_version: int | None = None  # set when a new version replaced an older one
    # Company-specific criteria copied from the previous version ("PARTNER-SLUG CODE"), and those that could
    # not be (their outcome is gone, or their code is now taken), with the reason.
    carried: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.status == "created"


# ---------------------------------------------------------------------------------------------- validation


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _paragraphs(value: str) -> str:
    return "\n\n".join(_one_line(p) for p in re.split(r"\n\s*\n", value.strip()) if p.strip())


def _type_name(value: Any) -> str:
    return next((name for kind, name in _TYPE_NAMES.items() if type(value) is kind), type(value).__name__)


class _Checker:
    """Walks one parsed file, collecting every problem (not just the first) with its path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def known_keys(self, table: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(_join(path, key), f"unknown field (allowed here: {', '.join(allowed)})")

    def text(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        max_len: int | None = None,
        paragraphs: bool = False,
    ) -> str | None:
        where = _join(path, key)
        if key not in table:
            if required:
                self.problem(where, "is missing")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.problem(where, f"must be text (a quoted string), not {_type_name(value)}")
            return None
        cleaned = _paragraphs(value) if paragraphs else _one_line(value)
        if required and not cleaned:
            self.problem(where, "is empty")
            return None
        if max_len is not None and len(cleaned) > max_len:
            self.problem(where, f"is {len(cleaned)} characters long; at most {max_len} are allowed")
            return None
        return cleaned

    def code(self, table: dict[str, Any], key: str, path: str, pattern: re.Pattern[str], rule: str) -> str | None:
        value = self.text(table, key, path)
        if value is not None and not pattern.match(value):
            self.problem(_join(path, key), f"{value!r} is not a valid code: {rule}")
            return None
        return value

    def positive_int(self, table: dict[str, Any], key: str, path: str) -> int | None:
        where = _join(path, key)
        if key not in table:
            self.problem(where, "is missing")
            return None
        value = table[key]
        if type(value) is not int:
            self.problem(where, f"must be a whole number, not {_type_name(value)}")
            return None
        if value < 1:
            self.problem(where, f"must be at least 1, not {value}")
            return None
        return value

    def tables(self, table: dict[str, Any], key: str, path: str, what: str) -> list[tuple[str, dict[str, Any]]]:
        """An array of tables ([[key]]) with at least one entry; each returned with its own path."""
        where = _join(path, key)
        header = "[[" + re.sub(r"\[\d+\]", "", where) + "]]"  # as the TOML file spells it: [[units.outcomes]]
        value = table.get(key)
        if value is None:
            self.problem(where, f"is missing: add at least one {what} ({header})")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(where, f"must be an array of tables ({header}), not {_type_name(value)}")
            return []
        if not value:
            self.problem(where, f"is empty: add at least one {what}")
        return [(f"{where}[{i}]", v) for i, v in enumerate(value)]

    def text_list(self, table: dict[str, Any], key: str, path: str) -> list[str]:
        where = _join(path, key)
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(where, 'must be an array of non-empty texts, e.g. ["JTF 4: Clinical Study Operations"]')
            return []
        return [_one_line(v) for v in value]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


CODE_RULE = "use letters, digits, '.', '_' or '-', at most 40 characters"


def validate(raw: dict[str, Any], file: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Check one parsed file. Returns (canonical data, []) or (None, problems)."""
    c = _Checker(file)
    c.known_keys(raw, _CERT_KEYS, "")
    data: dict[str, Any] = {
        "code": c.code(
            raw,
            "code",
            "",
            CERTIFICATION_CODE,
            "use upper-case letters, digits and '-', starting with a letter, 2 to 40 characters",
        ),
        "title": c.text(raw, "title", "", max_len=MAX_TITLE),
        "description": c.text(raw, "description", "", required=False, paragraphs=True) or "",
        "isced_level": c.text(raw, "isced_level", ""),
        "isced_field": c.text(raw, "isced_field", ""),
        "framework": c.text(raw, "framework", "", max_len=MAX_TITLE),
        "credits": c.positive_int(raw, "credits", ""),
        "units": [],
    }
    level = data["isced_level"]
    if level is not None and level not in ISCED_LEVELS:
        c.problem("isced_level", f"unknown ISCED 2011 level {level!r}: use one of {', '.join(ISCED_LEVELS)}")
    field_code = data["isced_field"]
    if field_code is not None:
        if not re.fullmatch(r"\d{4}", field_code):
            c.problem(
                "isced_field",
                f"{field_code!r} is not an ISCED-F 2013 detailed field: it must be 4 digits, "
                'e.g. "0919" (health n.e.c.)',
            )
        elif field_code[:2] not in ISCED_BROAD_FIELDS:
            c.problem(
                "isced_field",
                f"{field_code!r} is not an ISCED-F 2013 field: the broad field "
                f"{field_code[:2]!r} does not exist (00 to 10)",
            )

    seen: dict[str, dict[str, str]] = {"unit": {}, "outcome": {}, "criterion": {}}

    def unique(kind: str, code: str | None, path: str) -> None:
        if code is None:
            return
        if code in seen[kind]:
            c.problem(_join(path, "code"), f"duplicate {kind} code {code!r} (also at {seen[kind][code]})")
        else:
            seen[kind][code] = path

    for unit_path, unit_raw in c.tables(raw, "units", "", "unit"):
        c.known_keys(unit_raw, _UNIT_KEYS, unit_path)
        unit: _UnitData = {
            "code": c.code(unit_raw, "code", unit_path, PART_CODE, CODE_RULE),
            "title": c.text(unit_raw, "title", unit_path, max_len=MAX_TITLE),
            "credits": c.positive_int(unit_raw, "credits", unit_path),
            "framework_refs": c.text_list(unit_raw, "framework_refs", unit_path),
            "outcomes": [],
        }
        unique("unit", unit["code"], unit_path)
        for outcome_path, outcome_raw in c.tables(unit_raw, "outcomes", unit_path, "learning outcome"):
            c.known_keys(outcome_raw, _OUTCOME_KEYS, outcome_path)
            outcome: _OutcomeData = {
                "code": c.code(outcome_raw, "code", outcome_path, PART_CODE, CODE_RULE),
                "text": c.text(outcome_raw, "text", outcome_path),
                "criteria": [],
            }
            unique("outcome", outcome["code"], outcome_path)
            for criterion_path, criterion_raw in c.tables(
                outcome_raw, "criteria", outcome_path, "assessment criterion"
            ):
                c.known_keys(criterion_raw, _CRITERION_KEYS, criterion_path)
                criterion: _CriterionData = {
                    "code": c.code(criterion_raw, "code", criterion_path, PART_CODE, CODE_RULE),
                    "text": c.text(criterion_raw, "text", criterion_path),
                }
                unique("criterion", criterion["code"], criterion_path)
                outcome["criteria"].append(criterion)
            unit["outcomes"].append(outcome)
        data["units"].append(unit)

    unit_credits = [u["credits"] for u in data["units"]]
    if data["credits"] is not None and unit_credits and None not in unit_credits:
        if sum(unit_credits) != data["credits"]:
            parts = f" ({' + '.join(str(n) for n in unit_credits)})" if len(unit_credits) > 1 else ""
            c.problem(
                "credits",
                f"the certification has {data['credits']} credits but its units add up to {sum(unit_credits)}{parts}",
            )
    if "translations" in raw:
        # Only when the file has some: the canonical data (and hash) of files without them stay as they were.
        data["translations"] = check_translations(raw["translations"], data, c.problem)
    return (None, c.problems) if c.problems else (data, [])


def content_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical data: the same content always gives the same hash, whatever the formatting."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def certification_data(cert: Certification) -> dict[str, Any]:
    """A stored version in canonical form (catalogue criteria only, no company-specific ones).

    Its hash equals the version's content_hash as long as nobody altered the stored rows.
    """
    data: dict[str, Any] = {
        "code": cert.code,
        "title": cert.title,
        "description": cert.description,
        "isced_level": cert.isced_level,
        "isced_field": cert.isced_field,
        "framework": cert.framework,
        "credits": cert.credits,
        "units": [
            {
                "code": u.code,
                "title": u.title,
                "credits": u.credits,
                "framework_refs": list(u.framework_refs or []),
                "outcomes": [
                    {
                        "code": o.code,
                        "text": o.text,
                        "criteria": [{"code": k.code, "text": k.text} for k in o.criteria if k.partner_id is None],
                    }
                    for o in u.outcomes
                ],
            }
            for u in cert.units
        ],
    }
    if cert.translations is not None:
        data["translations"] = cert.translations
    return data


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_file(path: Path) -> tuple[CatalogueFile | None, list[Problem]]:
    name = _display(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(name, "", f"not valid TOML: {exc}")]
    except UnicodeDecodeError:
        return None, [Problem(name, "", "not valid TOML: the file is not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(name, "", f"cannot be read: {exc.strerror or exc}")]
    data, problems = validate(raw, name)
    if data is None:
        return None, problems
    return CatalogueFile(path=path, data=data, content_hash=content_hash(data)), []


def default_catalogue_dir() -> Path:
    return Path(current_app.config["CATALOGUE_DIR"])


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files as given, directories as their *.toml files (sorted)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                problems.append(Problem(_display(path), "", "directory has no *.toml catalogue files"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(_display(path), "", "no such file or directory"))
    return list(dict.fromkeys(files)), problems


def load_catalogue(paths: Iterable[str | Path] | None = None) -> list[CatalogueFile]:
    """Validate every file (default: the whole catalogue directory); raise CatalogueInvalid with all problems."""
    files, problems = expand_paths([default_catalogue_dir()] if paths is None else paths)
    loaded: list[CatalogueFile] = []
    by_code: dict[str, CatalogueFile] = {}
    for path in files:
        cf, file_problems = load_file(path)
        problems.extend(file_problems)
        if cf is None:
            continue
        if cf.code in by_code:
            problems.append(
                Problem(
                    _display(path),
                    "code",
                    f"certification {cf.code!r} is also defined in "
                    f"{_display(by_code[cf.code].path)}: one file per certification",
                )
            )
            continue
        by_code[cf.code] = cf
        loaded.append(cf)
    if problems:
        raise CatalogueInvalid(problems)
    return loaded


# -------------------------------------------------------------------------------------------------- import


def _lock_catalogue() -> None:
    """Several processes may start at once (gunicorn): on PostgreSQL, imports run one after another."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(db.func.pg_advisory_xact_lock(0x436174)))  # 'Cat'


def _build(data: dict[str, Any], version: int, digest: str) -> Certification:
    cert = Certification(
        code=data["code"],
        version=version,
        title=data["title"],
        description=data["description"],
        isced_level=data["isced_level"],
        isced_field=data["isced_field"],
        framework=data["framework"],
        credits=data["credits"],
        content_hash=digest,
        translations=data.get("translations"),
    )
    for u_pos, u in enumerate(data["units"]):
        unit = Unit(
            code=u["code"],
            title=u["title"],
            credits=u["credits"],
            position=u_pos,
            framework_refs=list(u["framework_refs"]),
        )
        for o_pos, o in enumerate(u["outcomes"]):
            outcome = Outcome(code=o["code"], text=o["text"], position=o_pos)
            outcome.criteria = [
                Criterion(code=k["code"], text=k["text"], position=k_pos) for k_pos, k in enumerate(o["criteria"])
            ]
            unit.outcomes.append(outcome)
        cert.units.append(unit)
    return cert


def _carry_partner_criteria(old: Certification, new: Certification, result: ImportResult) -> None:
    """Company-specific criteria belong to the certification, not to one version: copy them forward."""
    outcomes = {o.code: o for u in new.units for o in u.outcomes}
    taken = {k.code for o in outcomes.values() for k in o.criteria}
    for unit in old.units:
        for outcome in unit.outcomes:
            for crit in outcome.criteria:
                if crit.partner_id is None:
                    continue
                partner = db.session.get(Partner, crit.partner_id)
                label = f"{partner.slug if partner else crit.partner_id} {crit.code}"
                target = outcomes.get(outcome.code)
                if target is None:
                    result.not_carried.append(f"{label}: outcome {outcome.code} is not in version {new.version}")
                elif crit.code in taken:
                    result.not_carried.append(
                        f"{label}: code {crit.code} is used by a catalogue criterion in version {new.version}"
                    )
                else:
                    position = max((k.position for k in target.criteria), default=-1) + 1
                    target.criteria.append(
                        Criterion(code=crit.code, text=crit.text, position=position, partner_id=crit.partner_id)
                    )
                    taken.add(crit.code)
                    result.carried.append(label)


def import_file(cf: CatalogueFile, *, actor_label: str = "system") -> ImportResult:
    latest = latest_certification(cf.code)
    source = _display(cf.path)
    if latest is not None and latest.content_hash == cf.content_hash:
        return ImportResult(cf.code, latest.version, "unchanged", source)
    version = latest.version + 1 if latest else 1
    cert = _build(cf.data, version, cf.content_hash)
    db.session.add(cert)
    result = ImportResult(cf.code, version, "created", source, previous_version=latest.version if latest else None)
    if latest is not None:
        _carry_partner_criteria(latest, cert, result)
    db.session.flush()
    audit.record(
        "catalogue.version_imported",
        actor_label=actor_label,
        subject=cert,
        before={"version": latest.version, "content_hash": latest.content_hash} if latest else None,
        after={
            "code": cert.code,
            "version": version,
            "content_hash": cf.content_hash,
            "source": source,
            "carried_partner_criteria": result.carried,
            "not_carried": result.not_carried,
        },
    )
    return result


def import_catalogue(paths: Iterable[str | Path] | None = None, *, actor_label: str = "system") -> list[ImportResult]:
    """Validate then import (in the caller's transaction; the caller commits). All or nothing."""
    files = load_catalogue(paths)
    _lock_catalogue()
    return [import_file(cf, actor_label=actor_label) for cf in files]

"""Validation of catalogue files: every kind of problem, named with its file and path. No database needed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lti_tool.config import PROJECT_ROOT
from lti_tool.portfolio.catalogue.importer import CatalogueInvalid, content_hash, load_catalogue, validate
from tests.catalogue_samples import sample_raw, write_sample

Raw = dict[str, Any]


def test_valid_sample_gives_canonical_data() -> None:
    data, problems = validate(sample_raw(), "testcm.toml")
    assert problems == []
    assert data is not None
    assert data["code"] == "TESTCM" and data["credits"] == 3
    assert data["description"] == "First paragraph of the description.\n\nSecond paragraph."
    assert [u["code"] for u in data["units"]] == ["U1", "U2"]
    assert data["units"][0]["framework_refs"] == ["JTF 4: Clinical Study Operations (GCPs)"]
    assert data["units"][1]["framework_refs"] == []
    assert [k["code"] for k in data["units"][0]["outcomes"][0]["criteria"]] == ["U1.1.1", "U1.1.2"]


def test_hash_ignores_layout_but_not_content() -> None:
    base, _ = validate(sample_raw(), "a.toml")
    relaid = sample_raw()
    relaid["title"] = "  Test   Central\n Monitor "
    same, _ = validate(relaid, "b.toml")
    changed = sample_raw()
    changed["units"][0]["outcomes"][0]["criteria"][0]["text"] += " Also risks."
    other, _ = validate(changed, "c.toml")
    assert base and same and other
    assert content_hash(base) == content_hash(same)
    assert content_hash(base) != content_hash(other)


def _unit(raw: Raw, i: int = 0) -> Raw:
    return raw["units"][i]


def _outcome(raw: Raw, u: int = 0, o: int = 0) -> Raw:
    return raw["units"][u]["outcomes"][o]


def _set(getter: Callable[[Raw], Raw], key: str, value: Any) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        getter(raw)[key] = value

    return change


def _drop(getter: Callable[[Raw], Raw], key: str) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        del getter(raw)[key]

    return change


def _root(raw: Raw) -> Raw:
    return raw


def _second_unit_code(code: str) -> Callable[[Raw], None]:
    return _set(lambda r: _unit(r, 1), "code", code)


CASES: list[tuple[str, Callable[[Raw], None], str, str]] = [
    ("missing title", _drop(_root, "title"), "title", "is missing"),
    ("missing framework", _drop(_root, "framework"), "framework", "is missing"),
    ("empty framework", _set(_root, "framework", "   "), "framework", "is empty"),
    ("title not text", _set(_root, "title", 42), "title", "must be text (a quoted string), not a whole number"),
    ("title too long", _set(_root, "title", "x" * 301), "title", "at most 300 are allowed"),
    ("unknown field", _set(_root, "titel", "typo"), "titel", "unknown field (allowed here: code, title"),
    ("lower-case code", _set(_root, "code", "testcm"), "code", "'testcm' is not a valid code"),
    ("credits as text", _set(_root, "credits", "3"), "credits", "must be a whole number, not text"),
    ("credits as boolean", _set(_root, "credits", True), "credits", "must be a whole number, not true/false"),
    ("credits as decimal", _set(_root, "credits", 2.5), "credits", "not a decimal number"),
    ("zero credits", _set(_root, "credits", 0), "credits", "must be at least 1, not 0"),
    (
        "unknown ISCED level",
        _set(_root, "isced_level", "ED9"),
        "isced_level",
        "unknown ISCED 2011 level 'ED9': use one of ED0, ED1",
    ),
    ("ISCED level as number", _set(_root, "isced_level", 6), "isced_level", "must be text"),
    (
        "field code of 3 digits",
        _set(_root, "isced_field", "919"),
        "isced_field",
        "'919' is not an ISCED-F 2013 detailed field: it must be 4 digits",
    ),
    ("field code with letters", _set(_root, "isced_field", "09a9"), "isced_field", "it must be 4 digits"),
    (
        "field code in no broad field",
        _set(_root, "isced_field", "1299"),
        "isced_field",
        "the broad field '12' does not exist",
    ),
    (
        "credits do not add up",
        _set(_root, "credits", 4),
        "credits",
        "the certification has 4 credits but its units add up to 3 (2 + 1)",
    ),
    ("no units", _set(_root, "units", []), "units", "is empty: add at least one unit"),
    ("units missing", _drop(_root, "units"), "units", "is missing: add at least one unit ([[units]])"),
    ("units not tables", _set(_root, "units", "U1"), "units", "must be an array of tables ([[units]]), not text"),
    ("unit code missing", _drop(_unit, "code"), "units[0].code", "is missing"),
    ("unit code with a space", _set(_unit, "code", "U 1"), "units[0].code", "'U 1' is not a valid code"),
    ("unit credits missing", _drop(_unit, "credits"), "units[0].credits", "is missing"),
    ("unknown unit field", _set(_unit, "hours", 20), "units[0].hours", "unknown field"),
    (
        "framework refs not a list",
        _set(_unit, "framework_refs", "JTF 4"),
        "units[0].framework_refs",
        "must be an array of non-empty texts",
    ),
    ("duplicate unit code", _second_unit_code("U1"), "units[1].code", "duplicate unit code 'U1' (also at units[0])"),
    (
        "unit without outcomes",
        _set(_unit, "outcomes", []),
        "units[0].outcomes",
        "is empty: add at least one learning outcome",
    ),
    (
        "unit outcomes missing",
        _drop(_unit, "outcomes"),
        "units[0].outcomes",
        "is missing: add at least one learning outcome ([[units.outcomes]])",
    ),
    (
        "empty outcome",
        _set(_outcome, "criteria", []),
        "units[0].outcomes[0].criteria",
        "is empty: add at least one assessment criterion",
    ),
    (
        "outcome without criteria",
        _drop(_outcome, "criteria"),
        "units[0].outcomes[0].criteria",
        "is missing: add at least one assessment criterion ([[units.outcomes.criteria]])",
    ),
    ("outcome text empty", _set(_outcome, "text", ""), "units[0].outcomes[0].text", "is empty"),
    (
        "duplicate outcome code across units",
        _set(lambda r: _outcome(r, 1, 0), "code", "U1.1"),
        "units[1].outcomes[0].code",
        "duplicate outcome code 'U1.1' (also at units[0].outcomes[0])",
    ),
    (
        "duplicate criterion code",
        _set(lambda r: _outcome(r, 0, 1)["criteria"][0], "code", "U1.1.1"),
        "units[0].outcomes[1].criteria[0].code",
        "duplicate criterion code 'U1.1.1' (also at units[0].outcomes[0].criteria[0])",
    ),
    (
        "criterion text missing",
        _drop(lambda r: _outcome(r)["criteria"][1], "text"),
        "units[0].outcomes[0].criteria[1].text",
        "is missing",
    ),
    (
        "criterion text blank",
        _set(lambda r: _outcome(r)["criteria"][1], "text", " \n "),
        "units[0].outcomes[0].criteria[1].text",
        "is empty",
    ),
]


@pytest.mark.parametrize(("change", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_named_with_its_path(change: Callable[[Raw], None], path: str, message: str) -> None:
    raw = copy.deepcopy(sample_raw())
    change(raw)
    data, problems = validate(raw, "testcm.toml")
    assert data is None
    matching = [p for p in problems if p.path == path and message in p.message]
    assert matching, f"expected {path}: {message!r}, got {[str(p) for p in problems]}"
    assert str(matching[0]).startswith(f"testcm.toml: {path}: ")


def test_all_problems_are_reported_at_once() -> None:
    raw = sample_raw()
    raw["isced_level"] = "ED10"
    raw["units"][0]["outcomes"][0]["criteria"] = []
    raw["units"][1]["code"] = "U1"
    _, problems = validate(raw, "x.toml")
    assert {p.path for p in problems} >= {"isced_level", "units[0].outcomes[0].criteria", "units[1].code"}


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write_sample(tmp_path, {"credits = 3\n": "credits = \n"})
    with pytest.raises(CatalogueInvalid) as exc:
        load_catalogue([path])
    assert len(exc.value.problems) == 1
    message = str(exc.value.problems[0])
    assert "testcm.toml: not valid TOML" in message and "line" in message


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "Caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(CatalogueInvalid, match="not UTF-8"):
        load_catalogue([path])


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueInvalid) as exc:
        load_catalogue([tmp_path / "nope.toml", tmp_path / "empty"])
    messages = [p.message for p in exc.value.problems]
    assert messages == ["no such file or directory", "directory has no *.toml catalogue files"]
    assert "2 problems in the catalogue data; nothing was imported" in exc.value.message


def test_one_file_per_certification(tmp_path: Path) -> None:
    write_sample(tmp_path, name="a.toml")
    write_sample(tmp_path, {'title = "Test Central Monitor"': 'title = "Another"'}, name="b.toml")
    with pytest.raises(CatalogueInvalid) as exc:
        load_catalogue([tmp_path])
    [problem] = exc.value.problems
    assert problem.file.endswith("b.toml") and problem.path == "code"
    assert "certification 'TESTCM' is also defined in" in problem.message and "a.toml" in problem.message


def test_directory_reads_its_toml_files_only(tmp_path: Path) -> None:
    write_sample(tmp_path)
    (tmp_path / "README.md").write_text("not a catalogue file")
    assert [cf.code for cf in load_catalogue([tmp_path])] == ["TESTCM"]


# -------------------------------------------------------------------------------- the shipped catalogue

SHIPPED = PROJECT_ROOT / "config" / "catalogue"


def test_shipped_catalogue_files_all_validate() -> None:
    files = {cf.code: cf for cf in load_catalogue([SHIPPED])}
    assert {"CMIACR", "CRAIACR"} <= set(files)
    cm = files["CMIACR"].data
    assert cm["title"] == "Qualified Clinical Research Central Monitor"
    assert cm["credits"] == 12 and cm["isced_field"] in {"0919", "0988"}
    assert "JTF" in cm["framework"]


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("*.toml")))
def test_shipped_catalogue_follows_the_house_style(name: str) -> None:
    """4-6 units, 2-4 outcomes each, 2-4 observable criteria each, every unit mapped to the framework."""
    [cf] = load_catalogue([SHIPPED / name])
    units = cf.data["units"]
    assert 4 <= len(units) <= 6
    for unit in units:
        assert unit["framework_refs"], unit["code"]
        assert all(ref.startswith("JTF ") for ref in unit["framework_refs"])
        assert 2 <= len(unit["outcomes"]) <= 4, unit["code"]
        for outcome in unit["outcomes"]:
            assert outcome["code"].startswith(unit["code"] + ".")
            assert 2 <= len(outcome["criteria"]) <= 4, outcome["code"]
            for criterion in outcome["criteria"]:
                assert criterion["code"].startswith(outcome["code"] + ".")
                assert criterion["text"].startswith("The learner can "), criterion["code"]

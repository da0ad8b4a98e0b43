"""`lti-tool catalogue ...` through Flask's CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from lti_tool.admin.partner_cli import partner_cli
from lti_tool.cli import cli
from lti_tool.portfolio.catalogue.cli import catalogue_cli
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.catalogue.queries import latest_certification
from tests.catalogue_samples import write_sample
from tests.conftest import table_count

pytestmark = pytest.mark.usefixtures("shipped_catalogue")


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(catalogue_cli, list(args))


def test_groups_are_part_of_the_lti_tool_command() -> None:
    assert {"catalogue", "partner"} <= set(cli.commands)


def test_import_then_import_again(app: Flask, tmp_path: Path) -> None:
    path = write_sample(tmp_path)
    first = run(app, "import", str(path))
    assert first.exit_code == 0, first.output
    assert first.output.startswith("TESTCM: version 1 created from ")
    again = run(app, "import", str(tmp_path))
    assert again.exit_code == 0
    assert "TESTCM: version 1 unchanged" in again.output
    changed = write_sample(tmp_path, {"Escalate findings.": "Escalate findings to the study team."})
    third = run(app, "import", str(changed))
    assert "TESTCM: version 2 created (was version 1)" in third.output
    assert latest_certification("TESTCM").version == 2  # type: ignore[union-attr]


def test_import_without_paths_reads_the_catalogue_directory(app: Flask) -> None:
    result = run(app, "import")
    assert result.exit_code == 0, result.output
    assert "CMIACR: version 1 unchanged (" in result.output
    assert "CRAIACR: version 1 unchanged (" in result.output


def test_malformed_file_fails_with_the_messages_and_writes_nothing(app: Flask, tmp_path: Path) -> None:
    write_sample(tmp_path, name="good.toml")
    write_sample(
        tmp_path,
        {
            'code = "TESTCM"': 'code = "BAD"',
            'isced_field = "0988"': 'isced_field = "988"',
            'text = "Escalate findings."': 'text = ""',
        },
        name="bad.toml",
    )
    before = table_count(Certification)
    result = run(app, "import", str(tmp_path))
    assert result.exit_code != 0
    assert "Error: 2 problems in the catalogue data; nothing was imported:" in result.output
    assert "bad.toml: isced_field: '988' is not an ISCED-F 2013 detailed field" in result.output
    assert "bad.toml: units[1].outcomes[0].text: is empty" in result.output
    assert "Traceback" not in result.output
    assert table_count(Certification) == before
    assert latest_certification("TESTCM") is None


def test_list_shows_every_version(app: Flask, tmp_path: Path) -> None:
    run(app, "import", str(write_sample(tmp_path)))
    run(app, "import", str(write_sample(tmp_path, {"Escalate findings.": "Escalate findings promptly."})))
    result = run(app, "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["CODE", "VERSION", "TITLE", "LEVEL", "FIELD", "CREDITS", "UNITS"]
    rows = [line.split() for line in lines[1:]]
    assert ["CMIACR", "1", "Qualified", "Clinical", "Research", "Central", "Monitor", "ED6", "0988", "12", "5"] in rows
    assert [r[:2] for r in rows if r[0] == "TESTCM"] == [["TESTCM", "1"], ["TESTCM", "2"]]
    assert ["ED6", "0988", "3", "2"] == [r for r in rows if r[0] == "TESTCM"][0][-4:]


def test_show_prints_the_tree(app: Flask, tmp_path: Path) -> None:
    run(app, "import", str(write_sample(tmp_path)))
    result = run(app, "show", "TESTCM")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("TESTCM version 1 (latest): Test Central Monitor")
    assert "ISCED 2011 level ED6 (Bachelor's or equivalent level)" in out
    assert "Credits: 3 (30 notional learning hours, 30 CPD/CPE points)" in out
    assert "Unit U1: Risk-based quality management (2 credits)" in out
    assert "Maps to: JTF 4: Clinical Study Operations (GCPs)" in out
    assert "  Outcome U1.2: Define quality tolerance limits." in out
    assert "    U1.2.1  The learner can propose quality tolerance limits with a rationale." in out
    assert out.index("U1.1.2") < out.index("U1.2.1") < out.index("Unit U2") < out.index("U2.1.1")


def test_show_an_earlier_version(app: Flask, tmp_path: Path) -> None:
    run(app, "import", str(write_sample(tmp_path)))
    run(app, "import", str(write_sample(tmp_path, {"Escalate findings.": "Escalate findings promptly."})))
    old = run(app, "show", "TESTCM", "--version", "1")
    assert old.output.startswith("TESTCM version 1: ")
    assert "Outcome U2.1: Escalate findings.\n" in old.output
    assert "Outcome U2.1: Escalate findings promptly." in run(app, "show", "TESTCM").output
    missing = run(app, "show", "TESTCM", "--version", "9")
    assert missing.exit_code != 0
    assert "Error: TESTCM has no version 9 (versions: 1, 2)." in missing.output


def test_show_unknown_code(app: Flask) -> None:
    result = run(app, "show", "NOPE")
    assert result.exit_code != 0
    assert "Error: No certification 'NOPE' in the catalogue." in result.output


def test_show_marks_company_criteria_and_filters_by_partner(app: Flask) -> None:
    all_partners = run(app, "show", "CMIACR").output
    assert "DA-CM4.2.1  [demo-academy] The learner can log an escalated central monitoring finding" in all_partners
    as_academy = run(app, "show", "CMIACR", "--partner", "demo-academy").output
    assert "As assessed for demo-academy (Demo Academy)" in as_academy
    assert "[demo-academy]" in as_academy
    app.test_cli_runner().invoke(partner_cli, ["add", "other", "--name", "Other"])
    as_other = run(app, "show", "CMIACR", "--partner", "other").output
    assert "DA-CM4.2.1" not in as_other and "CM4.2.3" in as_other
    unknown = run(app, "show", "CMIACR", "--partner", "ghost")
    assert unknown.exit_code != 0 and "No partner 'ghost'" in unknown.output

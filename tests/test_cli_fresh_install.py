"""The command line on a fresh install: help needs no database; on the embedded SQLite default the CLI
brings the schema up to date (as `make run` does); elsewhere it says exactly what to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lti_tool import cli as cli_module

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_") and k != "DATABASE_URL"}
    env.update(LTI_TOOL_INSTANCE_DIR=str(tmp_path / "instance"), LTI_TOOL_KEYS_DIR=str(tmp_path / "keys"), **extra)
    return env


def _lti_tool(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lti_tool.cli import main; main()", *args],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _every_command(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        out.append(path)
        if isinstance(command, click.Group):
            out.extend(_every_command(command, path))
    return out


@pytest.mark.slow  # a fresh Python process: seconds
def test_top_level_help_works_without_a_database(backend, tmp_path):
    for args in ((), ("--help",)):
        result = _lti_tool(tmp_path, *args)
        assert result.returncode == (0 if args else 2), result.stderr  # click: a group without a command exits 2
        shown = result.stdout + result.stderr  # click prints a group's help to stderr when no command is given
        assert "behind the code" not in shown
        for group in ("db", "grading", "registration", "partner", "catalogue", "serve"):
            assert f"  {group} " in shown, (group, shown)
    assert not (tmp_path / "instance").exists()  # help created nothing


def test_every_commands_help_works_without_a_database(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("LTI_TOOL_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()
    paths = _every_command(cli_module.cli)
    assert ("grading", "credits-column") in paths and ("registration", "add") in paths
    for path in paths:
        monkeypatch.setattr(sys, "argv", ["lti-tool", *path, "--help"])
        result = runner.invoke(cli_module.cli, [*path, "--help"], prog_name="lti-tool")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: lti-tool " + " ".join(path) in result.output
    assert not (tmp_path / "instance" / "lti_tool.sqlite3").exists()


@pytest.mark.slow  # a fresh Python process: seconds
def test_a_command_on_a_fresh_embedded_database_brings_the_schema_up_to_date(backend, tmp_path):
    result = _lti_tool(tmp_path, "grading", "jobs")
    assert result.returncode == 0, result.stderr
    assert "No grade jobs." in result.stdout and "schema upgraded" in result.stderr
    again = _lti_tool(tmp_path, "partner", "list")
    assert again.returncode == 0 and "schema upgraded" not in again.stderr


@pytest.mark.slow  # a fresh Python process: seconds
def test_where_the_schema_is_checked_the_cli_says_what_to_run(backend, tmp_path):
    result = _lti_tool(tmp_path, "grading", "jobs", LTI_TOOL_SCHEMA_MODE="check")
    assert result.returncode != 0
    assert "The database schema is behind the code" in result.stdout + result.stderr
    assert "Run: lti-tool db upgrade" in result.stdout + result.stderr
    assert cli_module.schema_mode() == {} or os.environ.get("LTI_TOOL_SCHEMA_MODE") is None


def test_schema_mode_is_upgrade_only_on_sqlite(backend, monkeypatch):
    for name in ("LTI_TOOL_SCHEMA_MODE", "LTI_TOOL_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert cli_module.schema_mode() == {"SCHEMA_MODE": "upgrade"}
    monkeypatch.setenv("LTI_TOOL_DATABASE_URL", "postgresql://db.example/lti")
    assert cli_module.schema_mode() == {}
    monkeypatch.setenv("LTI_TOOL_DATABASE_URL", "sqlite:////srv/lti.sqlite3")
    monkeypatch.setenv("LTI_TOOL_SCHEMA_MODE", "check")
    assert cli_module.schema_mode() == {}

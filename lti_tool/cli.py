"""`lti-tool`: the command line (Flask's, plus the tool's own groups listed in `commands`)."""

from __future__ import annotations

import importlib
import os
import sys

from flask import Flask
from flask.cli import FlaskGroup

from lti_tool.app import create_app
from lti_tool.commands import COMMANDS


def asks_for_help(args: list[str]) -> bool:
    """`lti-tool`, `lti-tool --help`, `lti-tool grading retry --help`: help only, which needs no database."""
    return not args or "--help" in args


def schema_mode() -> dict[str, str]:
    """On the embedded SQLite database the CLI brings the schema up to date, as `make run` does; elsewhere
    (PostgreSQL) it checks, and says to run `lti-tool db upgrade` when the schema is behind. An explicit
    LTI_TOOL_SCHEMA_MODE wins."""
    if os.environ.get("LTI_TOOL_SCHEMA_MODE"):
        return {}
    url = os.environ.get("LTI_TOOL_DATABASE_URL") or os.environ.get("DATABASE_URL") or "sqlite:"
    return {"SCHEMA_MODE": "upgrade"} if url.startswith("sqlite") else {}


def _create_app() -> Flask:
    args = sys.argv[1:]
    if asks_for_help(args):
        # Help lists the commands (added to the group below) and their options: on a fresh install there is
        # no database yet, and help must still work. A bare app with Flask-Migrate's `db` group (which
        # create_app's Migrate adds) lists the same commands.
        bare = Flask("lti_tool")
        # Through importlib: flask_migrate ships no type information (pyproject ignores only its top module).
        bare.cli.add_command(importlib.import_module("flask_migrate.cli").db, name="db")
        return bare
    # `lti-tool db ...` must run on a database that is behind: that is what it is for.
    if args[:1] == ["db"]:
        return create_app({"SCHEMA_MODE": "skip"})
    return create_app(schema_mode())


cli = FlaskGroup(create_app=_create_app, add_default_commands=True, help=__doc__)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="lti-tool")

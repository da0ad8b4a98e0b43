"""`lti-tool`: the command line (Flask's, plus the tool's own groups listed in `commands`)."""

from __future__ import annotations

import sys

from flask import Flask
from flask.cli import FlaskGroup

from lti_tool.app import create_app
from lti_tool.commands import COMMANDS


def _create_app() -> Flask:
    # `lti-tool db ...` must run on a database that is behind: that is what it is for.
    if sys.argv[1:2] == ["db"]:
        return create_app({"SCHEMA_MODE": "skip"})
    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=True, help=__doc__)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="lti-tool")

"""Small helpers shared by the command-line groups: who is acting, and one transaction per command."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import IntegrityError

from lti_tool.store.db import db
from lti_tool.web.errors import UserError


def cli_actor_label() -> str:
    """The audit trail's 'who' for a command: the operating-system login."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        login = "unknown"
    return f"cli:{login}"


@contextmanager
def cli_errors() -> Iterator[None]:
    """A refusal (UserError) becomes a clean CLI error, and nothing the command started is kept."""
    try:
        yield
    except UserError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc


@contextmanager
def cli_transaction() -> Iterator[None]:
    """One transaction per command: commit what it did, or keep none of it."""
    with cli_errors():
        try:
            yield
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise click.ClickException(
                "The change conflicts with data stored meanwhile (another process "
                "made the same change?); nothing was saved. Check and try again."
            ) from exc

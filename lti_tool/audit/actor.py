"""Who is acting, as the audit trail records it (a launched person, or an operator, a command, a
registration), and the command line's one transaction per command."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import trail as audit
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

if TYPE_CHECKING:
    from lti_tool.launch.models import LtiUser


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a launched person (`actor`), or a label ('cli:alice', 'dynamic registration
    from ...', 'demo setup'), acting in `role`."""

    actor: LtiUser | None = None
    label: str = ""
    role: str = ""

    def describe(self) -> str:
        return self.label or (self.actor.display_name() if self.actor is not None else "system")

    def record(self, action: str, **fields: Any) -> audit.AuditEvent:
        return audit.record(action, actor=self.actor, actor_label=self.label, role=self.role, **fields)


def cli_actor_label() -> str:
    """The audit trail's 'who' for a command: the operating-system login."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        login = "unknown"
    return f"cli:{login}"


def cli_actor(role: str = "operator") -> Actor:
    """The person running a command, as every command records them."""
    return Actor(label=cli_actor_label(), role=role)


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

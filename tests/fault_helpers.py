"""Faults injected where they would really happen: a database connection dropping at a chosen write or at
the commit, and a disk filling up while a file is written."""

from __future__ import annotations

import errno
import os
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lti_tool.store.db import db


def dropped_connection() -> OperationalError:
    return OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))


class DatabaseBlip:
    """Raises OperationalError once, as a dropped connection would, at the first flush that writes `model`
    (before the INSERT is sent, or after it was sent but before the commit)."""

    def __init__(self, model: type, when: str) -> None:
        self.model, self.when, self.fired = model, when, False

    def __call__(self, session: Session, *args: object) -> None:
        if self.fired or not any(isinstance(obj, self.model) for obj in session.new):
            return
        self.fired = True
        raise dropped_connection()

    def __enter__(self) -> DatabaseBlip:
        event.listen(Session, self.when, self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Session, self.when, self)


class CommitBlip:
    """The connection drops as COMMIT is sent, once: every write of the transaction was made, none kept."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, conn: Any) -> None:
        if not self.fired:
            self.fired = True
            raise dropped_connection()

    def __enter__(self) -> CommitBlip:
        event.listen(db.engine, "commit", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(db.engine, "commit", self)


def committed_count(model: type, *where: Any) -> int:
    """Rows as another process sees them: on a connection of its own, so nothing uncommitted is counted."""
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model).where(*where)) or 0


class FullDisk:
    """A file object that accepts `room` bytes, then fails as a full disk does (ENOSPC, or another errno)."""

    def __init__(self, fh: Any, room: int, errno: int = errno.ENOSPC) -> None:
        self._fh, self.room, self.errno = fh, room, errno

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(self.errno, os.strerror(self.errno))
        self.room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

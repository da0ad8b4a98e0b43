"""Rows that change rarely, kept in this process's memory so that hot paths (every launch, every portfolio page)
need not read them again, with a written bound on how stale they may be.

A `Memo` is declared once at module level (no state there: the values live in the app's `extensions`, so two
apps in one process, as in the tests, never see each other's). Each entry lives `seconds` (a config setting
read at each store; None: until invalidated, for data that never changes once stored), and every memo is
cleared in this process when a flush of this process inserts, updates or deletes a row of a model the memo
`depends_on` (and again when that transaction commits, so that a value read meanwhile by another thread of
this process is not kept). Other processes see such a change when their entry expires: `seconds` is the
bound. Changes made without the ORM (bulk UPDATE/DELETE statements) are not seen until then either.

`install(app)` (create_app) hooks the flush and commit listeners onto SQLAlchemy's Session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction, make_transient_to_detached

from lti_tool.store.db import db

V = TypeVar("V")
EXTENSION = "lti_tool.memo"
_TOUCHED = "lti_tool.memo_touched"  # Session.info: the model classes this transaction changed
_MISSING: Any = object()
_declared: list[Memo[Any]] = []


class Memo(Generic[V]):
    def __init__(
        self,
        name: str,
        depends_on: tuple[type, ...],
        seconds_setting: str | None,
        *,
        max_entries: int = 4096,
    ) -> None:
        self.name = name
        self.depends_on = depends_on
        self.seconds_setting = seconds_setting
        self.max_entries = max_entries
        _declared.append(self)

    def _entries(self) -> dict[Hashable, tuple[float, V]]:
        store = current_app.extensions.setdefault(EXTENSION, {})
        return store.setdefault(self.name, {})

    def get(self, key: Hashable, load: Callable[[], V], *, keep: Callable[[V], bool] = lambda _v: True) -> V:
        """The value for `key`, from memory while it is fresh, else `load()` (kept when `keep(value)`)."""
        entries = self._entries()
        found = entries.get(key)
        now = time.monotonic()
        if found is not None and found[0] > now:
            return found[1]
        value = load()
        if keep(value):
            seconds = current_app.config[self.seconds_setting] if self.seconds_setting else None
            if seconds is None or seconds > 0:
                if len(entries) >= self.max_entries:
                    entries.clear()  # a bound on memory; the hot keys come back at once
                entries[key] = (now + seconds if seconds is not None else float("inf"), value)
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Keep `value` as if just loaded (after this process fetched it anew)."""
        self.forget(key)
        self.get(key, lambda: value)

    def forget(self, key: Hashable) -> None:
        self._entries().pop(key, None)

    def clear(self) -> None:
        self._entries().clear()


def _clear_for(classes: set[type]) -> None:
    if not classes or not has_app_context():
        return
    store = current_app.extensions.get(EXTENSION)
    if not store:
        return
    for memo in _declared:
        if any(issubclass(c, memo.depends_on) for c in classes):
            store.pop(memo.name, None)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    # Dirty objects without a net change (a row merged from a memo) are not changes.
    changed = [obj for obj in session.dirty if session.is_modified(obj, include_collections=False)]
    classes = {type(obj) for obj in (*session.new, *changed, *session.deleted)}
    if classes:
        session.info.setdefault(_TOUCHED, set()).update(classes)
        _clear_for(classes)


def _after_commit(session: Session) -> None:
    _clear_for(session.info.pop(_TOUCHED, set()))


def _after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


_install_lock = threading.Lock()


def install(app: Flask) -> None:
    """Clear memos on changes made through any session of this process (idempotent: once per process)."""
    app.extensions.setdefault(EXTENSION, {})
    with _install_lock:
        if not event.contains(Session, "after_flush", _after_flush):
            event.listen(Session, "after_flush", _after_flush)
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_rollback", _after_rollback)


M = TypeVar("M")


def row_values(row: Any) -> dict[str, Any]:
    """A loaded row's column values, to keep in a memo (never the ORM object: it belongs to one session)."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


def attached_row(model: type[M], values: dict[str, Any]) -> M:
    """The row for memoised `values`, in the current session without a query (the session's own copy when it
    has one already): a detached instance merged with load=False."""
    row = model(**values)
    make_transient_to_detached(row)
    return db.session.merge(row, load=False)

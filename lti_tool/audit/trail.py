"""Append-only, tamper-evident audit trail: each event carries the hash of the one before it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, SmallInteger, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.store.db import JSONText, Model, db, utcnow

GENESIS = "0" * 64
# Format 1 hashed every column but the row id, so an event's id could be changed unnoticed; format 2 also
# hashes the id and the format number. Events keep the format they were written in: re-hashing an existing
# trail would destroy the evidence it is kept for.
HASH_FORMAT = 2


class AuditEvent(Model):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id"), nullable=True, index=True)
    actor_label: Mapped[str] = mapped_column(String(300), default="")  # name, or 'cli:<login>' / 'system'
    role: Mapped[str] = mapped_column(String(40), default="")
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject_type: Mapped[str] = mapped_column(String(40), default="")
    subject_id: Mapped[str] = mapped_column(String(80), default="", index=True)
    before: Mapped[Any] = mapped_column(JSONText, nullable=True)
    after: Mapped[Any] = mapped_column(JSONText, nullable=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The server default marks rows that existed before the column did (written in format 1).
    hash_format: Mapped[int] = mapped_column(SmallInteger, default=HASH_FORMAT, server_default="1")


class UnknownHashFormat(ValueError):
    pass


def _canonical(event: AuditEvent) -> bytes:
    body: dict[str, Any] = {
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "role": event.role,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
        "rationale": event.rationale,
        "prev_hash": event.prev_hash,
    }
    if event.hash_format == 2:
        body.update(id=event.id, format=2)
    elif event.hash_format != 1:
        raise UnknownHashFormat(f"hash format {event.hash_format!r}")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    """The event's hash in the format it declares; raises UnknownHashFormat for any other."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def _lock_chain_head() -> AuditEvent | None:
    """The latest event, locked on PostgreSQL so concurrent writers chain one after another."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(db.func.pg_advisory_xact_lock(0x417564)))  # 'Aud'
    return db.session.scalar(query)


def record(
    action: str,
    *,
    actor: Any = None,
    actor_label: str = "",
    role: str = "",
    subject: Any = None,
    subject_type: str = "",
    subject_id: str | int = "",
    before: Any = None,
    after: Any = None,
    rationale: str = "",
) -> AuditEvent:
    """Append an event in the caller's transaction (it commits or rolls back with the change it records)."""
    if subject is not None:
        subject_type = subject_type or subject.__tablename__
        subject_id = subject_id or subject.id
    head = _lock_chain_head()
    event = AuditEvent(
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label or (actor.display_name() if actor is not None else "system"),
        role=role,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        rationale=rationale or "",
        prev_hash=head.hash if head else GENESIS,
        hash_format=HASH_FORMAT,
        # The hash covers the id, which only the INSERT assigns: a unique placeholder stands in until then.
        hash="pending-" + secrets.token_hex(28),
    )
    db.session.add(event)
    db.session.flush()
    event.hash = compute_hash(event)
    db.session.flush()
    return event


@dataclass
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""
    head_id: int | None = None
    head_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def _load(ids: list[int]) -> list[tuple[int, AuditEvent | None]]:
    """The events with these ids, None for one whose stored values cannot even be read (e.g. text that is
    not JSON in a JSON column): that is tampering too, and must be reported rather than crash the check."""

    def query(*where: Any) -> Any:
        return select(AuditEvent).where(*where).order_by(AuditEvent.id).execution_options(populate_existing=True)

    try:
        return [(e.id, e) for e in db.session.scalars(query(AuditEvent.id.in_(ids)))]
    except SQLAlchemyError:
        raise  # the database itself failed: not a verdict on the trail
    except Exception:  # one row cannot be read: find which, below
        pass
    found: list[tuple[int, AuditEvent | None]] = []
    for event_id in ids:
        try:
            event = db.session.scalars(query(AuditEvent.id == event_id)).one_or_none()
        except SQLAlchemyError:
            raise
        except Exception:
            found.append((event_id, None))
            continue
        if event is not None:
            found.append((event_id, event))
    return found


def _problem(event: AuditEvent, prev: str) -> str:
    if event.prev_hash != prev:
        return "its link to the previous event is broken (an event before it was removed, inserted or altered)"
    try:
        expected = compute_hash(event)
    except UnknownHashFormat:
        return "its hash format is unknown (it was altered)"
    except (TypeError, ValueError, AttributeError):
        return "a stored value has the wrong type (it was altered)"
    if expected != event.hash:
        return "its content does not match its hash (it was altered)"
    return ""


def verify_chain(batch: int = 1000, *, expected_head: str | None = None) -> ChainReport:
    """Walk the chain in order; report the first event whose content or link does not match.

    A chain proves nothing about its own end: the latest events could be removed, or the very last one
    rewritten with a fresh hash. `expected_head`, a head hash recorded outside the database by an earlier
    check, closes that gap: the event carrying it must still be in the chain.
    """
    prev = GENESIS
    checked = 0
    last_id = 0
    head_seen = expected_head is None
    head_id: int | None = None
    while True:
        ids = list(
            db.session.scalars(
                select(AuditEvent.id).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            )
        )
        if not ids:
            break
        for event_id, event in _load(ids):
            if event is None:
                return ChainReport(checked, event_id, "a stored value cannot be read (it was altered)")
            problem = _problem(event, prev)
            if problem:
                return ChainReport(checked, event_id, problem)
            head_seen = head_seen or event.hash == expected_head
            prev, head_id = event.hash, event_id
            checked += 1
        last_id = ids[-1]
    if not head_seen:
        return ChainReport(
            checked,
            None,
            f"the event with the recorded head hash {expected_head} is no longer in "
            "the chain (the latest events were removed or rewritten)",
            head_id=head_id,
            head_hash=prev,
        )
    return ChainReport(checked, head_id=head_id, head_hash=prev)

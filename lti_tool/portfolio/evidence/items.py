"""Evidence items and their files: checking what the learner sends, and the life of stored blobs.

Blobs are shared by content (two identical uploads are one blob) and outlive the live portfolio while a
submission snapshot refers to them. The rule that keeps both safe: a blob is only written for, or removed
from, an address while its StoredFile row is locked, so an upload and a clean-up of the same content
never interleave (PostgreSQL; the embedded SQLite setup serialises writers anyway).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from flask_babel import gettext
from sqlalchemy import String, cast, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from lti_tool.audit import trail as audit
from lti_tool.portfolio.evidence.file_checks import UploadRefused, check_upload
from lti_tool.portfolio.evidence.storage import FileTooLarge, storage
from lti_tool.portfolio.evidence.storage_faults import storage_faults
from lti_tool.portfolio.models import EVIDENCE_KINDS, EvidenceFile, EvidenceItem, Portfolio, StoredFile, Submission
from lti_tool.store.db import db, utcnow
from lti_tool.web.errors import NotFound, UserError

log = logging.getLogger(__name__)

MAX_FILES_PER_ITEM = 20
MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
EARLIEST_DATE = dt.date(1950, 1, 1)


@dataclass
class ItemFields:
    kind: str = ""
    title: str = ""
    description: str = ""
    evidence_date: dt.date | None = None
    criterion_ids: set[int] = field(default_factory=set)


@dataclass
class Upload:
    """One file as received: a seekable stream and the name the browser gave."""

    stream: BinaryIO
    name: str | None


def clean_item_fields(
    form: Mapping[str, Any], criterion_ids: Iterable[int], today: dt.date | None = None
) -> tuple[ItemFields, dict[str, str]]:
    """Validate the item form. Returns the cleaned fields and {field: message} for what is wrong."""
    getlist = getattr(form, "getlist", lambda key: [form[key]] if key in form else [])
    errors: dict[str, str] = {}
    out = ItemFields(
        kind=(form.get("kind") or "").strip(),
        title=" ".join((form.get("title") or "").split()),
        description=(form.get("description") or "").strip(),
    )
    if out.kind not in EVIDENCE_KINDS:
        errors["kind"] = gettext("Choose the kind of evidence.")
    if not out.title:
        errors["title"] = gettext("Give the evidence a title.")
    elif len(out.title) > MAX_TITLE:
        errors["title"] = gettext("Keep the title under %(limit)s characters.", limit=MAX_TITLE)
    if len(out.description) > MAX_DESCRIPTION:
        errors["description"] = gettext("Keep the description under %(limit)s characters.", limit=MAX_DESCRIPTION)
    raw_date = (form.get("evidence_date") or "").strip()
    if raw_date:
        try:
            out.evidence_date = dt.date.fromisoformat(raw_date)
        except ValueError:
            errors["evidence_date"] = gettext("Enter the date as year-month-day, for example 2024-03-31.")
        else:
            # One day of slack: the learner's "today" may already be tomorrow in UTC's terms.
            latest = (today or dt.date.today()) + dt.timedelta(days=1)
            if out.evidence_date > latest:
                errors["evidence_date"] = gettext("The date must not be in the future.")
            elif out.evidence_date < EARLIEST_DATE:
                errors["evidence_date"] = gettext("Enter a date after %(year)s.", year=EARLIEST_DATE.year)
    allowed = set(criterion_ids)
    chosen: set[int] = set()
    for raw in getlist("criteria"):
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = -1
        if value not in allowed:
            errors["criteria"] = gettext(
                "One of the chosen criteria is not part of this certification. Reload the page."
            )
            break
        chosen.add(value)
    out.criterion_ids = chosen
    return out, errors


def apply_fields(item: EvidenceItem, fields: ItemFields, criteria_by_id: Mapping[int, Any]) -> None:
    item.kind = fields.kind
    item.title = fields.title
    item.description = fields.description
    item.evidence_date = fields.evidence_date
    item.criteria = [criteria_by_id[i] for i in sorted(fields.criterion_ids)]
    item.updated_at = utcnow()


def item_summary(item: EvidenceItem) -> dict[str, Any]:
    """What the audit trail keeps about an item (no free text beyond the title)."""
    return {
        "kind": item.kind,
        "title": item.title,
        "date": item.evidence_date.isoformat() if item.evidence_date else None,
        "criteria": sorted(c.id for c in item.criteria),
        "files": [f.sha256 for f in item.files],
    }


# --- mapping from the criterion's side ---------------------------------------------------------------


def map_criterion(portfolio: Portfolio, criterion: Any, item_ids: Iterable[int], *, actor: Any) -> tuple[int, int]:
    """Make exactly the items `item_ids` of the portfolio support `criterion` (linking and unlinking from the
    criterion's side; the evidence form maps from the item's). The caller commits and checks the portfolio is
    editable. Each item changed is audited as an edit of that item. Returns (linked, unlinked)."""
    wanted = set(item_ids)
    if wanted - {item.id for item in portfolio.evidence}:
        raise UserError(
            "One of the chosen evidence items is not (or no longer) in your portfolio.",
            hint="Reload the page and choose again.",
        )
    linked = unlinked = 0
    for item in portfolio.evidence:
        has = any(c.id == criterion.id for c in item.criteria)
        if has == (item.id in wanted):
            continue
        before = item_summary(item)
        if has:
            item.criteria = [c for c in item.criteria if c.id != criterion.id]
            unlinked += 1
        else:
            item.criteria = sorted([*item.criteria, criterion], key=lambda c: c.id)
            linked += 1
        item.updated_at = utcnow()
        db.session.flush()
        audit.record(
            "evidence.changed", actor=actor, role="learner", subject=item, before=before, after=item_summary(item)
        )
    if linked or unlinked:
        portfolio.updated_at = utcnow()
    return linked, unlinked


# --- files -------------------------------------------------------------------------------------------


def max_upload_bytes(config: Mapping[str, Any]) -> int:
    return int(config["MAX_UPLOAD_MB"]) * 1024 * 1024


def max_media_bytes(config: Mapping[str, Any]) -> int:
    """The limit per audio or video file (file_checks.FileType.media)."""
    return int(config["MAX_MEDIA_UPLOAD_MB"]) * 1024 * 1024


def _lock_stored_file(sha256: str, size: int = 0, media_type: str = "application/octet-stream") -> StoredFile:
    """The blob's row, locked; inserted if absent (an insert waits for a concurrent insert of the same
    content to finish, which is what serialises two uploads, or an upload and a clean-up)."""
    query = select(StoredFile).where(StoredFile.sha256 == sha256).with_for_update()
    row = db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = StoredFile(sha256=sha256, size=size, media_type=media_type)
            db.session.add(row)
        return row
    except IntegrityError:
        row = db.session.execute(query.execution_options(populate_existing=True)).scalar_one()
        return row


def store_upload(
    upload: Upload, *, max_bytes: int, created: list[str], max_media_bytes: int | None = None
) -> tuple[StoredFile, str]:
    """Check and store one file; returns its locked StoredFile row and safe display name. Audio and video
    have their own limit (`max_media_bytes`, when given); every other type `max_bytes`.

    Every blob newly written is appended to `created`, so the caller can clean up if the transaction fails.
    """
    checked = check_upload(upload.stream, upload.name)
    if checked.file_type.media and max_media_bytes is not None:
        max_bytes = max_media_bytes
    store = storage()
    upload.stream.seek(0)
    try:
        with storage_faults(checked.filename):
            result = store.put(upload.stream, max_bytes=max_bytes)
    except FileTooLarge as exc:
        limit_mb = exc.limit // (1024 * 1024)
        raise UploadRefused(
            gettext("'%(name)s' is larger than the limit of %(mb)s MB per file.", name=checked.filename, mb=limit_mb),
            status=413,
            hint=gettext("Record a shorter clip, or at a lower quality, and upload it again.")
            if checked.file_type.media
            else gettext(
                "Reduce its size (for example save a PDF at a lower image quality, or split it into parts) and "
                "upload it again."
            ),
        ) from exc
    if result.created:
        created.append(result.sha256)
    row = _lock_stored_file(result.sha256, result.size, checked.file_type.media_type)
    with storage_faults(checked.filename):
        if not store.exists(result.sha256):
            # A clean-up removed the identical blob between our write and our lock: write it again.
            upload.stream.seek(0)
            again = store.put(upload.stream, max_bytes=max_bytes)
            if again.created:
                created.append(again.sha256)
    row.size = result.size
    row.media_type = checked.file_type.media_type
    return row, checked.filename


def blob_in_use(sha256: str) -> bool:
    """Referenced by a live evidence file or by any submission's snapshot."""
    live = db.session.scalar(select(exists().where(EvidenceFile.sha256 == sha256)))
    if live:
        return True
    # Snapshots are JSON text; the 64-hex address cannot occur in them by accident.
    frozen = select(exists().where(cast(Submission.snapshot, String).contains(sha256)))
    return bool(db.session.scalar(frozen))


def release_blobs(shas: Iterable[str]) -> None:
    """Remove blobs nothing refers to any more. Runs in its own transaction (after the caller's commit)."""
    store = storage()
    for sha in dict.fromkeys(shas):
        try:
            row = _lock_stored_file(sha)
            if not blob_in_use(sha):
                store.delete(sha)
                db.session.delete(row)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise


@contextmanager
def upload_transaction() -> Iterator[list[str]]:
    """Yields the list `store_upload` fills; if anything fails, nothing of the attempt stays behind."""
    created: list[str] = []
    try:
        yield created
    except BaseException:
        db.session.rollback()
        if created:
            try:
                release_blobs(created)
            except Exception:
                # The storage or the database that failed the upload may also refuse the clean-up; the
                # original failure is what the person must see. The blobs are encrypted and unreferenced.
                log.exception("could not remove the blobs of a failed upload, left behind: %s", created)
        raise


def add_files(
    item: EvidenceItem, uploads: list[Upload], *, max_bytes: int, created: list[str], max_media_bytes: int | None = None
) -> None:
    if len(item.files) + len(uploads) > MAX_FILES_PER_ITEM:
        raise UserError(
            gettext("An evidence item can hold at most %(max)s files.", max=MAX_FILES_PER_ITEM),
            hint="Split the evidence into several items, or combine pages into one PDF.",
        )
    for upload in uploads:
        row, name = store_upload(upload, max_bytes=max_bytes, created=created, max_media_bytes=max_media_bytes)
        item.files.append(EvidenceFile(sha256=row.sha256, filename=name, stored=row))


def remove_files(item: EvidenceItem, file_ids: Iterable[int]) -> list[str]:
    """Detach files from the live item; returns the blob addresses to release after commit."""
    wanted = set(file_ids)
    removed = [f for f in item.files if f.id in wanted]
    for f in removed:
        item.files.remove(f)
    return [f.sha256 for f in removed]


def create_item(
    portfolio: Portfolio,
    fields: ItemFields,
    criteria_by_id: Mapping[int, Any],
    uploads: list[Upload],
    *,
    max_bytes: int,
    actor: Any,
    created: list[str],
    max_media_bytes: int | None = None,
) -> EvidenceItem:
    item = EvidenceItem(portfolio=portfolio)
    apply_fields(item, fields, criteria_by_id)
    db.session.add(item)
    add_files(item, uploads, max_bytes=max_bytes, created=created, max_media_bytes=max_media_bytes)
    portfolio.updated_at = utcnow()
    db.session.flush()
    audit.record("evidence.added", actor=actor, role="learner", subject=item, after=item_summary(item))
    return item


def update_item(
    item: EvidenceItem,
    fields: ItemFields,
    criteria_by_id: Mapping[int, Any],
    uploads: list[Upload],
    remove_file_ids: Iterable[int],
    *,
    max_bytes: int,
    actor: Any,
    created: list[str],
    max_media_bytes: int | None = None,
) -> list[str]:
    before = item_summary(item)
    apply_fields(item, fields, criteria_by_id)
    released = remove_files(item, remove_file_ids)
    add_files(item, uploads, max_bytes=max_bytes, created=created, max_media_bytes=max_media_bytes)
    item.portfolio.updated_at = utcnow()
    db.session.flush()
    audit.record("evidence.changed", actor=actor, role="learner", subject=item, before=before, after=item_summary(item))
    return released


def delete_item(item: EvidenceItem, *, actor: Any) -> list[str]:
    """Remove the item (the caller commits); NotFound when another request removed it first.

    Two removals of one item at once (a double click, two tabs) both load it. A no-op UPDATE of its row
    first takes the row's lock (PostgreSQL: waits for the other removal to commit, then matches nothing) so
    the later one is a clear 404 before it writes anything; a DELETE that still finds no row (StaleDataError
    at the flush) is the same 404, its audit entry rolled back with it."""
    locked = db.session.execute(
        update(EvidenceItem)
        .where(EvidenceItem.id == item.id)
        .values(portfolio_id=EvidenceItem.portfolio_id)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        raise ItemGone()
    shas = [f.sha256 for f in item.files]
    audit.record("evidence.removed", actor=actor, role="learner", subject=item, before=item_summary(item))
    item.portfolio.updated_at = utcnow()
    db.session.delete(item)
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise ItemGone() from None
    return shas


class ItemGone(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "This evidence item was already removed, perhaps from another tab or by a double click.",
            hint="Go back to your portfolio: it shows what is there now.",
        )

"""Finding evidence blobs that nothing refers to and removing them (`lti-tool housekeeping sweep-evidence`).

Uploads and removals already release their blobs as they go; what is left for a sweep is what a process
killed mid-way leaves behind: a blob written but never recorded, a record whose release failed, the
temporary pieces of an upload that never finished. Every removal goes through `release_blobs`, which
locks the blob's row first, so a sweep racing an upload of the same content cannot take the upload's file
(the upload then writes it again). Blobs younger than the grace period are left alone all the same:
a sweep never needs to look at uploads in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import exists, select

from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.evidence.items import release_blobs
from lti_tool.portfolio.evidence.storage import EvidenceStorage, StorageError
from lti_tool.portfolio.models import EvidenceFile, StoredFile, Submission
from lti_tool.store.db import db, utcnow

log = logging.getLogger(__name__)
PAGE = 500


@dataclass
class SweepReport:
    unrecorded: list[str] = field(default_factory=list)  # blobs in storage with no record
    unreferenced: list[str] = field(default_factory=list)  # records (and blobs) nothing refers to
    partials: int = 0  # pieces of unfinished uploads
    problems: list[tuple[str, str]] = field(default_factory=list)


def _unrecorded_blobs(store: EvidenceStorage, cutoff: dt.datetime) -> Iterator[str]:
    """Blobs older than the cutoff without a StoredFile row, looked up a page of addresses at a time."""
    page: list[str] = []

    def unknown(addresses: list[str]) -> list[str]:
        known = set(db.session.scalars(select(StoredFile.sha256).where(StoredFile.sha256.in_(addresses))))
        return [a for a in addresses if a not in known]

    for sha256, written in store.blobs():
        if written < cutoff:
            page.append(sha256)
        if len(page) >= PAGE:
            yield from unknown(page)
            page = []
    if page:
        yield from unknown(page)


def _unreferenced_records(cutoff: dt.datetime) -> list[str]:
    """Records older than the cutoff that no live evidence file or submission snapshot names. The snapshots
    are read once, in a stream, rather than searched once per candidate: files removed after a submission
    are common, and each search would scan every submission."""
    candidates = set(
        db.session.scalars(
            select(StoredFile.sha256).where(
                StoredFile.created_at < cutoff, ~exists().where(EvidenceFile.sha256 == StoredFile.sha256)
            )
        )
    )
    if candidates:
        snapshots = db.session.scalars(select(Submission.snapshot).execution_options(yield_per=PAGE))
        for snapshot in snapshots:
            for file in snap.files(snapshot):
                candidates.discard(file.get("sha256"))
    return sorted(candidates)


def sweep_evidence(store: EvidenceStorage, *, older_than: dt.timedelta, dry_run: bool = False) -> SweepReport:
    cutoff = utcnow() - older_than
    report = SweepReport()
    try:
        report.unrecorded = list(_unrecorded_blobs(store, cutoff))
        report.unreferenced = _unreferenced_records(cutoff)
    except StorageError as exc:
        report.problems.append(("(storage)", str(exc)))
        return report
    finally:
        db.session.rollback()  # nothing read above is kept locked or cached into the removals
    if dry_run:
        return report
    for sha256 in [*report.unrecorded, *report.unreferenced]:
        try:
            release_blobs([sha256])  # checks again under the row lock: only what is still unused goes
        except Exception as exc:  # one blob's trouble must not stop the sweep
            db.session.rollback()
            log.warning("evidence sweep could not remove %s", sha256, exc_info=True)
            report.problems.append((sha256, str(exc)))
    try:
        report.partials = store.remove_stale_partials(cutoff)
    except StorageError as exc:
        report.problems.append(("(unfinished uploads)", str(exc)))
    return report

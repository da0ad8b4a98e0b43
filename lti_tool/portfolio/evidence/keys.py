"""Rotating the evidence encryption key: re-seal every stored file under the first configured key.

The procedure (README, "Rotating the evidence key"): put a new key first in LTI_TOOL_EVIDENCE_KEY and keep
the old one after it (`new,old`), restart, run `lti-tool evidence rekey`, then drop the old key. Files go on
being readable throughout: every configured key opens blobs, and each blob is replaced atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti_tool.portfolio.evidence.storage import EvidenceStorage, StorageError, storage
from lti_tool.portfolio.models import StoredFile
from lti_tool.store.db import db

PAGE = 500
SHOWN_PROBLEMS = 20


@dataclass
class RekeyReport:
    current: int = 0  # already under the first key
    rekeyed: int = 0  # re-sealed now (or, in a dry run, would be)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (sha256, what is wrong)

    @property
    def total(self) -> int:
        return self.current + self.rekeyed + len(self.problems)


def stored_addresses() -> Iterator[str]:
    """Every blob the database knows, in pages (a large store never sits in memory whole)."""
    after = ""
    while True:
        page = list(
            db.session.scalars(
                select(StoredFile.sha256).where(StoredFile.sha256 > after).order_by(StoredFile.sha256).limit(PAGE)
            )
        )
        if not page:
            return
        yield from page
        after = page[-1]


def _rekey_locked(store: EvidenceStorage, sha256: str) -> bool | None:
    """Re-seal one blob while its row is locked, as every writer of an address does (lti_tool/portfolio/
    evidence.py), so a removal cannot interleave and leave it behind. None when the row is gone."""
    try:
        row = db.session.scalar(select(StoredFile.sha256).where(StoredFile.sha256 == sha256).with_for_update())
        return None if row is None else store.rekey(sha256)
    finally:
        db.session.rollback()  # nothing changed in the database: this only releases the lock


def rekey_all(store: EvidenceStorage, *, dry_run: bool = False) -> RekeyReport:
    """Re-seal every stored blob that is not under the current key. A blob that is missing, damaged or
    sealed with a key no longer configured is reported and left as it is; the others carry on."""
    report = RekeyReport()
    current_id = store.keys.current_id
    for sha256 in stored_addresses():
        done: bool | None
        try:
            if dry_run:
                done = store.key_id(sha256) != current_id
            else:
                done = _rekey_locked(store, sha256)
                if done is None:  # removed since it was listed
                    continue
        except StorageError as exc:
            report.problems.append((sha256, str(exc)))
            continue
        if done:
            report.rekeyed += 1
        else:
            report.current += 1
    return report


@click.group("evidence", help="Evidence file storage: key rotation.")
def evidence_cli() -> None:
    pass


@evidence_cli.command(
    "rekey",
    short_help="Re-encrypt evidence files under the current key.",
    help="Re-encrypt every evidence file under the first key of "
    "LTI_TOOL_EVIDENCE_KEY, so that the older keys can be removed.",
)
@click.option("--dry-run", is_flag=True, help="Only count the files still under an older key.")
@with_appcontext
def rekey_command(dry_run: bool) -> None:
    report = rekey_all(storage(), dry_run=dry_run)
    verb = "would be re-encrypted" if dry_run else "re-encrypted"
    click.echo(
        f"{report.total} evidence files: {report.rekeyed} {verb}, {report.current} already under the "
        f"current key, {len(report.problems)} with problems."
    )
    for sha256, problem in report.problems[:SHOWN_PROBLEMS]:
        click.echo(f"  {sha256}: {problem}", err=True)
    if len(report.problems) > SHOWN_PROBLEMS:
        click.echo(f"  ... and {len(report.problems) - SHOWN_PROBLEMS} more", err=True)
    if report.problems:
        raise click.ClickException(
            "Some files could not be checked or re-encrypted (listed above). Keep every older key in "
            "LTI_TOOL_EVIDENCE_KEY until they are restored from backup or accounted for."
        )
    if not dry_run:
        click.echo(
            "Every evidence file is under the current key: the older keys can now be removed from "
            "LTI_TOOL_EVIDENCE_KEY (keep a copy with your backups that still hold files under them)."
        )

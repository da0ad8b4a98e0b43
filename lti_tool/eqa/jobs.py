"""Packs built in the background: request, claim, build with progress, expire.

A request writes a queued PackJob (audited). A worker (`lti-tool pack work`, or the thread `lti-tool serve`
starts when LTI_TOOL_PACK_THREAD is on) claims one job at a time, writes the ZIP under LTI_TOOL_PACK_DIR
(as `<id>-<random>.zip.part`, renamed when whole), counts the portfolios written in `done` (committed after
each, so the EQA's page shows progress), and marks it ready with an expiry LTI_TOOL_PACK_TTL_HOURS later. A
worker that dies mid-build leaves the job `building` with a heartbeat that stops; after
LTI_TOOL_PACK_LEASE_SECONDS another worker takes it over. Housekeeping (`expire_packs`) deletes the files of
expired packs and of failed builds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context
from flask_babel import force_locale, get_locale, gettext
from sqlalchemy import or_, select, update

from lti_tool.audit import trail as audit
from lti_tool.audit.actor import Actor
from lti_tool.credentials import issuer
from lti_tool.eqa.builder import PackError, write_pack
from lti_tool.eqa.models import BUILDING, EXPIRED, FAILED, QUEUED, READY, PackJob
from lti_tool.launch.language import ENGLISH
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.models import Portfolio
from lti_tool.store.db import db, rowcount, utcnow
from lti_tool.web.background import BackgroundWorker, start_worker
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def request_pack(by: Actor, portfolio_ids: list[int], *, kind: str, criteria: dict[str, Any] | None = None) -> PackJob:
    """Queue a pack of these portfolios (in this order); audited. The caller commits."""
    if not portfolio_ids:
        raise UserError("No portfolio matches: there is nothing to put in a pack.", status=422)
    limit = int(current_app.config["PACK_MAX_PORTFOLIOS"])
    if len(portfolio_ids) > limit:
        raise UserError(
            gettext(
                "A pack holds at most %(limit)s portfolios; this one would hold %(count)s.",
                limit=limit,
                count=len(portfolio_ids),
            ),
            status=422,
            hint="Narrow the sample, or take a smaller random share.",
        )
    job = PackJob(
        kind=kind,
        requested_by_id=by.actor.id if by.actor is not None else None,
        requested_label=by.describe(),
        language=_requester_language(),
        portfolio_ids=list(portfolio_ids),
        criteria=dict(criteria or {}),
        total=len(portfolio_ids),
        state=QUEUED,
    )
    db.session.add(job)
    db.session.flush()
    by.record(
        "eqa.pack_requested",
        subject_type="pack_job",
        subject_id=job.id,
        after={"kind": kind, "portfolios": list(portfolio_ids), "criteria": job.criteria},
    )
    return job


def _requester_language() -> str:
    """The language the person asking reads the tool in (their request's locale); none on the command line."""
    locale = get_locale() if has_request_context() else None
    return str(locale) if locale is not None else ""


def pack_dir(app: Flask | None = None) -> Path:
    app = app or current_app
    path = Path(app.config["PACK_DIR"])
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _takeable(now: dt.datetime) -> Any:
    lease = timedelta(seconds=float(current_app.config["PACK_LEASE_SECONDS"]))
    return or_(PackJob.state == QUEUED, (PackJob.state == BUILDING) & (PackJob.heartbeat_at < now - lease))


def claim(job_id: int, worker_id: str) -> bool:
    """Take this job if it is queued, or building under a worker that stopped beating; committed."""
    now = utcnow()
    taken = db.session.execute(
        update(PackJob)
        .where(PackJob.id == job_id, _takeable(now))
        .values(state=BUILDING, worker_id=worker_id, heartbeat_at=now, started_at=now, done=0)
    )
    db.session.commit()
    return rowcount(taken) == 1


def claim_next(worker_id: str) -> int | None:
    """Take the oldest queued job, or a building one whose worker stopped beating; its id (committed)."""
    for job_id in db.session.scalars(select(PackJob.id).where(_takeable(utcnow())).order_by(PackJob.id).limit(5)):
        if claim(job_id, worker_id):
            return job_id
    return None


def _portfolios(ids: list[int]) -> Iterator[Portfolio]:
    """One at a time, so a pack of many portfolios never holds them all."""
    for portfolio_id in ids:
        portfolio = db.session.get(Portfolio, portfolio_id)
        if portfolio is None:
            raise PackError(f"portfolio {portfolio_id} no longer exists")
        yield portfolio


def build(job_id: int, worker_id: str = "") -> PackJob:
    """Build one claimed job to the end: ready, or failed with the reason. Commits as it goes."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    job = db.session.get(PackJob, job_id)
    assert job is not None
    final = pack_dir(app) / f"{job.id}-{secrets.token_hex(8)}.zip"
    part = final.with_name(final.name + ".part")
    ids = list(job.portfolio_ids)

    def progress(n: int) -> None:
        db.session.execute(update(PackJob).where(PackJob.id == job_id).values(done=n, heartbeat_at=utcnow()))
        db.session.commit()

    key = issuer.signing_key()
    try:
        with force_locale(job.language or ENGLISH):
            manifest = write_pack(
                part,
                _portfolios(ids),
                store=storage(app),
                key=key,
                public_jwk=issuer.public_jwk(key),
                issuer={
                    "id": issuer.issuer_id(),
                    "name": app.config["ISSUER_NAME"],
                    "jwks_url": issuer.issuer_jwks_url(),
                },
                sample=dict(job.criteria) if job.kind == "sample" else None,
                progress=progress,
            )
        os.replace(part, final)
    except Exception as exc:  # any failure ends the job as failed, with its reason, and no file left
        db.session.rollback()
        part.unlink(missing_ok=True)
        log.exception("pack job %s failed", job_id)
        job = db.session.get(PackJob, job_id)
        assert job is not None
        job.state, job.error, job.finished_at = FAILED, _reason(exc), utcnow()
        audit.record("eqa.pack_failed", role="system", subject=job, after={"error": job.error})
        db.session.commit()
        return job
    job = db.session.get(PackJob, job_id, with_for_update=True, populate_existing=True)
    assert job is not None
    if worker_id and job.worker_id != worker_id:
        # This worker was presumed dead and another took the job over: its pack stands, this one goes.
        db.session.rollback()
        final.unlink(missing_ok=True)
        log.warning("pack job %s was taken over by %s; dropping this build", job_id, job.worker_id)
        return job
    now = utcnow()
    job.state, job.file_path, job.finished_at = READY, str(final), now
    job.size = final.stat().st_size
    job.sha256 = _file_sha256(final)
    job.done = len(ids)
    job.expires_at = now + timedelta(hours=float(app.config["PACK_TTL_HOURS"]))
    audit.record(
        "eqa.pack_built",
        role="system",
        subject=job,
        after={
            "portfolios": ids,
            "sha256": job.sha256,
            "size": job.size,
            "files": len(manifest["files"]),
            "signing_key": manifest["signing_key"]["thumbprint"],
        },
    )
    db.session.commit()
    return job


def _reason(exc: Exception) -> str:
    if isinstance(exc, PackError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"the pack could not be written: {exc.strerror or exc}"
    return f"unexpected error ({type(exc).__name__}); the log has the details"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while piece := fh.read(1024 * 1024):
            digest.update(piece)
    return digest.hexdigest()


def process_queue(worker_id: str | None = None, stop: threading.Event | None = None) -> int:
    """Build queued jobs until none is left (or `stop`); how many were built or failed."""
    worker_id = worker_id or default_worker_id()
    n = 0
    while not (stop is not None and stop.is_set()):
        job_id = claim_next(worker_id)
        if job_id is None:
            break
        build(job_id, worker_id)
        n += 1
    return n


def run_worker(app: Flask, *, once: bool = False, stop: threading.Event | None = None) -> int:
    """The pack worker's loop: until `stop` is set, or one pass with `once`."""
    stop = stop or threading.Event()
    worker_id = default_worker_id()
    total = 0
    while not stop.is_set():
        with app.app_context():
            try:
                n = process_queue(worker_id, stop)
            except Exception:  # e.g. the database is briefly unreachable: log, wait, try again
                log.exception("pack worker pass failed")
                db.session.rollback()
                n = 0
            finally:
                db.session.remove()
        total += n
        if once:
            break
        stop.wait(0 if n else float(app.config["PACK_POLL_SECONDS"]))
    return total


THREAD_NAME = "pack-worker"


def start_background_worker(app: Flask) -> BackgroundWorker:
    """The in-process pack worker of the embedded setup (`lti-tool serve`)."""
    return start_worker(app, THREAD_NAME, lambda app, stop: run_worker(app, stop=stop))


@dataclass
class Expired:
    packs: int = 0
    files: int = 0


def expire_packs() -> Expired:
    """Ready packs past their expiry become expired and their files are deleted; files of failed builds too.
    The caller commits (housekeeping does)."""
    out = Expired()
    now = utcnow()
    for job in db.session.scalars(select(PackJob).where(PackJob.state == READY, PackJob.expires_at < now)):
        if job.file_path and _remove(Path(job.file_path)):
            out.files += 1
        job.state, job.file_path = EXPIRED, ""
        audit.record("eqa.pack_expired", role="system", subject=job, before={"sha256": job.sha256})
        out.packs += 1
    # Pieces of builds that stopped (a killed worker) are left as .part; a failed build removed its own.
    # A build being written touches its file all the time: one untouched for two leases is abandoned.
    directory = Path(current_app.config["PACK_DIR"])
    if directory.is_dir():
        stale = now.timestamp() - float(current_app.config["PACK_LEASE_SECONDS"]) * 2
        for path in directory.glob("*.zip.part"):
            if path.stat().st_mtime < stale and _remove(path):
                out.files += 1
    return out


def _remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def downloadable(job: PackJob) -> Path:
    """The ready pack's file, or a 404/410 saying why not."""
    if job.state in (READY, EXPIRED) and (job.state == EXPIRED or (job.expires_at and job.expires_at < utcnow())):
        raise UserError("This pack has expired and its file was deleted; request it again.", status=410)
    if job.state != READY:
        raise UserError(
            gettext("This pack is not ready: %(state)s.", state=gettext(job.state_label).lower()), status=409
        )
    path = Path(job.file_path)
    if not path.is_file():
        raise UserError("This pack's file is missing; request the pack again.", status=410)
    return path

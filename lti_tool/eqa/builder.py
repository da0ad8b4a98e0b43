"""Writing a pack: a ZIP on disk, entry by entry, never the whole pack (nor one evidence file) in memory.

Layout:
    README.txt                       what the pack is and how to check it
    manifest.json, manifest.sig      see manifest.py
    issuer-key.jwk.json              the public key that signed the manifest
    sample.json                      for a sample: how its portfolios were chosen
    portfolio-<id>/summary.pdf       the PDF summary
    portfolio-<id>/record.json       the same facts as data (decisions, verification, appeals, award)
    portfolio-<id>/submissions/attempt-<n>.json   each submission snapshot as frozen
    portfolio-<id>/evidence/<sha256 prefix>-<file name>   every submitted file, byte for byte
    portfolio-<id>/audit-events.json the portfolio's audit events, with the chain head when the pack was made

Evidence is copied from the evidence storage (decrypted as it streams) in 1 MiB pieces and hashed on the way;
a file whose content does not match its address stops the build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from flask_babel import gettext

from lti_tool.eqa import manifest as mf
from lti_tool.eqa import summary_pdf
from lti_tool.eqa.record import PortfolioRecord, audit_events, chain_head, event_dict, load
from lti_tool.launch.keys import ToolKey
from lti_tool.portfolio.evidence.storage import EvidenceStorage, StorageError
from lti_tool.portfolio.models import Portfolio
from lti_tool.store.db import utcnow
from lti_tool.web.errors import N_

CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")

# The pack's README.txt, in the pack's language (jobs.build sets it: the requester's).
README = N_(
    """Portfolio pack for external quality assurance
=============================================

Made by %(issuer_name)s (%(issuer_id)s) on %(made_at)s UTC; %(count)s portfolio(s).

Each portfolio-<id>/ folder holds the portfolio's PDF summary (summary.pdf) and the same facts as data
(record.json), its submissions as frozen when submitted (submissions/), every evidence file as submitted
(evidence/), and its audit events (audit-events.json) with the head of the tool's audit chain when the pack
was made.

Checking the pack
-----------------
manifest.json lists every other file with its sha256 and size. manifest.sig is a JWS (RFC 7515, compact
serialization, detached payload as in its Appendix F) over the exact bytes of manifest.json, signed RS256 with
the issuer key whose public half is issuer-key.jwk.json (thumbprint %(thumbprint)s, RFC 7638).

  lti-tool pack verify THIS.zip            (or: python -m lti_tool.eqa.manifest THIS.zip)

checks every file's hash and size, that no file is missing or added, and the signature. To be sure that the
key is the issuer's, compare its thumbprint with the keys published at %(jwks_url)s
(`lti-tool pack verify THIS.zip --trusted-jwks SAVED_JWKS.json` does this offline).

The audit events
----------------
Each event in audit-events.json carries its hash: sha256 of the JSON object of its fields at, actor_id,
actor_label, role, action, subject_type, subject_id, before, after, rationale and prev_hash (plus id and
format: 2 when hash_format is 2), keys sorted, separators "," and ":" (no spaces), so each can be recomputed
here. The events of one portfolio are not neighbours in the tool's chain, so their prev_hash links are checked
in the tool: `lti-tool audit verify --head <chain_head.hash>` shows that the whole chain is intact and still
holds the head recorded in this pack.
"""
)


def safe_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.replace("/", "_").replace("\\", "_")).strip(" .") or "file"
    return cleaned[:120]


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode()


class PackWriter:
    """A ZIP being written: each entry hashed as it is written, for the manifest."""

    def __init__(self, path: Path, made_at: dt.datetime) -> None:
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.files: list[dict[str, Any]] = []
        self._stamp = made_at.timetuple()[:6]

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True, listed: bool = True) -> None:
        self.zip.writestr(self._info(name, compress), data)
        if listed:
            self.files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

    def add_stream(self, name: str, stream: BinaryIO, *, compress: bool = False) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with self.zip.open(self._info(name, compress), "w", force_zip64=True) as out:
            while piece := stream.read(CHUNK):
                digest.update(piece)
                size += len(piece)
                out.write(piece)
        sha256 = digest.hexdigest()
        self.files.append({"path": name, "sha256": sha256, "size": size})
        return sha256, size

    def close(self) -> None:
        self.zip.close()


class PackError(Exception):
    """The pack cannot be made (evidence missing or damaged, for instance): the job fails with this message."""


def _write_portfolio(
    writer: PackWriter, store: EvidenceStorage, portfolio: Portfolio, made_at: dt.datetime, head: dict[str, Any]
) -> None:
    record = load(portfolio)
    folder = f"portfolio-{portfolio.id}"
    paths: dict[str, str] = {}
    for f in record.files():
        name = f"{folder}/evidence/{f['sha256'][:16]}-{safe_name(f['filename'])}"
        try:
            with store.get(f["sha256"]) as stream:
                sha256, size = writer.add_stream(name, stream)
        except StorageError as exc:
            raise PackError(f"portfolio {portfolio.id}: evidence file {f['filename']!r} cannot be read: {exc}") from exc
        if sha256 != f["sha256"]:
            raise PackError(f"portfolio {portfolio.id}: evidence file {f['filename']!r} does not match its hash")
        paths[f["sha256"]] = name
    for attempt in record.attempts:
        writer.add_bytes(f"{folder}/submissions/attempt-{attempt.submission.attempt}.json", _json(attempt.snapshot))
    events = audit_events(record)
    events_path = f"{folder}/audit-events.json"
    writer.add_bytes(
        events_path,
        _json(
            {
                "portfolio_id": portfolio.id,
                "chain_head": head,
                "hash_algorithm": "sha256 over canonical JSON (lti_tool/audit/trail.py, hash_format 1 or 2)",
                "events": [event_dict(e) for e in events],
            }
        ),
    )
    writer.add_bytes(f"{folder}/record.json", _json(record_data(record, paths)))
    pdf = summary_pdf.build(
        record, file_paths=paths, made_at=made_at, chain_head=head, events=len(events), events_path=events_path
    )
    writer.add_bytes(f"{folder}/summary.pdf", pdf, compress=False)


def record_data(record: PortfolioRecord, paths: dict[str, str]) -> dict[str, Any]:
    """The facts of the PDF as data."""
    p = record.portfolio
    return {
        "portfolio_id": p.id,
        "learner": {"name": record.learner, "email": p.user.email, "lms_issuer": p.user.issuer, "lms_sub": p.user.sub},
        "certification": {
            "code": p.certification.code,
            "version": p.certification.version,
            "title": p.certification.title,
        },
        "partner": p.partner.name if p.partner else None,
        "route": p.route,
        "state": p.state,
        "attempts": [
            {
                "attempt": a.submission.attempt,
                "submitted_at": a.submission.created_at,
                "snapshot": f"portfolio-{p.id}/submissions/attempt-{a.submission.attempt}.json",
                "decisions": [
                    {
                        "assessor": d.assessment.assessor.display_name(),
                        "decision": d.assessment.decision,
                        "decided_at": d.assessment.decided_at,
                        "feedback": d.assessment.summary,
                        "judgements": [
                            {"criterion_id": cid, "met": met, "feedback": fb} for cid, (met, fb) in d.judgements.items()
                        ],
                        "sampling": None
                        if d.sampling is None
                        else {"sampled": d.sampling.sampled, "reasons": d.sampling.reasons},
                    }
                    for d in a.decisions
                ],
                "verification": [
                    {
                        "step": r.step,
                        "outcome": r.outcome,
                        "verifier": r.verifier.display_name() if r.verifier else None,
                        "at": r.created_at,
                        "rationale": r.rationale,
                    }
                    for r in a.verifications
                ],
            }
            for a in record.attempts
        ],
        "appeals": [
            {
                "lodged_at": ap.lodged_at,
                "grounds": ap.grounds,
                "status": ap.status,
                "decided_by": ap.decided_by.display_name() if ap.decided_by else None,
                "decided_at": ap.decided_at,
                "rationale": ap.outcome_rationale,
            }
            for ap in record.appeals
        ],
        "award": None
        if record.award is None
        else {
            "certificate_number": record.award.certificate_number,
            "awarded_on": record.award.awarded_on,
            "credits": record.award.credits,
            "cpd_points": record.award.cpd_points,
            "revoked_at": record.award.revoked_at,
            "revocation_reason": record.award.revocation_reason,
            "credential_id": record.credential.credential_id if record.credential else None,
            "credential_jwt": record.credential.jwt if record.credential else None,
        },
        "evidence_files": paths,
    }


def write_pack(
    path: Path,
    portfolios: Iterable[Portfolio],
    *,
    store: EvidenceStorage,
    key: ToolKey,
    public_jwk: dict[str, Any],
    issuer: dict[str, str],
    sample: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the pack of `portfolios` to `path`; the manifest. `progress(n)` is called after each portfolio."""
    made_at = utcnow().replace(microsecond=0)
    head = chain_head()
    writer = PackWriter(path, made_at)
    ids: list[int] = []
    try:
        key_bytes = _json(public_jwk)
        writer.add_bytes(mf.KEY_FILE, key_bytes)
        for n, portfolio in enumerate(portfolios, start=1):
            _write_portfolio(writer, store, portfolio, made_at, head)
            ids.append(portfolio.id)
            if progress is not None:
                progress(n)
        if sample is not None:
            writer.add_bytes("sample.json", _json({**sample, "portfolios": ids}))
        thumb = mf.thumbprint(public_jwk)
        writer.add_bytes(
            "README.txt",
            gettext(
                README,
                issuer_name=issuer.get("name", ""),
                issuer_id=issuer.get("id", ""),
                made_at=made_at.isoformat(),
                count=len(ids),
                thumbprint=thumb,
                jwks_url=issuer.get("jwks_url", ""),
            ).encode(),
        )
        manifest = {
            "format": mf.FORMAT,
            "made_at": made_at.isoformat(),
            "issuer": issuer,
            "signing_key": {"thumbprint": thumb, "file": mf.KEY_FILE, "alg": "RS256"},
            "portfolios": ids,
            "audit_chain_head": head,
            "files": sorted(writer.files, key=lambda f: f["path"]),
        }
        raw = mf.manifest_bytes(manifest)
        writer.add_bytes(mf.MANIFEST, raw, listed=False)
        writer.add_bytes(mf.SIGNATURE, mf.sign(raw, key.private_pem, key.kid).encode(), listed=False)
    finally:
        writer.close()
    return manifest

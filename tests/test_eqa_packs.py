"""EQA packs: what a pack holds (the PDF summary read back, the evidence byte for byte, the snapshots, the audit
events), the signed manifest checked offline by `verify` and `lti-tool pack verify`, tampering caught, and the
background job's life (queued -> building -> ready -> downloaded -> expired; failed when evidence is gone)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.audit.trail import AuditEvent
from lti_tool.credentials import issuer
from lti_tool.eqa import jobs
from lti_tool.eqa import manifest as mf
from lti_tool.eqa.cli import pack_cli
from lti_tool.eqa.models import BUILDING, EXPIRED, FAILED, QUEUED, READY, PackJob
from lti_tool.housekeeping import purge_expired
from lti_tool.launch.keys import KeyStore
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db, utcnow
from tests.eqa_helpers import eqa_world, pdf_bytes


def _build(ids: list[int], kind: str = "portfolio") -> PackJob:
    job = jobs.request_pack(Actor(label="test", role="operator"), ids, kind=kind)
    db.session.commit()
    assert jobs.claim_next("test-worker") == job.id
    return jobs.build(job.id, "test-worker")


def _pdf_text(zf: zipfile.ZipFile, name: str) -> str:
    reader = PdfReader(io.BytesIO(zf.read(name)))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def _rewrite(
    src: Path, dst: Path, *, change: dict[str, bytes] | None = None, drop: str = "", add: dict[str, bytes] | None = None
) -> None:
    """A copy of the ZIP with entries replaced, dropped or added (what a tamperer would do)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == drop:
                continue
            zout.writestr(info.filename, (change or {}).get(info.filename, zin.read(info)))
        for name, data in (add or {}).items():
            zout.writestr(name, data)


def test_pack_of_an_awarded_portfolio_holds_the_record_and_verifies(sqlite_app):
    world = eqa_world()
    p = world.w.portfolio
    job = _build([p.id])
    assert job.state == READY and job.done == job.total == 1, job.error
    assert job.expires_at is not None and job.expires_at > utcnow() + dt.timedelta(hours=71)
    path = Path(job.file_path)
    report = mf.verify(path)
    assert report.ok, report.problems
    assert report.portfolios == [p.id]
    assert report.thumbprint == issuer.signing_key().kid  # the issuer key signed it

    award = db.session.scalar(select(Award).where(Award.portfolio_id == p.id))
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        folder = f"portfolio-{p.id}"
        assert {
            f"{folder}/summary.pdf",
            f"{folder}/record.json",
            f"{folder}/audit-events.json",
            f"{folder}/submissions/attempt-1.json",
            "README.txt",
            mf.MANIFEST,
            mf.SIGNATURE,
            mf.KEY_FILE,
        } <= names
        text = _pdf_text(zf, f"{folder}/summary.pdf")
        for expected in (
            "Lee Learner",  # learner
            f"CMIACR version {p.certification.version}",  # certification and version
            "Unit U1",
            "The learner can do 1.1",  # each criterion
            "Monitoring plan",  # the evidence mapped
            "Clear plan, well evidenced",  # the assessor's feedback
            "Sam Assessor",
            "Vera Internal",  # who verified, why
            "Sampled: the judgements hold.",
            "Eli Independent",
            "Confirmed after reading the plan.",
            award.certificate_number,  # the award
            "Appeals",
        ):
            assert expected in text, expected
        evidence = [n for n in names if n.startswith(f"{folder}/evidence/")]
        assert len(evidence) == 1 and evidence[0].endswith("plan 1.pdf")
        assert zf.read(evidence[0]) == pdf_bytes("acme-plan-secret")  # byte for byte as submitted
        snapshot = json.loads(zf.read(f"{folder}/submissions/attempt-1.json"))
        assert snapshot == p.submissions[0].snapshot
        events = json.loads(zf.read(f"{folder}/audit-events.json"))
        actions = [e["action"] for e in events["events"]]
        assert "portfolio.submitted" in actions and "award.made" in actions
        assert all(e["hash_matches_content"] for e in events["events"])
        head = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert events["chain_head"]["hash"] and events["chain_head"]["id"] < head.id  # pack_built came after
        manifest = json.loads(zf.read(mf.MANIFEST))
        assert {f["path"] for f in manifest["files"]} == names - {mf.MANIFEST, mf.SIGNATURE}
    built = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "eqa.pack_built"))
    assert built.after["sha256"] == job.sha256


def test_tampering_is_caught(sqlite_app, tmp_path):
    world = eqa_world()
    job = _build([world.w.portfolio.id])
    src = Path(job.file_path)
    with zipfile.ZipFile(src) as zf:
        evidence = next(n for n in zf.namelist() if "/evidence/" in n)
        manifest = json.loads(zf.read(mf.MANIFEST))

    changed = tmp_path / "changed.zip"
    _rewrite(src, changed, change={evidence: pdf_bytes("forged")})
    report = mf.verify(changed)
    assert not report.ok and report.problems == [
        f"{evidence}: its content does not match the manifest (the file was changed)"
    ]

    # Changing the manifest to match the forged file breaks the signature.
    forged = pdf_bytes("forged")
    for entry in manifest["files"]:
        if entry["path"] == evidence:
            entry["sha256"], entry["size"] = hashlib.sha256(forged).hexdigest(), len(forged)
    both = tmp_path / "both.zip"
    _rewrite(src, both, change={evidence: forged, mf.MANIFEST: mf.manifest_bytes(manifest)})
    assert any("signature does not match" in p for p in mf.verify(both).problems)

    added = tmp_path / "added.zip"
    _rewrite(src, added, add={"portfolio-1/evidence/extra.pdf": b"%PDF-1.4 extra"})
    assert mf.verify(added).problems == [
        "portfolio-1/evidence/extra.pdf: in the ZIP but not in the manifest (a file was added)"
    ]

    dropped = tmp_path / "dropped.zip"
    _rewrite(src, dropped, drop=evidence)
    assert mf.verify(dropped).problems == [f"{evidence}: in the manifest but not in the ZIP (a file was removed)"]

    # Re-signed by someone else's key, with that key put in the pack: the key no longer matches the manifest's.
    other = KeyStore(tmp_path / "other-keys", prefix="issuer").ensure()
    raw = mf.manifest_bytes(manifest)
    resigned = tmp_path / "resigned.zip"
    _rewrite(
        src,
        resigned,
        change={
            evidence: forged,
            mf.MANIFEST: raw,
            mf.SIGNATURE: mf.sign(raw, other.private_pem, other.kid).encode(),
            mf.KEY_FILE: json.dumps(other.public_jwk()).encode(),
        },
    )
    problems = mf.verify(resigned).problems
    assert any("not the key the manifest names" in p for p in problems), problems
    # ... and a forger who rewrites everything consistently (the manifest naming their key, listing their key
    # file) makes a pack that is whole: only the issuer's published keys tell that it is not the issuer's.
    key_bytes = json.dumps(other.public_jwk()).encode()
    manifest["signing_key"]["thumbprint"] = other.kid
    for entry in manifest["files"]:
        if entry["path"] == mf.KEY_FILE:
            entry["sha256"], entry["size"] = hashlib.sha256(key_bytes).hexdigest(), len(key_bytes)
    raw = mf.manifest_bytes(manifest)
    signature = mf.sign(raw, other.private_pem, other.kid).encode()
    _rewrite(
        src, resigned, change={evidence: forged, mf.MANIFEST: raw, mf.SIGNATURE: signature, mf.KEY_FILE: key_bytes}
    )
    assert mf.verify(resigned).ok
    assert mf.verify(resigned, issuer.issuer_jwks()).problems == ["the signing key is not in the trusted key set"]
    assert mf.verify(src, issuer.issuer_jwks()).trusted is True

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    assert "not a readable ZIP file" in mf.verify(garbage).problems[0]


def test_pack_verify_command(sqlite_app, tmp_path):
    world = eqa_world()
    src = Path(_build([world.w.portfolio.id]).file_path)
    runner = CliRunner()
    result = runner.invoke(pack_cli, ["verify", str(src)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ") and "Signed by key" in result.output

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.issuer_jwks()))
    result = runner.invoke(pack_cli, ["verify", str(src), "--trusted-jwks", str(jwks)])
    assert result.exit_code == 0 and "The key is in the trusted key set given." in result.output

    with zipfile.ZipFile(src) as zf:
        evidence = next(n for n in zf.namelist() if "/evidence/" in n)
    bad = tmp_path / "bad.zip"
    _rewrite(src, bad, change={evidence: b"%PDF-1.4 changed"})
    result = runner.invoke(pack_cli, ["verify", str(bad)])
    assert result.exit_code == 1
    assert "FAILED: 1 problem(s)" in result.output and evidence in result.output

    result = runner.invoke(pack_cli, ["verify", str(tmp_path / "missing.zip")])
    assert result.exit_code == 1 and "no such file" in result.output
    # The module's own entry point (what a regulator without the tool's database runs).
    assert mf.main([str(src)]) == 0 and mf.main([str(bad)]) == 1


def test_job_lifecycle_queued_ready_downloaded_expired(sqlite_app):
    world = eqa_world()
    job = jobs.request_pack(Actor(label="test"), [world.w.portfolio.id, world.other_portfolio.id], kind="sample")
    db.session.commit()
    assert job.state == QUEUED and job.total == 2 and job.done == 0
    assert jobs.process_queue("w1") == 1
    db.session.refresh(job)
    assert job.state == READY and job.done == 2 and Path(job.file_path).is_file()
    assert jobs.downloadable(job) == Path(job.file_path)
    assert jobs.process_queue("w1") == 0  # nothing left

    job.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    counts = purge_expired()
    assert counts["packs"] == 1 and counts["pack_files"] == 1
    db.session.refresh(job)
    assert job.state == EXPIRED and not Path(job.file_path or "/nonexistent").exists()
    with pytest.raises(Exception) as refused:
        jobs.downloadable(job)
    assert getattr(refused.value, "status", None) == 410


def test_a_build_whose_evidence_is_gone_fails_and_leaves_no_file(sqlite_app):
    world = eqa_world()
    sha = world.w.portfolio.submissions[0].snapshot["evidence"][0]["files"][0]["sha256"]
    jobs.storage().delete(sha)
    job = _build([world.w.portfolio.id])
    assert job.state == FAILED and "cannot be read" in job.error
    assert list(Path(sqlite_app.config["PACK_DIR"]).glob("*")) == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "eqa.pack_failed")) is not None


def test_a_build_abandoned_by_a_dead_worker_is_taken_over(sqlite_app):
    world = eqa_world()
    job = jobs.request_pack(Actor(label="test"), [world.w.portfolio.id], kind="portfolio")
    db.session.commit()
    assert jobs.claim_next("dead-worker") == job.id
    assert jobs.claim_next("other") is None  # still leased
    job.heartbeat_at = utcnow() - dt.timedelta(seconds=sqlite_app.config["PACK_LEASE_SECONDS"] + 1)
    db.session.commit()
    assert jobs.claim_next("other") == job.id
    db.session.refresh(job)
    assert job.state == BUILDING and job.worker_id == "other"


def test_a_pack_larger_than_allowed_is_refused(sqlite_app):
    sqlite_app.config["PACK_MAX_PORTFOLIOS"] = 1
    with pytest.raises(Exception) as refused:
        jobs.request_pack(Actor(label="test"), [1, 2], kind="sample")
    assert "at most 1 portfolios" in str(refused.value)


def test_build_command_for_operators(sqlite_app, tmp_path):
    world = eqa_world()
    out = tmp_path / "copy.zip"
    result = CliRunner().invoke(
        pack_cli, ["build", "--portfolio", str(world.w.portfolio.id), "--out", str(out)], obj=None
    )
    assert result.exit_code == 0, result.output
    assert mf.verify(out).ok
    requested = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "eqa.pack_requested"))
    assert requested.actor_label.startswith("cli:")
    result = CliRunner().invoke(pack_cli, ["build", "--portfolio", "999999"])
    assert result.exit_code == 1 and "No portfolio with id 999999" in result.output


def test_work_command_builds_what_is_queued(sqlite_app):
    world = eqa_world()
    job = jobs.request_pack(Actor(label="test"), [world.w.portfolio.id], kind="portfolio")
    db.session.commit()
    result = CliRunner().invoke(pack_cli, ["work", "--once"])
    assert result.exit_code == 0 and "Built 1 pack(s)." in result.output, result.output
    db.session.expire_all()
    assert db.session.get(PackJob, job.id).state == READY


def test_a_worker_taken_over_drops_its_own_build(sqlite_app):
    world = eqa_world()
    job = jobs.request_pack(Actor(label="test"), [world.w.portfolio.id], kind="portfolio")
    db.session.commit()
    assert jobs.claim_next("slow-worker") == job.id
    job.worker_id = "new-worker"  # as if the lease ran out and another worker claimed it meanwhile
    db.session.commit()
    jobs.build(job.id, "slow-worker")
    db.session.expire_all()
    job = db.session.get(PackJob, job.id)
    assert job.state == BUILDING and job.worker_id == "new-worker" and not job.file_path
    assert list(Path(sqlite_app.config["PACK_DIR"]).glob("*.zip")) == []


def test_the_audit_events_can_be_rehashed_from_the_pack_alone(sqlite_app):
    """What the pack's README.txt says about the events' hashes is enough to recompute them."""
    world = eqa_world()
    job = _build([world.w.portfolio.id])
    with zipfile.ZipFile(job.file_path) as zf:
        events = json.loads(zf.read(f"portfolio-{world.w.portfolio.id}/audit-events.json"))["events"]
        assert "keys sorted" in zf.read("README.txt").decode()
    assert events
    for e in events:
        fields = ("at", "actor_id", "actor_label", "role", "action", "subject_type", "subject_id", "before", "after")
        body = {k: e[k] for k in (*fields, "rationale", "prev_hash")}
        if e["hash_format"] == 2:
            body.update(id=e["id"], format=2)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
        assert hashlib.sha256(canonical).hexdigest() == e["hash"], e["action"]

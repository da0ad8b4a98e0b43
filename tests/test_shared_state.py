"""Nothing one process needs lives only in another's memory: processes starting together agree on generated
secrets and the first signing key, a rotation by another process is seen, and the health endpoint counts the
grade backlog from the database."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest
from cryptography.fernet import Fernet

from lti_tool.config import _persistent_secret, load_config
from lti_tool.launch import keys as keys_module
from lti_tool.launch.keys import KeyStore


def _together(n: int, work) -> list:
    """Run `work` in n threads released at the same moment; their results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_processes_starting_together_agree_on_a_generated_secret(tmp_path):
    path = tmp_path / "instance" / "evidence_key"
    made = iter(range(1000))

    def make() -> str:
        value = f"secret-{next(made)}"
        time.sleep(0.01)  # widen the window between deciding to create and writing
        return value

    values = _together(8, lambda: _persistent_secret(path, make))
    assert len(set(values)) == 1 and values[0].startswith("secret-")
    assert path.read_text() == values[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["evidence_key"]  # no temporary files left
    path.write_text("")
    with pytest.raises(SystemExit, match="is empty"):
        _persistent_secret(path, make)


def test_processes_starting_together_make_one_first_key(tmp_path, monkeypatch):
    directory = tmp_path / "keys"
    slow_rotate = KeyStore.rotate

    def rotate(self):
        time.sleep(0.05)  # RSA generation takes a while anyway; make the overlap certain
        return slow_rotate(self)

    monkeypatch.setattr(KeyStore, "rotate", rotate)
    # One KeyStore per "process": none shares another's memory.
    kids = _together(4, lambda: KeyStore(directory).ensure().kid)
    assert len(set(kids)) == 1
    assert len(list(directory.glob("tool-*.pem"))) == 1


def test_a_rotation_unseen_in_the_directory_time_is_picked_up_within_the_cache_ttl(tmp_path, monkeypatch):
    directory = tmp_path / "keys"
    web = KeyStore(directory)
    first = web.ensure()
    assert web.active_keys() == [first]  # cached, with the directory's current time
    before = directory.stat()
    new = KeyStore(directory).rotate()  # another process
    # A file system whose directory times do not move (coarse clock, network file system attribute cache).
    os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert web.signing_key().kid == first.kid
    later = time.monotonic() + keys_module.CACHE_SECONDS + 1
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: later)
    assert web.signing_key().kid == new.kid


def test_s3_storage_refuses_to_generate_a_host_local_evidence_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LTI_TOOL_EVIDENCE_STORAGE", "s3")
    monkeypatch.setenv("LTI_TOOL_S3_BUCKET", "evidence")
    monkeypatch.delenv("LTI_TOOL_EVIDENCE_KEY", raising=False)
    base = {"INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"}
    with pytest.raises(SystemExit, match="set LTI_TOOL_EVIDENCE_KEY, the same on every host"):
        load_config(base)
    assert not (tmp_path / "evidence_key").exists()
    shared = Fernet.generate_key().decode()
    monkeypatch.setenv("LTI_TOOL_EVIDENCE_KEY", shared)
    assert load_config(base)["EVIDENCE_KEY"] == shared


def test_health_reports_the_grade_backlog(client):
    from lti_tool.grading.models import DELIVERED, IN_PROGRESS, PENDING, GradeJob
    from lti_tool.store.db import db
    from tests.grading_helpers import make_certification, make_portfolio
    from tests.lti_helpers import demo_launch

    assert client.get("/healthz").get_json()["checks"]["grade_sync_backlog"] == 0
    demo_launch(client, "demo-learner-ada")
    from sqlalchemy import select

    from lti_tool.launch.models import LtiUser, ResourceLink

    ada = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada"))
    portfolio = make_portfolio(ada, db.session.scalar(select(ResourceLink)), make_certification())
    for i, status in enumerate((PENDING, IN_PROGRESS, DELIVERED)):
        db.session.add(
            GradeJob(
                portfolio_id=portfolio.id,
                resource_link_id=portfolio.resource_link_id,
                user_id=ada.id,
                lms_user_id=ada.sub,
                target="main",
                state="draft",
                sequence=i + 1,
                payload={},
                line_item={},
                status=status,
            )
        )
    db.session.commit()
    assert client.get("/healthz").get_json()["checks"]["grade_sync_backlog"] == 2

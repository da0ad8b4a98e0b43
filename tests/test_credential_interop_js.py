"""Issued credentials checked by the JavaScript implementations wallets and verifiers use
(tests/credential_interop.mjs):
jsonld.js in safe mode, and Digital Bazaar's vc + data-integrity + eddsa-rdfc-2022 libraries, which the Digital
Credentials Consortium's Learner Credential Wallet and verifier build on. Needs Node and `npm ci` (package.json);
skipped without them, except under CI=true."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lti_tool.credentials import issuer
from lti_tool.credentials.issuance import credential_for
from lti_tool.credentials.revocation import revoke
from lti_tool.store.db import db
from tests.credential_helpers import award_through_workflow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "credential_interop.mjs"
# A Node process per test, loading the JavaScript libraries: seconds each, so `make test` runs it, not the fast loop.
pytestmark = pytest.mark.slow
NEEDED = ("jsonld", "@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite")


def _node() -> str:
    node = shutil.which("node")
    missing = [m for m in NEEDED if not (ROOT / "node_modules" / m / "package.json").exists()]
    if node is None or missing:
        reason = "node is not installed" if node is None else f"npm packages missing ({', '.join(missing)}): npm ci"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires the JavaScript credential checks: {reason}")
        pytest.skip(reason)
    return node


def _run(node: str, tmp_path: Path, documents: dict, cases: dict) -> dict:
    source = tmp_path / "input.json"
    source.write_text(json.dumps({"documents": documents, "cases": cases}))
    run = subprocess.run([node, str(SCRIPT), str(source)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _documents(client, issued) -> dict:
    """What a verifier dereferences: the issuer profile, the key, the status list (asked for as JSON-LD)."""
    method = issued.proofed["proof"]["verificationMethod"]
    status_url = issued.proofed["credentialStatus"]["statusListCredential"]
    status = client.get(status_url.removeprefix(issuer.base_url()), headers={"Accept": "application/ld+json"})
    return {
        issuer.issuer_id(): client.get("/credentials/issuer").get_json(),
        method: client.get(method.removeprefix(issuer.base_url())).get_json(),
        status_url: status.get_json(),
    }


def test_javascript_verifiers_accept_the_credential_and_refuse_changes(app, client, tmp_path):
    node = _node()
    issued = credential_for(award_through_workflow())
    documents = _documents(client, issued)
    tampered = copy.deepcopy(issued.proofed)
    tampered["credentialSubject"]["licenseNumber"] = "CMIACR-2025-999999"
    old_contexts = copy.deepcopy(issued.proofed)
    old_contexts["@context"] = old_contexts["@context"][:2]  # as before issue 22: no extensions context
    out = _run(node, tmp_path, documents, {"issued": issued.proofed, "tampered": tampered, "old": old_contexts})
    assert out["issued"] == {
        "safe": "ok",
        "verified": True,
        "errors": [],
        "status": {"verified": True, "revoked": False},
    }
    assert all(out[url]["safe"] == "ok" for url in documents)  # profile, key and status list: strict too
    assert out["tampered"]["safe"] == "ok" and not out["tampered"]["verified"]
    assert "Safe mode validation error" in out["old"]["safe"] and not out["old"]["verified"]
    # A key the issuer's profile does not list under assertionMethod is refused (the controller document check).
    unlisted = copy.deepcopy(documents)
    unlisted[issuer.issuer_id()]["assertionMethod"] = []
    refused = _run(node, tmp_path, unlisted, {"issued": issued.proofed})["issued"]
    assert not refused["verified"] and any("not authorized" in e for e in refused["errors"]), refused


def test_javascript_status_check_sees_the_revocation(app, client, tmp_path):
    node = _node()
    issued = credential_for(award_through_workflow())
    revoke(issued.award, "Evidence found to be plagiarised", actor_label="test")
    db.session.commit()
    out = _run(node, tmp_path, _documents(client, issued), {"issued": issued.proofed})
    assert out["issued"]["status"] == {"verified": True, "revoked": True}

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
from tests.credential_helpers import award_through_workflow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "credential_interop.mjs"
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


def test_javascript_verifiers_accept_the_credential_and_refuse_changes(app, client, tmp_path):
    node = _node()
    issued = credential_for(award_through_workflow())
    method = issued.proofed["proof"]["verificationMethod"]
    documents = {
        issuer.issuer_id(): client.get("/credentials/issuer").get_json(),
        method: client.get(method.removeprefix(issuer.base_url())).get_json(),
    }
    tampered = copy.deepcopy(issued.proofed)
    tampered["credentialSubject"]["licenseNumber"] = "CMIACR-2025-999999"
    old_contexts = copy.deepcopy(issued.proofed)
    old_contexts["@context"] = old_contexts["@context"][:2]  # as before issue 22: no extensions context
    unlisted = copy.deepcopy(documents)
    unlisted[issuer.issuer_id()]["assertionMethod"] = []
    cases = {"issued": issued.proofed, "tampered": tampered, "old_contexts": old_contexts}
    source = tmp_path / "input.json"
    source.write_text(json.dumps({"documents": documents, "cases": cases}))
    run = subprocess.run([node, str(SCRIPT), str(source)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["issued"] == {"safe": "ok", "verified": True, "errors": []}
    assert out[issuer.issuer_id()]["safe"] == "ok" and out[method]["safe"] == "ok"
    assert out["tampered"]["safe"] == "ok" and not out["tampered"]["verified"]
    assert "Safe mode validation error" in out["old_contexts"]["safe"] and not out["old_contexts"]["verified"]
    # A key the issuer's profile does not list under assertionMethod is refused (the controller document check).
    source.write_text(json.dumps({"documents": unlisted, "cases": {"issued": issued.proofed}}))
    run = subprocess.run([node, str(SCRIPT), str(source)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    refused = json.loads(run.stdout)["issued"]
    assert not refused["verified"] and any("not authorized" in e for e in refused["errors"]), refused

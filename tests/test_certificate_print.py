"""The printed certificate (issue 16): the issuer's name and logo from configuration, the units and credits, a
signature line, the QR code. (Printing on A4 and Letter: tests/browser/test_browser_learner_more.py.)"""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from lti_tool.credentials import certificate as printed
from lti_tool.launch.models import LtiUser
from lti_tool.store.db import db
from tests.credential_helpers import award_through_workflow
from tests.lti_helpers import demo_launch

NUMBER = "CMIACR-2025-000777"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def ada(app):
    client = app.test_client()
    assert demo_launch(client, "demo-learner-ada").status_code == 303
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == "demo-learner-ada"))
    award = award_through_workflow(user=user, number=NUMBER)
    return client, award


def _logo(html: str) -> str | None:
    found = re.search(r'<img class="issuer-logo" src="([^"]+)" alt="([^"]*)">', html)
    return found.group(1) if found else None


def test_certificate_names_the_issuer_shows_logo_units_signature_and_qr(app, ada, tmp_path):
    client, award = ada
    logo = tmp_path / "academy.png"
    logo.write_bytes(PNG)
    app.config.update(
        ISSUER_NAME="Clinical Research Academy",
        ISSUER_LOGO_FILE=str(logo),
        CERTIFICATE_SIGNATORY="Dr Grace Okafor",
        CERTIFICATE_SIGNATORY_TITLE="Head of Accreditation",
    )
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    assert '<p class="issuer">Clinical Research Academy</p>' in html
    assert _logo(html) == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert 'alt="Clinical Research Academy"' in html
    units = award.portfolio.certification.units
    assert len(units) > 1
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td class=\"num\">(\d+)</td></tr>", html)
    assert rows == [(u.code, u.title, str(u.credits)) for u in units]
    assert f'<td class="num">{award.credits}</td></tr></tfoot>' in html
    assert '<div class="signature-line"' in html
    assert "<strong>Dr Grace Okafor</strong>, Head of Accreditation" in html and "For Clinical Research Academy" in html
    assert "<svg" in html.split('class="qr"')[1][:200]


def test_without_configuration_the_tool_logo_and_no_signatory_name(app, ada):
    client, _ = ada
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    assert _logo(html).startswith("data:image/svg+xml;base64,")
    assert '<div class="signature-line"' in html and "<strong>" not in html.split('class="signature"')[1][:300]


def test_a_bad_logo_file_prints_no_logo_and_says_why(app, ada, tmp_path, caplog):
    client, _ = ada
    for name, content in (("missing.png", None), ("logo.gif", b"GIF89a"), ("fake.png", b"<html>"), ("big.svg", None)):
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        if name == "big.svg":
            path.write_bytes(b"<svg>" + b" " * printed.MAX_LOGO_BYTES + b"</svg>")
        app.config["ISSUER_LOGO_FILE"] = str(path)
        resp = client.get(f"/awards/{NUMBER}/certificate")
        assert resp.status_code == 200 and _logo(resp.get_data(as_text=True)) is None, name
    assert "the certificate has no logo" in caplog.text


def test_a_unit_only_award_lists_its_unit(app, ada):
    client, award = ada
    unit = award.portfolio.certification.units[1]
    award.portfolio.unit_code = unit.code
    db.session.commit()
    assert [u.code for u in printed.awarded_units(award)] == [unit.code]
    html = client.get(f"/awards/{NUMBER}/certificate").get_data(as_text=True)
    assert len(re.findall(r"<tr><td>[^<]+</td><td>[^<]+</td><td class=\"num\">", html)) == 1

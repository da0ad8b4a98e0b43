"""A unit-only award (the partner's pathway narrows the certification to units) is for that unit of the
certification: its credential, verification page, share link and learner page say so, and never read as the
whole certification."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
from sqlalchemy import select

from lti_tool.credentials import issuer
from lti_tool.credentials.issuance import issue_for_award
from lti_tool.credentials.jsonld_docs import strict_problems
from lti_tool.credentials.share import linkedin_url
from lti_tool.notifications.models import Notification
from lti_tool.portfolio import workflow
from lti_tool.store.db import db
from tests.credential_helpers import certification, ready_for_award


def _unit_award(number: str = "TESTCM-2026-000007"):
    portfolio, award = ready_for_award(number=number)
    portfolio.unit_code = "CM2"
    award.credits, award.cpd_points = 5, 50
    db.session.commit()
    return award


def test_the_credential_of_a_unit_award_is_for_the_unit(app):
    award = _unit_award()
    issued = issue_for_award(award)
    db.session.commit()
    for credential in (issued.credential, issued.proofed):
        achievement = credential["credentialSubject"]["achievement"]
        assert achievement["id"] == issuer.unit_achievement_url("TESTCM", 1, "CM2")
        assert achievement["name"] == "Unit CM2: Data review and signal detection"
        assert achievement["achievementType"] != "Certification"
        assert achievement["creditsAvailable"] == 5.0
        assert "the unit alone, not the certification" in achievement["description"]
        parent = [a for a in achievement["alignment"] if a["targetType"] == "ext:PartOfCertification"]
        assert parent and parent[0]["targetUrl"] == issuer.achievement_url("TESTCM", 1)
        units = [a["targetCode"] for a in achievement["alignment"] if a["targetType"] == "ext:AccreditedUnit"]
        assert units == []  # the certification's other units are not listed as if achieved
        assert credential["name"].startswith("Unit CM2: Data review and signal detection, of Qualified Clinical")
        assert credential["credentialSubject"]["creditsEarned"] == 5.0


def test_a_whole_certification_award_is_unchanged(app):
    _, award = ready_for_award(number="TESTCM-2026-000008")
    db.session.commit()
    achievement = issue_for_award(award).credential["credentialSubject"]["achievement"]
    assert achievement["id"] == issuer.achievement_url("TESTCM", 1)
    assert achievement["achievementType"] == "Certification"
    assert {a["targetCode"] for a in achievement["alignment"] if a["targetType"] == "ext:AccreditedUnit"} == {
        "CM1",
        "CM2",
    }


def test_the_unit_achievement_is_served_at_its_id(app, client):
    award = _unit_award()
    achievement = issue_for_award(award).credential["credentialSubject"]["achievement"]
    db.session.commit()
    served = client.get(urlsplit(achievement["id"]).path)
    assert served.status_code == 200
    body = served.get_json()
    assert body["id"] == achievement["id"] and body["name"] == achievement["name"]
    certification()  # the certification exists; an unknown unit of it is a plain 404
    missing = client.get(urlsplit(issuer.unit_achievement_url("TESTCM", 1, "CM9")).path)
    assert missing.status_code == 404 and b"no unit with this code" in missing.data


def test_the_verification_page_and_share_link_name_the_unit(app, client):
    award = _unit_award()
    issue_for_award(award)
    db.session.commit()
    page = html.unescape(client.get(f"/verify/{award.certificate_number}").data.decode())
    assert "Unit CM2: Data review and signal detection, of Qualified Clinical Research Central Monitor" in page
    assert "for this unit alone, not the whole certification" in page
    record = client.get(f"/verify/{award.certificate_number}.json").get_json()
    assert record["certification"]["unit"] == {"code": "CM2", "title": "Data review and signal detection"}
    with app.test_request_context():
        name = parse_qs(urlsplit(linkedin_url(award)).query)["name"][0]
    assert name == "Unit CM2: Data review and signal detection, of Qualified Clinical Research Central Monitor"


def test_a_unit_credential_passes_the_ob3_schema_and_strict_json_ld(app):
    schema = json.loads((Path(__file__).parent / "schemas" / "ob_v3p0_achievementcredential_schema.json").read_text())
    validator = jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    issued = issue_for_award(_unit_award())
    db.session.commit()
    assert not [e.message for e in validator.iter_errors(issued.credential)]
    assert strict_problems(issued.proofed) == []


def test_the_learners_award_notice_names_the_unit(app):
    portfolio, _ = ready_for_award(number="TESTCM-2026-000009")
    portfolio.unit_code = "CM2"
    db.session.commit()
    workflow.transition(portfolio, workflow.AWARDED, duty="independent_verifier", rationale="Confirmed")
    db.session.commit()
    notices = db.session.scalars(
        select(Notification).where(Notification.user_id == portfolio.user_id, Notification.kind == "award")
    ).all()
    assert notices, "the learner is told of the award"
    assert all("unit CM2" in n.title for n in notices), [n.title for n in notices]
    assert "(Unit CM2: Data review and signal detection, of Qualified Clinical Research" in notices[0].body

"""Issued credentials validate against the official Open Badges 3.0 JSON schema shipped in tests/schemas
(see tests/schemas/README.md for where it comes from); nothing is fetched."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from lti_tool.credentials.issuance import credential_for
from tests.credential_helpers import award_through_workflow, learner

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "ob_v3p0_achievementcredential_schema.json").read_text())


def _validator() -> jsonschema.Draft201909Validator:
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    return jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


def test_issued_credential_validates_against_the_ob3_schema(sqlite_app):
    credential = credential_for(award_through_workflow()).credential
    errors = sorted(_validator().iter_errors(credential), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # format checking of date-time needs an optional package; check the formats the schema declares here
    for value in (credential["validFrom"], credential["awardedDate"]):
        assert dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def test_credential_without_a_learner_name_still_validates(sqlite_app):
    user = learner(sub="anon", name="", email="")
    credential = credential_for(award_through_workflow(user=user, number="ANON-1")).credential
    assert "identifier" not in credential["credentialSubject"]
    assert not list(_validator().iter_errors(credential))


@pytest.mark.parametrize("breakage", ["no_validFrom", "bad_context", "bad_achievement_type", "no_criteria"])
def test_the_schema_really_rejects_broken_credentials(sqlite_app, breakage):
    """Guards the test above against a schema that accepts anything."""
    credential = json.loads(json.dumps(credential_for(award_through_workflow()).credential))
    achievement = credential["credentialSubject"]["achievement"]
    if breakage == "no_validFrom":
        del credential["validFrom"]
    elif breakage == "bad_context":
        credential["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    elif breakage == "bad_achievement_type":
        achievement["achievementType"] = "Qualification"
    else:
        del achievement["criteria"]
    assert list(_validator().iter_errors(credential))

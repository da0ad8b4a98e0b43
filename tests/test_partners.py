"""Partners: creation, deployments, pathways (offerings) and company-specific criteria; services and CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from lti_tool.admin.partner_cli import partner_cli
from lti_tool.audit.actor import Actor
from lti_tool.audit.trail import AuditEvent
from lti_tool.demo_platform import people
from lti_tool.identity.partners import Partner, add_partner, find_partner
from lti_tool.launch.models import Deployment, Registration
from lti_tool.portfolio.catalogue.company_criteria import add_partner_criterion, partner_criteria
from lti_tool.portfolio.catalogue.importer import import_catalogue
from lti_tool.portfolio.catalogue.models import Certification, Criterion, PartnerOffering
from lti_tool.portfolio.catalogue.offerings import (
    offer_certification,
    offered_certification,
    offered_certifications,
)
from lti_tool.portfolio.catalogue.queries import criteria_for, latest_certification
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from tests.catalogue_samples import write_sample
from tests.conftest import table_count

pytestmark = pytest.mark.usefixtures("shipped_catalogue")

CRITERION = "The learner can record findings in the Acme tracker."


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(partner_cli, list(args))


def cmiacr() -> Certification:
    cert = latest_certification("CMIACR")
    assert cert is not None
    return cert


@pytest.fixture
def acme(app: Flask) -> Partner:
    partner = add_partner(Actor(label="test"), "acme-cro", "Acme CRO", "employer")
    db.session.commit()
    return partner


# ------------------------------------------------------------------------------------------- partners


def test_partner_add_and_list(app: Flask) -> None:
    result = run(app, "add", "acme-cro", "--name", "Acme  CRO", "--kind", "employer")
    assert result.exit_code == 0, result.output
    assert result.output == "Added partner acme-cro (Acme CRO, employer).\n"
    partner = find_partner("acme-cro")
    assert (partner.name, partner.kind) == ("Acme CRO", "employer")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "partner.created")).actor_label.startswith(
        "cli:"
    )
    listing = run(app, "list").output
    assert "acme-cro - Acme CRO (employer)\n  offers nothing yet\n" in listing
    assert "demo-academy - Demo Academy (academy)" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "demo-academy", "--name", "Again"], "A partner with the short name 'demo-academy' already exists."),
        (["add", "Bad Slug", "--name", "X"], "'bad slug' is not a valid short name (slug) for a partner"),
        (["add", "a", "--name", "X"], "'a' is not a valid short name"),
        (["add", "acme-", "--name", "X"], "'acme-' is not a valid short name"),
        (["add", "ok-slug", "--name", "  "], "A partner needs a name"),
        (["add", "ok-slug", "--name", "X", "--kind", "school"], "Invalid value for '--kind'"),
    ],
)
def test_partner_add_refusals(app: Flask, args: list[str], message: str) -> None:
    before = table_count(Partner)
    result = run(app, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert table_count(Partner) == before


def test_console_and_cli_share_one_slug_rule(app: Flask) -> None:
    """One rule for both doors: the CLI's refusals and acceptances are the console's (tests/test_admin_console)."""
    for slug in ("a", "acme-", "-acme", "x" * 81):
        with pytest.raises(UserError, match="not a valid short name"):
            add_partner(Actor(label="test"), slug, "Name", "academy")
    partner = add_partner(Actor(label="test"), "  Acme-Academy ", "  Acme   Academy ", "academy")
    assert (partner.slug, partner.name) == ("acme-academy", "Acme Academy")
    assert add_partner(Actor(label="test"), "ab", "Two letters", "hub").slug == "ab"


# ----------------------------------------------------------------------------------------- deployments


def _register(
    issuer: str = "https://moodle.acme.example", client_id: str = "abc", deployment_id: str = "1"
) -> Deployment:
    reg = Registration(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=issuer + "/auth",
        auth_token_url=issuer + "/token",
        key_set_url=issuer + "/jwks",
    )
    reg.deployments = [Deployment(deployment_id=deployment_id)]
    db.session.add(reg)
    db.session.commit()
    return reg.deployments[0]


def test_attach_deployment(app: Flask, acme: Partner) -> None:
    dep = _register()
    result = run(
        app,
        "attach",
        "acme-cro",
        "--issuer",
        "https://moodle.acme.example",
        "--client-id",
        "abc",
        "--deployment-id",
        "1",
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert dep.partner_id == acme.id
    assert "  deployment '1': issuer https://moodle.acme.example, client ID abc\n" in run(app, "list").output

    again = run(
        app,
        "attach",
        "acme-cro",
        "--issuer",
        "https://moodle.acme.example",
        "--client-id",
        "abc",
        "--deployment-id",
        "1",
    )
    assert again.exit_code != 0 and "already belongs to acme-cro" in again.output


def test_attach_refuses_unknown_deployment_and_unknown_partner(app: Flask, acme: Partner) -> None:
    _register()
    unknown = run(
        app,
        "attach",
        "acme-cro",
        "--issuer",
        "https://moodle.acme.example",
        "--client-id",
        "abc",
        "--deployment-id",
        "2",
    )
    assert unknown.exit_code != 0
    assert "No deployment '2' registered for issuer 'https://moodle.acme.example' and client ID 'abc'" in unknown.output
    ghost = run(
        app, "attach", "ghost", "--issuer", "https://moodle.acme.example", "--client-id", "abc", "--deployment-id", "1"
    )
    assert ghost.exit_code != 0 and "No partner 'ghost'" in ghost.output


def test_moving_a_deployment_between_partners_needs_move(app: Flask, acme: Partner) -> None:
    demo = [
        "--issuer",
        "http://localhost/demo",
        "--client-id",
        people.CLIENT_ID,
        "--deployment-id",
        people.DEPLOYMENT_ID,
    ]
    refused = run(app, "attach", "acme-cro", *demo)
    assert refused.exit_code != 0
    assert "belongs to partner demo-academy; use --move" in refused.output
    moved = run(app, "attach", "acme-cro", *demo, "--move")
    assert moved.exit_code == 0, moved.output
    dep = db.session.scalar(select(Deployment).where(Deployment.deployment_id == people.DEPLOYMENT_ID))
    assert dep is not None and dep.partner_id == acme.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deployment.partner"))
    assert event is not None and event.before == {"partner": "demo-academy"}


# ------------------------------------------------------------------------------------ offerings/pathways


def test_offer_whole_certification_and_a_narrowed_pathway(app: Flask, acme: Partner) -> None:
    assert offered_certifications(acme.id) == []
    whole = run(app, "offer", "acme-cro", "CRAIACR")
    assert whole.exit_code == 0 and whole.output == "acme-cro offers CRAIACR (all units): created.\n"
    narrowed = run(app, "offer", "acme-cro", "CMIACR", "--units", "CM4, CM2,CM2")
    assert narrowed.output == "acme-cro offers CMIACR (CM2, CM4): created.\n"

    offers = offered_certifications(acme.id)
    assert [(o.certification.code, o.narrowed) for o in offers] == [("CMIACR", True), ("CRAIACR", False)]
    assert [u.code for u in offers[0].units] == ["CM2", "CM4"]
    assert offers[0].credits == 5 and offers[1].credits == 15
    assert offers[0].certification.id == cmiacr().id
    assert offered_certification(acme.id, "CMIACR") is not None
    assert offered_certification(acme.id, "NOPE") is None
    assert "offers CMIACR v1: CM2, CM4 (5 credits)" in run(app, "list").output


def test_offer_again_updates_or_leaves_it(app: Flask, acme: Partner) -> None:
    offer_certification(acme, "CMIACR", ["CM1"])
    assert offer_certification(acme, "CMIACR", ["CM1"])[1] == "unchanged"
    offering, status = offer_certification(acme, "CMIACR", None)
    assert status == "updated" and offering.unit_codes == ""
    assert table_count(PartnerOffering) == 3  # the demo academy's two, and this one


def test_offer_refusals(app: Flask, acme: Partner) -> None:
    unknown_unit = run(app, "offer", "acme-cro", "CMIACR", "--units", "CM1,CM9")
    assert unknown_unit.exit_code != 0
    assert "CMIACR version 1 has no unit 'CM9'; its units are CM1, CM2, CM3, CM4, CM5." in unknown_unit.output
    unknown_code = run(app, "offer", "acme-cro", "NOPE")
    assert unknown_code.exit_code != 0 and "No certification 'NOPE' in the catalogue" in unknown_code.output
    ghost = run(app, "offer", "ghost", "CMIACR")
    assert ghost.exit_code != 0 and "No partner 'ghost'" in ghost.output
    assert offered_certifications(acme.id) == []


def test_withdraw(app: Flask, acme: Partner) -> None:
    offer_certification(acme, "CMIACR")
    db.session.commit()
    assert run(app, "withdraw", "acme-cro", "CMIACR").exit_code == 0
    assert offered_certifications(acme.id) == []
    again = run(app, "withdraw", "acme-cro", "CMIACR")
    assert again.exit_code != 0 and "acme-cro does not offer 'CMIACR'" in again.output


def test_no_partner_offers_nothing(app: Flask) -> None:
    assert offered_certifications(None) == []
    assert offered_certification(None, "CMIACR") is None


# ---------------------------------------------------------------------------- company-specific criteria


def test_partner_criterion_is_assessed_for_that_partner_only(app: Flask, acme: Partner) -> None:
    offer_certification(acme, "CMIACR")
    db.session.commit()
    result = run(
        app, "criterion", "add", "acme-cro", "CMIACR", "--outcome", "CM2.3", "--code", "ACME-1", "--text", CRITERION
    )
    assert result.exit_code == 0, result.output
    assert result.output == "Added ACME-1 to CMIACR version 1, outcome CM2.3, for acme-cro.\n"

    cert = cmiacr()
    demo = find_partner(people.PARTNER_SLUG)
    catalogue_codes = [k.code for k in criteria_for(cert, None)]
    acme_codes = [k.code for k in criteria_for(cert, acme.id)]
    demo_codes = [k.code for k in criteria_for(cert, demo.id)]
    assert "ACME-1" not in catalogue_codes and "DA-CM4.2.1" not in catalogue_codes
    assert "ACME-1" in acme_codes and "DA-CM4.2.1" not in acme_codes
    assert "DA-CM4.2.1" in demo_codes and "ACME-1" not in demo_codes
    # Shown after the catalogue's own criteria of the same outcome, and before the next outcome's.
    assert acme_codes[acme_codes.index("ACME-1") - 1 : acme_codes.index("ACME-1") + 2] == [
        "CM2.3.3",
        "ACME-1",
        "CM3.1.1",
    ]
    assert len(acme_codes) == len(catalogue_codes) + 1
    [own] = partner_criteria(acme.id)
    assert (own.code, own.text, own.outcome.code, own.partner_id) == ("ACME-1", CRITERION, "CM2.3", acme.id)
    assert run(app, "criterion", "list", "acme-cro").output == f"CMIACR v1 CM2.3 ACME-1: {CRITERION}\n"


@pytest.mark.parametrize(
    ("outcome", "code", "text", "message"),
    [
        ("CM9.9", "ACME-1", CRITERION, "CMIACR version 1 has no learning outcome 'CM9.9'."),
        ("CM2.3", "CM1.1.1", CRITERION, "Criterion code 'CM1.1.1' is already used in CMIACR version 1"),
        ("CM2.3", "DA-CM4.2.1", CRITERION, "Criterion code 'DA-CM4.2.1' is already used in CMIACR version 1"),
        ("CM2.3", "has space", CRITERION, "'has space' is not a valid criterion code"),
        ("CM2.3", "ACME-1", "   ", "The criterion needs a text"),
        ("CM1.1", "ACME-1", CRITERION, "Outcome CM1.1 belongs to unit CM1, which is not on acme-cro's pathway"),
    ],
)
def test_partner_criterion_refusals(
    app: Flask, acme: Partner, outcome: str, code: str, text: str, message: str
) -> None:
    offer_certification(acme, "CMIACR", ["CM2", "CM4"])
    db.session.commit()
    before = table_count(Criterion)
    result = run(app, "criterion", "add", "acme-cro", "CMIACR", "--outcome", outcome, "--code", code, "--text", text)
    assert result.exit_code != 0
    assert message in result.output
    assert table_count(Criterion) == before


def test_partner_criterion_needs_an_offering_a_partner_and_a_certification(app: Flask, acme: Partner) -> None:
    with pytest.raises(UserError, match="acme-cro does not offer CMIACR; offer it first"):
        add_partner_criterion(acme, "CMIACR", "CM2.3", "ACME-1", CRITERION)
    with pytest.raises(NotFound, match="No certification 'NOPE'"):
        add_partner_criterion(acme, "NOPE", "CM2.3", "ACME-1", CRITERION)
    ghost = run(app, "criterion", "add", "ghost", "CMIACR", "--outcome", "CM2.3", "--code", "X", "--text", "Y")
    assert ghost.exit_code != 0 and "No partner 'ghost'" in ghost.output


def test_partner_criterion_goes_on_the_latest_version(app: Flask, acme: Partner, tmp_path: Path) -> None:
    import_catalogue([write_sample(tmp_path)])
    offer_certification(acme, "TESTCM")
    import_catalogue([write_sample(tmp_path, {"Escalate findings.": "Escalate findings promptly."})])
    criterion = add_partner_criterion(acme, "TESTCM", "U2.1", "ACME-1", CRITERION)
    assert criterion.outcome.unit.certification.version == 2
    v1 = db.session.scalar(select(Certification).where(Certification.code == "TESTCM", Certification.version == 1))
    assert v1 is not None and "ACME-1" not in [k.code for k in criteria_for(v1, acme.id)]

"""The demo platform brings the shipped catalogue, the Demo Academy's pathway and one criterion of its own."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask

from lti_tool.audit.trail import AuditEvent
from lti_tool.demo_platform import people
from lti_tool.demo_platform.catalogue_seed import DEMO_CRITERION
from lti_tool.demo_platform.setup import ensure_demo_platform
from lti_tool.identity.partners import find_partner
from lti_tool.portfolio.catalogue.company_criteria import partner_criteria
from lti_tool.portfolio.catalogue.models import Certification, Criterion, PartnerOffering
from lti_tool.portfolio.catalogue.offerings import offered_certifications
from lti_tool.portfolio.catalogue.queries import criteria_for, latest_certification
from lti_tool.store.db import db
from tests.catalogue_samples import write_sample
from tests.conftest import make_test_app, table_count


@pytest.fixture
def app(backend, tmp_path, keys_dir):
    """These tests are about the shipped catalogue the demo imports."""
    application = make_test_app(backend, tmp_path, keys_dir, DEMO_CATALOGUE=True)
    with application.app_context():
        yield application
        db.session.remove()


@pytest.fixture
def sqlite_app(tmp_path, keys_dir):
    application = make_test_app("sqlite", tmp_path, keys_dir, DEMO_CATALOGUE=True)
    with application.app_context():
        yield application
        db.session.remove()


def test_demo_academy_offers_both_certifications_with_its_own_criterion(app: Flask) -> None:
    academy = find_partner(people.PARTNER_SLUG)
    offers = offered_certifications(academy.id)
    assert [(o.certification.code, o.certification.version, o.narrowed) for o in offers] == [
        ("CMIACR", 1, False),
        ("CRAIACR", 1, False),
    ]
    [own] = partner_criteria(academy.id)
    assert (own.code, own.outcome.code, own.text) == (DEMO_CRITERION["code"], "CM4.2", DEMO_CRITERION["text"])
    cert = latest_certification("CMIACR")
    assert cert is not None and own in criteria_for(cert, academy.id) and own not in criteria_for(cert, None)


def test_demo_setup_again_changes_nothing(app: Flask) -> None:
    counts = [table_count(m) for m in (Certification, Criterion, PartnerOffering, AuditEvent)]
    ensure_demo_platform(app)
    ensure_demo_platform(app)
    assert [table_count(m) for m in (Certification, Criterion, PartnerOffering, AuditEvent)] == counts


def test_demo_setup_leaves_an_admins_narrowed_pathway_alone(app: Flask) -> None:
    academy = find_partner(people.PARTNER_SLUG)
    offering = db.session.scalar(
        db.select(PartnerOffering).where(
            PartnerOffering.partner_id == academy.id, PartnerOffering.certification_code == "CRAIACR"
        )
    )
    assert offering is not None
    offering.unit_codes = "CRA1,CRA2"
    db.session.commit()
    ensure_demo_platform(app)
    db.session.refresh(offering)
    assert offering.unit_codes == "CRA1,CRA2"


def test_a_changed_catalogue_file_is_imported_at_the_next_start(sqlite_app: Flask, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue"
    write_sample(catalogue)
    sqlite_app.config["CATALOGUE_DIR"] = str(catalogue)
    ensure_demo_platform(sqlite_app)
    assert latest_certification("TESTCM").version == 1  # type: ignore[union-attr]
    write_sample(catalogue, {"Escalate findings.": "Escalate findings promptly."})
    ensure_demo_platform(sqlite_app)
    assert latest_certification("TESTCM").version == 2  # type: ignore[union-attr]
    academy = find_partner(people.PARTNER_SLUG)
    assert "TESTCM" in [o.certification.code for o in offered_certifications(academy.id)]


def test_invalid_catalogue_does_not_stop_the_app(
    tmp_path: Path, keys_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalogue = tmp_path / "catalogue"
    write_sample(catalogue, {'isced_level = "ED6"': 'isced_level = "ED12"'})
    with caplog.at_level(logging.ERROR):
        app = make_test_app("sqlite", tmp_path, keys_dir, CATALOGUE_DIR=str(catalogue), DEMO_CATALOGUE=True)
    assert "Demo catalogue not imported" in caplog.text and "isced_level: unknown ISCED 2011 level" in caplog.text
    with app.app_context():
        assert table_count(Certification) == 0
        assert find_partner(people.PARTNER_SLUG) is not None  # the rest of the demo setup still happened
        db.session.remove()

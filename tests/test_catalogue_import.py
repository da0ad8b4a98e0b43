"""Importing catalogue files: idempotent by content hash, changes make new versions, old ones stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.audit.actor import Actor
from lti_tool.audit.trail import AuditEvent
from lti_tool.identity.partners import add_partner
from lti_tool.portfolio.catalogue.company_criteria import add_partner_criterion
from lti_tool.portfolio.catalogue.importer import (
    CatalogueInvalid,
    certification_data,
    content_hash,
    import_catalogue,
)
from lti_tool.portfolio.catalogue.models import Certification, Criterion
from lti_tool.portfolio.catalogue.offerings import offer_certification
from lti_tool.portfolio.catalogue.queries import criteria_for, latest_certification
from lti_tool.store.db import db
from tests.catalogue_samples import write_sample
from tests.conftest import table_count

pytestmark = pytest.mark.usefixtures("shipped_catalogue")

CHANGED_TEXT = {
    "The learner can contribute to a risk assessment.": "The learner can lead a cross-functional risk assessment."
}


def _versions(code: str = "TESTCM") -> list[Certification]:
    return list(
        db.session.scalars(select(Certification).where(Certification.code == code).order_by(Certification.version))
    )


def _import(path: Path) -> list:
    results = import_catalogue([path])
    db.session.commit()
    return results


def test_first_import_creates_version_1_with_its_tree(app: Flask, tmp_path: Path) -> None:
    [result] = _import(write_sample(tmp_path))
    assert (result.code, result.version, result.status, result.created) == ("TESTCM", 1, "created", True)
    assert result.previous_version is None
    cert = latest_certification("TESTCM")
    assert cert is not None and cert.version == 1
    assert (cert.title, cert.isced_level, cert.isced_field, cert.credits) == ("Test Central Monitor", "ED6", "0988", 3)
    assert cert.notional_hours == 30 and cert.cpd_points == 30
    assert [(u.code, u.credits, u.position) for u in cert.units] == [("U1", 2, 0), ("U2", 1, 1)]
    assert cert.units[0].framework_refs == ["JTF 4: Clinical Study Operations (GCPs)"]
    assert [o.code for o in cert.units[0].outcomes] == ["U1.1", "U1.2"]
    assert [k.code for k in criteria_for(cert, None)] == ["U1.1.1", "U1.1.2", "U1.2.1", "U2.1.1"]
    assert content_hash(certification_data(cert)) == cert.content_hash


def test_same_data_again_is_a_no_op(app: Flask, tmp_path: Path) -> None:
    path = write_sample(tmp_path)
    _import(path)
    counts = (table_count(Certification), table_count(Criterion), table_count(AuditEvent))
    [again] = _import(path)
    assert (again.status, again.version) == ("unchanged", 1)
    # Comments and layout are not content either.
    relaid = write_sample(
        tmp_path,
        {'title = "Risk-based quality management"': '# a comment\ntitle = "Risk-based   quality management"  '},
    )
    [relaid_result] = _import(relaid)
    assert relaid_result.status == "unchanged"
    assert (table_count(Certification), table_count(Criterion), table_count(AuditEvent)) == counts


def test_changed_data_makes_a_new_version_and_leaves_the_old_untouched(app: Flask, tmp_path: Path) -> None:
    [first] = _import(write_sample(tmp_path))
    v1 = latest_certification("TESTCM")
    assert v1 is not None
    v1_id, v1_hash = v1.id, v1.content_hash
    v1_criteria = [(k.id, k.code, k.text) for k in criteria_for(v1, None)]

    [second] = _import(write_sample(tmp_path, CHANGED_TEXT))
    assert (second.status, second.version, second.previous_version) == ("created", 2, 1)
    db.session.expire_all()
    old, new = _versions()
    assert (old.id, old.version, new.version) == (v1_id, 1, 2)
    assert old.content_hash == v1_hash == content_hash(certification_data(old))
    assert [(k.id, k.code, k.text) for k in criteria_for(old, None)] == v1_criteria
    assert new.content_hash != v1_hash
    assert "The learner can lead a cross-functional risk assessment." in [k.text for k in criteria_for(new, None)]
    assert latest_certification("TESTCM").id == new.id  # type: ignore[union-attr]

    [third] = _import(write_sample(tmp_path, CHANGED_TEXT))
    assert (third.status, third.version) == ("unchanged", 2)


def test_going_back_to_earlier_content_is_still_a_new_version(app: Flask, tmp_path: Path) -> None:
    _import(write_sample(tmp_path))
    _import(write_sample(tmp_path, CHANGED_TEXT))
    [result] = _import(write_sample(tmp_path))
    assert (result.status, result.version) == ("created", 3)
    v1, _, v3 = _versions()
    assert v3.content_hash == v1.content_hash


def test_import_is_audited(app: Flask, tmp_path: Path) -> None:
    _import(write_sample(tmp_path))
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "catalogue.version_imported", AuditEvent.subject_type == "certification")
        .order_by(AuditEvent.id.desc())
    )
    assert event is not None
    assert event.after["code"] == "TESTCM" and event.after["version"] == 1
    assert event.after["content_hash"] == latest_certification("TESTCM").content_hash  # type: ignore[union-attr]


def test_one_invalid_file_means_nothing_is_imported(app: Flask, tmp_path: Path) -> None:
    write_sample(tmp_path, name="good.toml")
    write_sample(tmp_path, {'code = "TESTCM"': 'code = "OTHER"', "credits = 3": "credits = 5"}, name="bad.toml")
    before = table_count(Certification)
    with pytest.raises(CatalogueInvalid) as exc:
        import_catalogue([tmp_path])
    db.session.rollback()
    assert [p.path for p in exc.value.problems] == ["credits"]
    assert table_count(Certification) == before
    assert latest_certification("TESTCM") is None


def test_company_criteria_are_carried_to_the_new_version(app: Flask, tmp_path: Path) -> None:
    _import(write_sample(tmp_path))
    acme = add_partner(Actor(label="test"), "acme", "Acme", "employer")
    offer_certification(acme, "TESTCM")
    add_partner_criterion(acme, "TESTCM", "U1.2", "ACME-1", "The learner can use the Acme QTL template.")
    add_partner_criterion(acme, "TESTCM", "U2.1", "ACME-2", "The learner can log findings in Acme's tracker.")
    db.session.commit()

    # Version 2 drops outcome U2.1 (so ACME-2 has nowhere to go) and changes a text.
    text = write_sample(tmp_path, CHANGED_TEXT).read_text()
    unit2 = text.index('[[units]]\ncode = "U2"')
    dropped = text[:unit2].replace("credits = 3", "credits = 2")
    [result] = _import(write_sample(tmp_path, text=dropped))
    assert result.version == 2
    assert result.carried == ["acme ACME-1"]
    assert len(result.not_carried) == 1 and result.not_carried[0].startswith("acme ACME-2: outcome U2.1")

    v1, v2 = _versions()
    assert [k.code for k in criteria_for(v2, acme.id)] == ["U1.1.1", "U1.1.2", "U1.2.1", "ACME-1"]
    assert [k.code for k in criteria_for(v1, acme.id)] == ["U1.1.1", "U1.1.2", "U1.2.1", "ACME-1", "U2.1.1", "ACME-2"]
    assert content_hash(certification_data(v2)) == v2.content_hash  # partner criteria are not catalogue content


def test_company_criterion_whose_code_the_catalogue_now_uses_is_not_carried(app: Flask, tmp_path: Path) -> None:
    _import(write_sample(tmp_path))
    acme = add_partner(Actor(label="test"), "acme", "Acme", "employer")
    offer_certification(acme, "TESTCM")
    add_partner_criterion(acme, "TESTCM", "U1.2", "U1.2.2", "The learner can use the Acme QTL template.")
    db.session.commit()
    [result] = _import(write_sample(tmp_path, {'code = "U2.1.1"': 'code = "U1.2.2"'}))
    assert result.carried == []
    assert result.not_carried == ["acme U1.2.2: code U1.2.2 is used by a catalogue criterion in version 2"]


def test_default_import_reads_the_configured_directory(app: Flask, tmp_path: Path) -> None:
    # The demo platform already imported the shipped catalogue when the app started.
    results = import_catalogue()
    assert {r.code for r in results} >= {"CMIACR", "CRAIACR"}
    assert all(r.status == "unchanged" and r.version == 1 for r in results)

"""Mapping from the criterion's side (issue 16): from a criterion of the criteria map, link existing evidence
items to it and unlink them; audited as edits of the items; only while the portfolio can change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.models import EvidenceItem
from lti_tool.store.db import db
from tests import factories as f
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser


@pytest.fixture
def ada(app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)
    browser = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    browser.start()
    return browser


def _items():
    db.session.expire_all()
    return {i.title: sorted(c.code for c in i.criteria) for i in db.session.scalars(select(EvidenceItem))}


def test_link_and_unlink_existing_evidence_from_a_criterion(app, ada):
    portfolio = ada.portfolio()
    ids = {c.code: c.id for c in criteria_for(portfolio.certification, None)}
    ada.add_item(portfolio.id, files=[(f.PDF, "a.pdf")], criteria=[ids["1.1.1"]], title="Site report")
    ada.add_item(portfolio.id, files=[(f.PDF, "b.pdf")], criteria=[ids["1.1.2"]], title="Witness statement")
    report, witness = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id))
    url = f"/portfolio/{portfolio.id}/criteria/{ids['2.1.1']}"

    overview = ada.get(f"/portfolio/{portfolio.id}").data.decode()
    assert f'href="{url}">Link or unlink evidence for 2.1.1</a>' in overview
    page = ada.get(url).data.decode()
    assert "Criterion 2.1.1" in page and "No evidence yet" in page
    assert f'id="link-{report.id}" name="items" value="{report.id}">' in page  # offered, not ticked

    resp = ada.post(url, {"items": [str(report.id), str(witness.id)]})
    assert resp.status_code == 303 and resp.location.endswith(f"{url}?notice=mapped")
    assert _items() == {"Site report": ["1.1.1", "2.1.1"], "Witness statement": ["1.1.2", "2.1.1"]}
    page = ada.get(resp.location).data.decode()
    assert "Links saved" in page and f'value="{report.id}" checked' in page and "Evidence mapped" in page

    # Unlinking from another criterion's side leaves the item's other criteria alone.
    resp = ada.post(f"/portfolio/{portfolio.id}/criteria/{ids['1.1.1']}", {"items": []})
    assert resp.status_code == 303
    assert _items() == {"Site report": ["2.1.1"], "Witness statement": ["1.1.2", "2.1.1"]}
    changes = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.changed")))
    assert len(changes) == 3  # one per item changed, none for an item left as it was


def test_criterion_page_refuses_what_is_not_yours_and_what_is_locked(app, ada, jwks_server):
    portfolio = ada.portfolio()
    ids = [c.id for c in criteria_for(portfolio.certification, None)]
    ada.add_item(portfolio.id, files=[(f.PDF, "a.pdf")], criteria=ids[:1])
    item = db.session.scalar(select(EvidenceItem))
    # A criterion of another certification, an item of another portfolio: clear 4xx, nothing changed.
    other = f.make_certification("OTHER", units=1, outcomes=1, criteria=1)
    stranger = criteria_for(other, None)[0].id
    assert ada.get(f"/portfolio/{portfolio.id}/criteria/{stranger}").status_code == 404
    resp = ada.post(f"/portfolio/{portfolio.id}/criteria/{ids[1]}", {"items": [str(item.id + 1000)]})
    assert resp.status_code == 400 and b"not (or no longer) in your portfolio" in resp.data
    assert _items() == {"Monitoring report": ["1.1.1"]}
    # Submitted: the page still shows the links, read-only, and a post is refused.
    assert ada.submit(portfolio.id, 1).status_code == 303
    page = ada.get(f"/portfolio/{portfolio.id}/criteria/{ids[0]}").data.decode()
    assert 'name="items"' not in page and "Monitoring report" in page and "cannot be changed now" in page
    assert ada.post(f"/portfolio/{portfolio.id}/criteria/{ids[1]}", {"items": [str(item.id)]}).status_code == 409
    assert _items() == {"Monitoring report": ["1.1.1"]}

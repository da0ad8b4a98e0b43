"""The learner's experience (issue 16): submission rules, appeals in the flow, progress at a glance, mapping
that scales, one date format. Route tests through real launches; browser tests are in tests/browser."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio import workflow
from lti_tool.portfolio.catalogue.queries import criteria_for
from lti_tool.portfolio.coverage import chips_by_unit, compute_coverage
from lti_tool.portfolio.models import Submission
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT
from lti_tool.store.db import db
from lti_tool.web.dates import when
from tests import assessment_factories as af
from tests import factories as f
from tests.conftest import table_count
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser


@pytest.fixture
def cert(app):
    return f.make_certification("TSTCERT", units=2, outcomes=1, criteria=2)  # two units of two criteria


@pytest.fixture
def ada(app, jwks_server, cert):
    platform = TestPlatform(jwks_server)
    f.assign_partner(platform.registration_id, f.make_partner("acme-academy"))
    browser = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    browser.start()
    return browser


def _ids(cert):
    return [c.id for c in criteria_for(cert, None)]


# --- submission rules ----------------------------------------------------------------------------------


def test_an_empty_portfolio_cannot_be_submitted(app, ada, cert):
    portfolio = ada.portfolio()
    page = ada.get(f"/portfolio/{portfolio.id}/submit").data.decode()
    assert "Your portfolio has no evidence yet" in page and "cannot be submitted" in page
    assert "Submit anyway" not in page and 'name="attempt"' not in page  # no button to press
    resp = ada.submit(portfolio.id, 1)  # a forged or replayed post
    assert resp.status_code == 422
    assert "no evidence for any criterion yet" in resp.data.decode()
    assert table_count(Submission) == 0 and ada.portfolio().state == workflow.DRAFT
    # Evidence mapped to no criterion does not count either.
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=[])
    assert ada.submit(portfolio.id, 1).status_code == 422


def test_submit_page_lists_what_is_missing_by_unit_and_asks_to_confirm(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:2])  # unit 1 complete, unit 2 missing
    page = ada.get(f"/portfolio/{portfolio.id}/submit").data.decode()
    assert "Still missing: 2 criteria have no evidence" in page
    units_missing = re.findall(r'<h3 class="unit-missing">Unit (\S+):', page)
    assert len(units_missing) == 1  # only the unit with gaps is listed
    assert "Are you ready?" in page and "Submit anyway" in page
    assert ada.submit(portfolio.id, 1).status_code == 303


# --- progress at a glance --------------------------------------------------------------------------------


def test_portfolio_page_shows_progress_per_unit_chips_and_next_step(app, ada, cert):
    portfolio = ada.portfolio()
    page = ada.get(f"/portfolio/{portfolio.id}").data.decode()
    assert "What to do next:</strong> Add your first piece of evidence" in page
    ids = _ids(cert)
    ada.add_item(portfolio.id, files=[(f.PDF, "r.pdf")], criteria=ids[:3], title="Monitoring report")
    page = ada.get(f"/portfolio/{portfolio.id}").data.decode()
    assert page.count('class="unit-row"') == 2
    assert "100%" in page and "50%" in page and "1 missing" in page
    assert "No evidence yet: <strong>0" not in page and "Supports:" not in page
    # The item's criteria as chips grouped by unit, each linking to the criterion on the map.
    assert page.count('class="chip-group"') == 2 and f'href="/portfolio/{portfolio.id}#criterion-{ids[0]}"' in page
    # Each criterion of the map lists the evidence that supports it; counts link to the map.
    assert f'id="criterion-{ids[0]}"' in page and 'href="#item-' in page
    assert "#criteria-map" in page
    assert "What to do next:</strong> Add evidence for the 1 criterion still without any" in page
    # Mapping from the criterion's side: the form opens with that criterion ticked.
    form = ada.get(f"/portfolio/{portfolio.id}/evidence/new?criterion={ids[3]}").data.decode()
    assert re.search(rf'value="{ids[3]}"\s*checked', form)
    assert ada.get(f"/portfolio/{portfolio.id}/evidence/new?criterion=999999").status_code == 200


def test_chips_by_unit_groups_in_catalogue_order():
    criteria = [
        {
            "id": i,
            "code": f"{u}.{i}",
            "text": "",
            "unit_code": u,
            "unit_title": u,
            "outcome_code": "o",
            "outcome_text": "",
        }
        for i, u in ((1, "U1"), (2, "U1"), (3, "U2"))
    ]
    coverage = compute_coverage(criteria, {1: 1})
    assert chips_by_unit(coverage, [3, 1, 99]) == [("U1", [(1, "U1.1")]), ("U2", [(3, "U2.3")])]
    assert coverage.units[0].evidence_percent == 50 and coverage.units[0].missing[0].id == 2


# --- mapping that scales: a refused upload ------------------------------------------------------------------


def test_refused_upload_names_the_file_and_keeps_what_was_typed(app, ada, cert):
    portfolio = ada.portfolio()
    ids = _ids(cert)
    resp = ada.add_item(
        portfolio.id,
        files=[(f.TEXT, "notes.txt"), (f.EXE, "report.pdf")],
        criteria=ids[1:3],
        title="My escalation log",
        description="Typed with care",
    )
    page = resp.data.decode()
    assert resp.status_code == 400
    assert "data-error-summary" in page and "“report.pdf”" in page and "program or script" in page
    assert "“notes.txt” passed the checks" in page  # the valid file is named, to choose again
    assert 'value="My escalation log"' in page and "Typed with care" in page
    for cid in ids[1:3]:
        assert re.search(rf'value="{cid}"\s*checked', page)
    assert not re.search(rf'value="{ids[0]}"\s*checked', page)
    # The units holding ticked criteria are open; the search box and "every criterion" are there for JS.
    assert page.count('<details class="unit-choices" data-unit open>') == 2
    assert 'id="criteria-filter"' in page and "Every criterion of outcome" in page


# --- appeals in the flow ---------------------------------------------------------------------------------------


def _referred_world(client):
    w = af.world()
    decision = assessing.decide(
        w.portfolio.id, w.assessor, NOT_YET_COMPETENT, af.one_not_met(w.criteria_ids()), "More on escalation"
    )
    db.session.commit()
    af.sign_in(client, w.learner, [lti_roles.LEARNER], dep=af.deployment(w.partner))
    return w, decision


def test_referred_panel_offers_an_appeal_with_its_deadline(app, client):
    w, decision = _referred_world(client)
    page = client.get(f"/portfolio/{w.portfolio.id}").data.decode()
    deadline = decision.decided_at + dt.timedelta(days=28)
    assert "Appeal this decision" in page and f'href="/appeals/portfolio/{w.portfolio.id}"' in page
    assert deadline.strftime("%-d %B %Y") in page
    assert 'aria-label="Your pages"' in page and "My certificates" in page  # the navigation bar


def test_appeal_page_before_and_after_lodging_and_after_upheld(app, client):
    w, _ = _referred_world(client)
    url = f"/appeals/portfolio/{w.portfolio.id}"
    before = client.get(url).data.decode()
    assert "Lodge the appeal" in before and "Back to my portfolio" in before and "none waiting" not in before
    appeals.lodge(w.portfolio.id, w.learner, "The log is in item 1")
    db.session.commit()
    lodged = client.get(url).data.decode()
    assert "Your appeal is being decided" in lodged and "none waiting" not in lodged
    assert "Lodge the appeal" not in lodged and "Outcome: not yet known" in lodged
    assert "Back to my portfolio" in lodged
    portfolio_page = client.get(f"/portfolio/{w.portfolio.id}").data.decode()
    assert "Your appeal is being decided" in portfolio_page and "Where your appeal stands" in portfolio_page

    appeals.decide(w.portfolio.id, w.admin, True, "The assessor missed the log")
    db.session.commit()
    upheld = client.get(url).data.decode()
    assert "Your appeal was upheld" in upheld and "The assessor missed the log" in upheld
    assert "none waiting" not in upheld and "Lodge the appeal" not in upheld
    portfolio_page = client.get(f"/portfolio/{w.portfolio.id}").data.decode()
    assert "Your appeal was upheld" in portfolio_page and "assess your submission afresh" in portfolio_page


def test_appeal_dismissed_is_stated_on_both_pages(app, client):
    w, _ = _referred_world(client)
    appeals.lodge(w.portfolio.id, w.learner, "The log is in item 1")
    appeals.decide(w.portfolio.id, w.admin, False, "The log does not show the escalation")
    db.session.commit()
    page = client.get(f"/appeals/portfolio/{w.portfolio.id}").data.decode()
    assert "Your appeal was dismissed" in page and "The log does not show the escalation" in page
    assert "Lodge the appeal" not in page
    portfolio_page = client.get(f"/portfolio/{w.portfolio.id}").data.decode()
    assert "Your appeal was dismissed" in portfolio_page and "Appeal this decision" not in portfolio_page


# --- one date format ---------------------------------------------------------------------------------------------


def test_when_writes_utc_with_the_zone_and_the_instant():
    moment = dt.datetime(2025, 5, 2, 14, 3)
    assert str(when(moment)) == (
        '<time datetime="2025-05-02T14:03:00Z" data-local="moment">2 May 2025, 14:03 UTC</time>'
    )
    assert str(when(moment, time=False)) == '<time datetime="2025-05-02T14:03:00Z" data-local="day">2 May 2025</time>'
    assert str(when(dt.date(2025, 5, 2))) == '<time datetime="2025-05-02">2 May 2025</time>'
    assert str(when(None)) == ""

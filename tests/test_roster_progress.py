"""The instructor's roster (issue 17): progress per learner (criteria with evidence, criteria met in the latest
decision) and the CSV export, for the same people as the page; spreadsheet formulas are not let through."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from lti_tool.grading import roster
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.portfolio.models import EvidenceItem
from lti_tool.store.db import db
from tests.grading_helpers import make_certification, make_portfolio
from tests.lti_helpers import demo_launch

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _user(sub: str) -> LtiUser:
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub))


@SQLITE_ONLY
def test_progress_and_csv_export(client):
    learner = client.application.test_client()
    demo_launch(learner, "demo-learner-ada")
    cert = make_certification()
    portfolio = make_portfolio(_user("demo-learner-ada"), db.session.scalar(select(ResourceLink)), cert)
    first = cert.units[0].outcomes[0].criteria[0]
    item = EvidenceItem(portfolio_id=portfolio.id, kind="work_product", title="Report")
    item.criteria = [first]
    db.session.add(item)
    db.session.commit()

    demo_launch(client, "demo-instructor-iris")
    html = client.get("/grading/roster").data.decode()
    assert "50%" in html and "1 of 2 criteria with evidence" in html and "/grading/roster.csv" in html

    resp = client.get("/grading/roster.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(resp.data.decode())))
    assert rows[0][:6] == ["Learner", "E-mail", "LMS user id", "In the course roster", "State", "Progress %"]
    ada = next(r for r in rows if r[0] == "Ada Mensah")
    assert ada[5:8] == ["50", "1", "2"]

    # The export is the instructors', as the page is.
    assert learner.get("/grading/roster.csv").status_code == 403


def test_csv_cells_never_start_a_formula():
    row = roster.RosterRow(lms_user_id="x", name='=HYPERLINK("http://evil")', email="@me")
    cells = roster.csv_rows(roster.Roster(rows=[row]))[1]
    assert cells[0].startswith("'=") and cells[1] == "'@me"

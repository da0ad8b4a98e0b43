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
from tests.grading_helpers import make_certification, make_portfolio, submit
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


@SQLITE_ONLY
def test_roster_filter_sort_and_read_only_portfolio(client):
    learner = client.application.test_client()
    demo_launch(learner, "demo-learner-ada")
    demo_launch(client.application.test_client(), "demo-learner-ben")
    cert = make_certification()
    link = db.session.scalar(select(ResourceLink))
    ada = make_portfolio(_user("demo-learner-ada"), link, cert)
    ben = make_portfolio(_user("demo-learner-ben"), link, cert)
    submit(ben)
    item = EvidenceItem(portfolio_id=ada.id, kind="work_product", title="Private-title-QZ", description="Private")
    item.criteria = [cert.units[0].outcomes[0].criteria[0]]
    db.session.add(item)
    db.session.commit()

    demo_launch(client, "demo-instructor-iris")
    html = client.get("/grading/roster?state=submitted").data.decode()
    assert "Ben" in html and "Ada Mensah" not in html and 'value="submitted" selected' in html
    html = client.get("/grading/roster?state=draft").data.decode()
    assert "Ada Mensah" in html and ">Ben" not in html
    html = client.get("/grading/roster?sort=state").data.decode()
    assert html.index("Ada Mensah") < html.index("Ben ")  # a draft comes before a submission
    assert client.get("/grading/roster?state=nope").status_code == 400
    assert client.get("/grading/roster?sort=nope").status_code == 400

    # The learner's portfolio, read only: criteria states and the evidence list, no title, no file link.
    html = client.get(f"/grading/roster/portfolios/{ada.id}").data.decode()
    assert "Portfolio of Ada Mensah" in html and "1 of 2 criteria with evidence" in html
    assert 'data-criterion-state="mapped"' in html and 'data-criterion-state="none"' in html
    assert "Item 1:" in html and "Private-title-QZ" not in html and "/files/" not in html
    assert f"/grading/roster/portfolios/{ada.id}" in client.get("/grading/roster").data.decode()
    # Learners (even its owner) are told there is no such portfolio (other courses: the authorization matrix).
    assert learner.get(f"/grading/roster/portfolios/{ada.id}").status_code == 404
    assert client.get("/grading/roster/portfolios/999999").status_code == 404

"""The judging pages (issue 17): the confirmation step with its declaration before every final decision
(assessment and both verification steps), the declaration recorded in the decision's audit event, errors
linked to their fields, criteria grouped by unit and outcome, and evidence shown inside the tool under a
sandboxing policy to exactly those who may download it."""

from __future__ import annotations

import io

from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.launch import roles as lti_roles
from lti_tool.portfolio import workflow
from lti_tool.portfolio.evidence.storage import storage
from lti_tool.portfolio.models import EvidenceFile, EvidenceItem, StoredFile
from lti_tool.portfolio.review import assessment as assessing
from lti_tool.portfolio.review.assessment_models import COMPETENT
from lti_tool.store.db import db
from tests import assessment_factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CSV = b"site,finding\n104,late query\n"


def _form(sess, **data):
    return {"csrf_token": sess.csrf_token, **data}


def _all_met(ids, **extra):
    data = {f"met-{cid}": "met" for cid in ids}
    data.update({f"feedback-{cid}": "Seen" for cid in ids})
    return {**data, "summary": "Fine", **extra}


def _decision_event(portfolio_id: int, to_state: str) -> AuditEvent:
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == str(portfolio_id))).all()
    return next(e for e in reversed(events) if (e.after or {}).get("state") == to_state)


def test_assessment_needs_the_confirmation_and_the_declaration_is_audited(app, client):
    w = f.world()
    ids = w.criteria_ids()
    sess = f.sign_in(client, w.assessor)
    url = f"/staff/portfolios/{w.portfolio.id}/assess"

    page = client.get(url).data.decode()
    assert "Judged 0 of 4" in page and page.count('<details class="judging-unit"') == 2
    assert page.count("open data-unit") == 1  # every unit folded but the one in hand
    assert "All met in" in page and "1 KB" in page  # sizes for people, as the learner pages write them

    # The judging form asks for a decision: the judgements are saved, nothing is decided, the declaration is asked.
    resp = client.post(url, data=_form(sess, action="competent", **_all_met(ids)))
    assert resp.status_code == 200 and b"This judgement is my own" in resp.data
    db.session.expire_all()
    assert w.portfolio.state == workflow.SUBMITTED
    assert "Judged 4 of 4" in client.get(url).data.decode()  # the draft kept every judgement

    # Confirming without ticking the declaration decides nothing.
    resp = client.post(url, data=_form(sess, action="competent", step="confirm"))
    assert resp.status_code == 422 and b"Tick the declaration" in resp.data
    db.session.expire_all()
    assert w.portfolio.state == workflow.SUBMITTED

    resp = client.post(url, data=_form(sess, action="competent", step="confirm", declaration="accepted"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.ASSESSED or w.portfolio.state.startswith("verification")
    event = _decision_event(w.portfolio.id, workflow.ASSESSED)
    assert event.after["declaration_accepted"] is True
    assert event.after["declaration"] == assessing.DECLARATION


def test_an_incomplete_decision_links_each_criterion_in_error(app, client):
    w = f.world()
    ids = w.criteria_ids()
    sess = f.sign_in(client, w.assessor)
    url = f"/staff/portfolios/{w.portfolio.id}/assess"
    data = _all_met(ids[:3], action="competent")
    resp = client.post(url, data=_form(sess, **data))
    assert resp.status_code == 422
    html = resp.data.decode()
    assert f'href="#met-{ids[3]}-met"' in html and f'id="met-{ids[3]}-met"' in html
    assert "criterion-error" in html and "Judged 3 of 4" in html
    # The unit holding the criterion in error is the one unfolded.
    unit2 = html.index("Unit U2")
    assert html.rfind("open data-unit", 0, unit2 + 200) > html.rfind("Unit U1")
    db.session.expire_all()
    assert w.portfolio.state == workflow.SUBMITTED


def test_verification_steps_need_the_confirmation(app, client):
    w = f.world(threshold=5)  # a new assessor's decisions are all sampled: step 1 first
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), "Fine")
    db.session.commit()
    assert w.portfolio.state == workflow.VERIFICATION_1
    url = f"/staff/portfolios/{w.portfolio.id}/verify"
    sess = f.sign_in(client, w.iv)
    page = client.get(url).data.decode()
    assert "judging-unit" in page and "Record the outcome" in page

    resp = client.post(url, data=_form(sess, outcome="agree"))
    assert resp.status_code == 200 and b"This judgement is my own" in resp.data
    resp = client.post(url, data=_form(sess, outcome="agree", step="confirm"))
    assert resp.status_code == 422
    # Sending back still needs a rationale before anything is asked.
    assert client.post(url, data=_form(sess, outcome="disagree")).status_code == 422
    assert client.post(url, data=_form(sess, outcome="confirm")).status_code == 422  # not a step-1 outcome
    db.session.expire_all()
    assert w.portfolio.state == workflow.VERIFICATION_1

    resp = client.post(url, data=_form(sess, outcome="agree", step="confirm", declaration="accepted"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.VERIFICATION_2
    assert _decision_event(w.portfolio.id, workflow.VERIFICATION_2).after["declaration_accepted"] is True

    sess = f.sign_in(client, w.ev)
    assert client.post(url, data=_form(sess, outcome="confirm")).status_code == 200
    resp = client.post(url, data=_form(sess, outcome="confirm", step="confirm", declaration="accepted"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.portfolio.state == workflow.AWARDED
    assert _decision_event(w.portfolio.id, workflow.AWARDED).after["declaration"] == assessing.DECLARATION


def _with_files(w: f.World) -> dict[str, str]:
    """A submitted portfolio with an image and a CSV really in storage; returns sha256 by kind."""
    row = f.portfolio(f.user("Fay Files", [lti_roles.LEARNER], f.deployment(w.partner)), w.cert, w.partner, [])
    item = EvidenceItem(portfolio_id=row.id, kind="work_product", title="Site photos")
    shas = {}
    for name, data, media_type in (("site.png", PNG, "image/png"), ("findings.csv", CSV, "text/csv")):
        put = storage().put(io.BytesIO(data))
        if db.session.get(StoredFile, put.sha256) is None:
            db.session.add(StoredFile(sha256=put.sha256, size=put.size, media_type=media_type))
        item.files.append(EvidenceFile(sha256=put.sha256, filename=name))
        shas[media_type] = put.sha256
    db.session.add(item)
    db.session.flush()
    db.session.refresh(row)
    f.submit(row)
    db.session.commit()
    shas["portfolio"] = str(row.id)
    return shas


def test_evidence_is_shown_inline_only_to_who_may_download_it(app, client):
    w = f.world()
    shas = _with_files(w)
    pid = shas["portfolio"]
    png = f"/staff/portfolios/{pid}/attempts/1/files/{shas['image/png']}/view"
    csv = f"/staff/portfolios/{pid}/attempts/1/files/{shas['text/csv']}/view"

    assert client.get(png).status_code == 401
    f.sign_in(client, w.assessor)
    page = client.get(f"/staff/portfolios/{pid}/assess").data.decode()
    assert png in page and 'target="evidence-viewer"' in page and csv not in page  # CSV: a download only

    resp = client.get(png)
    assert resp.status_code == 200 and resp.data == PNG and resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    policy = resp.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox; default-src 'none'; img-src 'self'") and "script-src" not in policy
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    resp = client.get(csv)
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment;")

    # Another learner, even of the same partner, and staff not covering the partner: as if nothing were there.
    f.sign_in(client, w.learner, [lti_roles.LEARNER], dep=f.deployment(w.partner))
    assert client.get(png).status_code == 404
    outsider = f.user("Out Sider")
    f.grant(outsider, "assessor", w.other_partner)
    db.session.commit()
    f.sign_in(client, outsider)
    assert client.get(png).status_code == 404
    # Addresses that name nothing: a 404, never a 500.
    f.sign_in(client, w.assessor)
    assert client.get(f"/staff/portfolios/{pid}/attempts/1/files/nothex/view").status_code == 404
    assert client.get(f"/staff/portfolios/{pid}/attempts/9/files/{shas['image/png']}/view").status_code == 404
    assert client.get(f"/staff/portfolios/999999/attempts/1/files/{shas['image/png']}/view").status_code == 404


def test_sampling_report_for_tool_admins(app, client):
    w = f.world(threshold=5)  # a new assessor's competent decisions are all sampled
    assessing.decide(w.portfolio.id, w.assessor, COMPETENT, f.all_met(w.criteria_ids()), "Fine")
    db.session.commit()
    sess = f.sign_in(client, w.iv)
    url = f"/staff/portfolios/{w.portfolio.id}/verify"
    data = {"csrf_token": sess.csrf_token, "outcome": "agree", "step": "confirm", "declaration": "accepted"}
    assert client.post(url, data=data).status_code == 303

    assert client.get("/staff/sampling").status_code == 403  # a verifier, not a tool administrator
    f.sign_in(client, w.admin, [lti_roles.INSTITUTION_ADMIN])
    html = client.get("/staff/sampling").data.decode()
    row = html[html.index("Sam Assessor") :]
    row = row[: row.index("</tr>")]
    assert "CMIACR" in row and "1 of 1 (100%)" in row and "<td>1 / 0</td>" in row
    assert 'aria-current="page"' in html and ">Sampling report</a>" in html
    assert "No decisions yet for NOPE" in client.get("/staff/sampling?certification=NOPE").data.decode()


def test_the_draft_is_saved_in_the_background(app, client):
    w = f.world()
    ids = w.criteria_ids()
    sess = f.sign_in(client, w.assessor)
    url = f"/staff/portfolios/{w.portfolio.id}/assess"
    data = _form(sess, action="save", summary="", **{f"met-{ids[0]}": "met"})
    resp = client.post(url, data=data, headers={"X-Requested-With": "autosave"})
    assert resp.status_code == 204 and resp.data == b""
    page = client.get(url).data.decode()
    assert "Judged 1 of 4" in page and "Draft saved." not in page  # no message left for the next page
    # What cannot be saved is refused as for the button (feedback before a judgement), and nothing changes.
    data = _form(sess, action="save", **{f"feedback-{ids[1]}": "Orphan"})
    assert client.post(url, data=data, headers={"X-Requested-With": "autosave"}).status_code == 422
    assert "Judged 1 of 4" in client.get(url).data.decode()

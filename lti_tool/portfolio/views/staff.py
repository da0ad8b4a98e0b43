"""Staff pages: work queues, assessment, verification and appeal decisions. Thin: the services decide.

Every page checks, through the same service functions that enforce the rules, that this person may act on
this portfolio now; a refusal is a 403/409 page, never a hidden button only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from lti_tool.identity import staff
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.launch.session import deny, login_required, require_session
from lti_tool.portfolio import access, workflow
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import EVIDENCE_KINDS, Submission
from lti_tool.portfolio.review import appeals, queues
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review import verification as verification_service
from lti_tool.portfolio.review.assessment import Judgement
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Award
from lti_tool.portfolio.review.lookup import get_portfolio, last_decision, latest_submission
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import whole_number
from lti_tool.web.paging import page_number

bp = Blueprint("staff_work", __name__, url_prefix="/staff")


@bp.app_template_global()
def evidence_file_url(portfolio_id: int, submission_id: int, sha256: str) -> str | None:
    """The submitted file as it was (served from the snapshot by the portfolio module)."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.portfolio_id != portfolio_id:
        return None
    return url_for(
        "learner.download_submitted_file", portfolio_id=portfolio_id, attempt=submission.attempt, sha256=sha256
    )


def _me() -> LtiUser:
    return require_session().user


def _redirect(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


def _filters() -> queues.Filters:
    code = (request.args.get("certification") or "").strip() or None
    partner = request.args.get("partner") or ""
    return queues.Filters(certification_code=code, partner_id=whole_number(partner))


def _filter_options() -> dict[str, Any]:
    codes = sorted(set(db.session.scalars(select(Certification.code))))
    partners = list(db.session.scalars(select(Partner).order_by(Partner.name)))
    return {"certification_codes": codes, "partners": partners}


def _require_staff(user: LtiUser) -> list[queues.Queue]:
    visible = queues.visible_queues(user.id)
    if not visible:
        raise deny("You hold no assessor, verifier or administrator role in this tool.")
    return visible


@bp.route("/")
@login_required
def home() -> str:
    user = _me()
    visible = _require_staff(user)
    filters = _filters()
    grants = staff.grants_for(user.id)
    counts = {q.name: queues.count(user.id, q, filters, grants) for q in visible}
    return render_template(
        "staff/home.html",
        queues=visible,
        counts=counts,
        count_label=queues.count_label,
        filters=filters,
        is_admin=staff.is_tool_admin(user.id),
        **_filter_options(),
    )


@bp.route("/queue/<name>")
@login_required
def queue(name: str) -> str:
    user = _me()
    visible = _require_staff(user)
    q = queues.BY_NAME.get(name)
    if q is None or q not in visible:
        raise NotFound("There is no such work queue for you.")
    filters = _filters()
    page = queues.page(user.id, q, filters, page_number())
    return render_template(
        "staff/queue.html",
        queue=q,
        page=page,
        items=page.items,
        filters=filters,
        state_labels=workflow.STATE_LABELS,
        **_filter_options(),
    )


@bp.route("/portfolios/<int:portfolio_id>")
@login_required
def record(portfolio_id: int) -> str:
    user = _me()
    portfolio = get_portfolio(portfolio_id)
    if not access.staff_can_view(user.id, portfolio):
        raise deny("Your staff roles do not cover this portfolio's partner and certification.")
    submission = portfolio.submissions[-1] if portfolio.submissions else None
    award = db.session.scalar(select(Award).where(Award.portfolio_id == portfolio.id))
    return render_template(
        "staff/record.html",
        portfolio=portfolio,
        submission=submission,
        award=award,
        snapshot=_snapshot_view(submission) if submission else None,
        trail=verification_service.decision_trail(portfolio),
        state_labels=workflow.STATE_LABELS,
    )


def _snapshot_view(submission: Submission) -> dict[str, Any]:
    """The frozen snapshot arranged for reading: criteria by unit, each with the evidence mapped to it."""
    evidence = snap.evidence(submission.snapshot)
    units: list[dict[str, Any]] = []
    for c in snap.criteria(submission.snapshot):
        if not units or units[-1]["code"] != c["unit_code"]:
            units.append({"code": c["unit_code"], "title": c["unit_title"], "criteria": []})
        mapped = [e for e in evidence if c["id"] in e.get("criteria", [])]
        units[-1]["criteria"].append({**c, "evidence": mapped})
    return {
        "certification": snap.certification(submission.snapshot),
        "units": units,
        "evidence": evidence,
        "kinds": EVIDENCE_KINDS,
    }


def _parse_judgements(submission: Submission) -> dict[int, Judgement]:
    out = {}
    for c in snap.criteria(submission.snapshot):
        raw = request.form.get(f"met-{c['id']}", "")
        met = {"met": True, "not_met": False}.get(raw)
        out[c["id"]] = Judgement(met, request.form.get(f"feedback-{c['id']}", ""))
    return out


@bp.route("/portfolios/<int:portfolio_id>/assess", methods=["GET", "POST"])
@login_required
def assess(portfolio_id: int) -> str | Response | tuple[str, int]:
    user = _me()
    portfolio = get_portfolio(portfolio_id)
    submission = assessment_service.check_may_assess(portfolio, user)
    values, summary = assessment_service.starting_values(portfolio, submission, user.id)
    error = None
    if request.method == "POST":
        action = request.form.get("action", "save")
        judgements = _parse_judgements(submission)
        summary = request.form.get("summary", "")
        try:
            if action == "save":
                assessment_service.save_draft(portfolio.id, user, judgements, summary)
                db.session.commit()
                flash("Draft saved. Nothing is decided until you choose an overall decision.", "info")
                return _redirect("staff_work.assess", portfolio_id=portfolio.id)
            decision = {"competent": COMPETENT, "not_yet_competent": NOT_YET_COMPETENT}.get(action, action)
            assessment_service.decide(portfolio.id, user, decision, judgements, summary)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error, values = exc.message, judgements
        else:
            flash(
                f"Decision recorded: {assessment_service.DECISIONS[decision].lower()}. "
                f"The portfolio is now '{workflow.STATE_LABELS[get_portfolio(portfolio.id).state].lower()}'.",
                "info",
            )
            return _redirect("staff_work.home")
    previous = last_decision(submission) if portfolio.state == workflow.SENT_BACK else None
    page = render_template(
        "staff/assess.html",
        portfolio=portfolio,
        submission=submission,
        snapshot=_snapshot_view(submission),
        values=values,
        summary=summary,
        error=error,
        previous=previous,
        trail=verification_service.decision_trail(portfolio),
        state_labels=workflow.STATE_LABELS,
    )
    return (page, 422) if error else page


@bp.route("/portfolios/<int:portfolio_id>/verify", methods=["GET", "POST"])
@login_required
def verify(portfolio_id: int) -> str | Response | tuple[str, int]:
    user = _me()
    portfolio, step = verification_service.portfolio_for_step(portfolio_id, user)
    submission, assessment = verification_service.check_may_verify(portfolio, user, step)
    error, rationale = None, ""
    if request.method == "POST":
        outcome = request.form.get("outcome", "")
        rationale = request.form.get("rationale", "")
        agree = {"agree": True, "confirm": True, "disagree": False, "send_back": False}.get(outcome)
        try:
            if agree is None:
                raise UserError("Choose an outcome.")
            record = verification_service.verify(portfolio.id, user, step, agree, rationale)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
        else:
            flash(f"Verification step {step}: {record.outcome_label.lower()}.", "info")
            return _redirect("staff_work.home")
    page = render_template(
        "staff/verify.html",
        portfolio=portfolio,
        submission=submission,
        decision=assessment,
        step=step,
        snapshot=_snapshot_view(submission),
        error=error,
        rationale=rationale,
        trail=verification_service.decision_trail(portfolio),
        judgements={j.criterion_id: j for j in assessment.judgements},
        decisions=assessment_service.DECISIONS,
    )
    return (page, 422) if error else page


@bp.route("/portfolios/<int:portfolio_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal(portfolio_id: int) -> str | Response | tuple[str, int]:
    user = _me()
    portfolio = get_portfolio(portfolio_id)
    the_appeal = appeals.check_may_decide(portfolio, user)
    submission = latest_submission(portfolio)
    error, rationale = None, ""
    if request.method == "POST":
        outcome = request.form.get("outcome", "")
        rationale = request.form.get("rationale", "")
        try:
            if outcome not in ("uphold", "dismiss"):
                raise UserError("Choose whether the appeal is upheld or dismissed.")
            decided = appeals.decide(portfolio.id, user, outcome == "uphold", rationale)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
        else:
            flash(f"Appeal {decided.status_label.lower()}.", "info")
            return _redirect("staff_work.home")
    decision = the_appeal.assessment
    page = render_template(
        "staff/appeal.html",
        portfolio=portfolio,
        appeal=the_appeal,
        decision=decision,
        submission=submission,
        snapshot=_snapshot_view(submission),
        error=error,
        rationale=rationale,
        trail=verification_service.decision_trail(portfolio),
        judgements={j.criterion_id: j for j in decision.judgements},
        decisions=assessment_service.DECISIONS,
    )
    return (page, 422) if error else page


def staff_work(sess: ToolSession) -> Response | None:
    """Landing: staff (launched in a non-learner role, holding a tool grant) go to their work queues."""
    if not lti_roles.is_learner(sess.roles) and staff.grants_for(sess.user_id):
        return redirect(url_for("staff_work.home"), code=303)
    return None

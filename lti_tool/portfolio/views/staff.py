"""Staff pages: work queues, assessment, verification and appeal decisions. Thin: the services decide.

Every page checks, through the same service functions that enforce the rules, that this person may act on
this portfolio now; a refusal is a 403/409 page, never a hidden button only.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from lti_tool.identity import staff
from lti_tool.identity.access import require_tool_admin
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.launch.session import deny, login_required, require_session
from lti_tool.portfolio import access, learner, workflow
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.evidence.file_checks import media_type_info
from lti_tool.portfolio.evidence.file_names import content_disposition
from lti_tool.portfolio.evidence.storage import StorageError, check_address, storage
from lti_tool.portfolio.models import EVIDENCE_KINDS, Portfolio, Submission
from lti_tool.portfolio.review import appeals, queues, reports
from lti_tool.portfolio.review import assessment as assessment_service
from lti_tool.portfolio.review import verification as verification_service
from lti_tool.portfolio.review.appeal_models import UPHELD
from lti_tool.portfolio.review.assessment import Judgement
from lti_tool.portfolio.review.assessment_models import COMPETENT, NOT_YET_COMPETENT, Award
from lti_tool.portfolio.review.lookup import get_portfolio, last_decision, latest_submission
from lti_tool.store.db import db
from lti_tool.web.errors import N_, NotFound, UserError
from lti_tool.web.form_parsing import whole_number
from lti_tool.web.paging import page_number
from lti_tool.web.security_headers import content_security_policy

bp = Blueprint("staff_work", __name__, url_prefix="/staff")

# Shown inside the tool beside the criteria; anything else is a download. SVG is left out on purpose: it is
# a document that can carry script, and is not an accepted upload type anyway.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
# The file's own policy: a sandboxed document (no script, no forms, an opaque origin) that may show itself
# (an image, or a PDF in the browser's viewer) and load nothing else. frame-ancestors is the tool's own (the
# file is framed by the judging page, itself framed by the LMS).
INLINE_CSP = "sandbox; default-src 'none'; img-src 'self'; object-src 'self'"


@bp.app_template_global()
def evidence_file_url(portfolio_id: int, submission_id: int, sha256: str) -> str | None:
    """The submitted file as it was (served from the snapshot by the portfolio module)."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.portfolio_id != portfolio_id:
        return None
    return url_for(
        "learner.download_submitted_file", portfolio_id=portfolio_id, attempt=submission.attempt, sha256=sha256
    )


@bp.app_template_global()
def evidence_view_url(portfolio_id: int, submission_id: int, sha256: str, media_type: str) -> str | None:
    """Where a submitted image or PDF is shown inside the tool (None for types that are only downloaded)."""
    submission = db.session.get(Submission, submission_id)
    if media_type not in INLINE_TYPES or submission is None or submission.portfolio_id != portfolio_id:
        return None
    return url_for("staff_work.view_file", portfolio_id=portfolio_id, attempt=submission.attempt, sha256=sha256)


def _me() -> LtiUser:
    return require_session().user


def _redirect(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


def _filters() -> queues.Filters:
    code = (request.args.get("certification") or "").strip() or None
    partner = request.args.get("partner") or ""
    search = " ".join((request.args.get("q") or "").split())[: queues.MAX_SEARCH] or None
    claimed = request.args.get("claimed") or None
    if claimed is not None and claimed not in queues.CLAIM_FILTERS:
        raise UserError("Choose who has claimed the work: you, nobody, or anyone.")
    overdue = _service_level_days() if request.args.get("overdue") == "1" else None
    return queues.Filters(
        certification_code=code,
        partner_id=whole_number(partner),
        search=search,
        claimed=claimed,
        overdue_days=overdue,
    )


def _service_level_days() -> int:
    return int(current_app.config.get("SERVICE_LEVEL_DAYS", 10))


def filter_args(filters: queues.Filters) -> dict[str, Any]:
    """The filters as query arguments (for links that keep them: queue pages, pager)."""
    values = {
        "certification": filters.certification_code,
        "partner": filters.partner_id,
        "q": filters.search,
        "claimed": filters.claimed,
        "overdue": 1 if filters.overdue_days is not None else None,
    }
    return {k: v for k, v in values.items() if v is not None}


def _filter_options() -> dict[str, Any]:
    codes = sorted(set(db.session.scalars(select(Certification.code))))
    partners = list(db.session.scalars(select(Partner).order_by(Partner.name)))
    return {
        "certification_codes": codes,
        "partners": partners,
        "claim_filters": queues.CLAIM_FILTERS,
        "service_level_days": _service_level_days(),
    }


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
    is_admin = staff.is_tool_admin(user.id)
    return render_template(
        "staff/home.html",
        queues=visible,
        allocation=[q for q in queues.QUEUES if q.name in queues.CLAIMABLE] if is_admin else [],
        counts=counts,
        count_label=queues.count_label,
        filters=filters,
        filter_args=filter_args(filters),
        is_admin=is_admin,
        **_filter_options(),
    )


@bp.route("/queue/<name>")
@login_required
def queue(name: str) -> str:
    """A queue as it waits for this person; for a tool administrator with ?all=1, every item of a claimable
    queue (to see who holds what and reassign)."""
    user = _me()
    visible = _require_staff(user)
    is_admin = staff.is_tool_admin(user.id)
    q = queues.BY_NAME.get(name)
    oversee = is_admin and request.args.get("all") == "1" and q is not None and q.name in queues.CLAIMABLE
    if q is None or (q not in visible and not oversee):
        raise NotFound("There is no such work queue for you.")
    filters = _filters()
    page = queues.page(user.id, q, filters, page_number(), oversee=oversee)
    return render_template(
        "staff/queue.html",
        queue=q,
        page=page,
        items=page.items,
        filters=filters,
        state_labels=workflow.STATE_LABELS,
        me=user.id,
        oversee=oversee,
        claimable=q.name in queues.CLAIMABLE,
        is_admin=is_admin,
        reassign_to=queues.staff_for(q) if is_admin and q.name in queues.CLAIMABLE else [],
        filter_args=filter_args(filters),
        **_filter_options(),
    )


def _claimable_queue(user: LtiUser, name: str) -> queues.Queue:
    q = queues.BY_NAME.get(name)
    visible = _require_staff(user)
    if q is None or q.name not in queues.CLAIMABLE or (q not in visible and not staff.is_tool_admin(user.id)):
        raise NotFound("There is no such work queue for you.")
    return q


def _back_to_queue(q: queues.Queue) -> Response:
    # Back to the queue as it was filtered (the form carries the filters along).
    keep = ("certification", "partner", "q", "claimed", "overdue", "all")
    values = {k: request.form.get(k) for k in keep if request.form.get(k)}
    return _redirect("staff_work.queue", name=q.name, **values)


@bp.route("/queue/<name>/<int:portfolio_id>/claim", methods=["POST"])
@login_required
def claim(name: str, portfolio_id: int) -> Response:
    """Take an item of the queue, so that others see who is on it."""
    user = _me()
    q = _claimable_queue(user, name)
    queues.claim(portfolio_id, user, q)
    db.session.commit()
    flash("Claimed: others see that you are on it.", "info")
    return _back_to_queue(q)


@bp.route("/queue/<name>/<int:portfolio_id>/release", methods=["POST"])
@login_required
def release(name: str, portfolio_id: int) -> Response:
    """Give an item back (its holder, or a tool administrator)."""
    user = _me()
    q = _claimable_queue(user, name)
    queues.release(portfolio_id, user)
    db.session.commit()
    flash("Released: anyone it waits for can take it.", "info")
    return _back_to_queue(q)


@bp.route("/queue/<name>/<int:portfolio_id>/reassign", methods=["POST"])
@login_required
def reassign(name: str, portfolio_id: int) -> Response:
    """A tool administrator gives an item to someone it waits for."""
    user = _me()
    q = _claimable_queue(user, name)
    holder = queues.reassign(portfolio_id, user, q, whole_number(request.form.get("user_id", "")))
    db.session.commit()
    flash(gettext("Given to %(name)s.", name=holder.user.display_name()), "info")
    return _back_to_queue(q)


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
    """The frozen snapshot arranged for reading: criteria by unit and outcome, each with the evidence mapped
    to it."""
    evidence = snap.evidence(submission.snapshot)
    units: list[dict[str, Any]] = []
    for c in snap.criteria(submission.snapshot):
        if not units or units[-1]["code"] != c["unit_code"]:
            units.append({"code": c["unit_code"], "title": c["unit_title"], "criteria": [], "outcomes": []})
        unit = units[-1]
        if not unit["outcomes"] or unit["outcomes"][-1]["code"] != c["outcome_code"]:
            unit["outcomes"].append({"code": c["outcome_code"], "text": c["outcome_text"], "criteria": []})
        mapped = [e for e in evidence if c["id"] in e.get("criteria", [])]
        row = {**c, "evidence": mapped}
        unit["criteria"].append(row)
        unit["outcomes"][-1]["criteria"].append(row)
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


DECISION_ACTIONS = {"competent": COMPETENT, "not_yet_competent": NOT_YET_COMPETENT}
AUTOSAVE = "autosave"  # the X-Requested-With of the judging page's background draft saves
DECLARATION_MISSING = N_("Tick the declaration to confirm that this judgement is your own.")


def _declared() -> bool:
    return request.form.get("declaration") == "accepted"


def _confirming() -> bool:
    """The post comes from the confirmation step (not from the judging form)."""
    return request.form.get("step") == "confirm"


def _unit_in_hand(units: list[dict[str, Any]], values: dict[int, Judgement], error_ids: list[int]) -> int:
    """Which unit starts unfolded (1-based): the first with a criterion in error, else the first with one not
    judged yet, else the first."""
    for wanted in (
        lambda c: c["id"] in error_ids,
        lambda c: values.get(c["id"]) is None or values[c["id"]].met is None,
    ):
        for i, unit in enumerate(units, start=1):
            if any(wanted(c) for c in unit["criteria"]):
                return i
    return 1


def _confirm_page(
    portfolio: Portfolio, kind: str, fields: dict[str, str], facts: list[str], error: str | None = None
) -> tuple[str, int]:
    page = render_template(
        "staff/confirm.html",
        portfolio=portfolio,
        kind=kind,
        fields=fields,
        facts=facts,
        error=error and gettext(error),
        declaration=gettext(assessment_service.DECLARATION),
    )
    return page, 422 if error else 200


def _assessment_facts(values: dict[int, Judgement], decision: str) -> list[str]:
    met = sum(1 for j in values.values() if j.met)
    not_met = sum(1 for j in values.values() if j.met is False)
    after = (
        gettext("The portfolio goes to verification.")
        if decision == COMPETENT
        else gettext("The portfolio goes back to the learner with your feedback.")
    )
    return [
        gettext("Your decision: %(decision)s.", decision=_decision_word(decision)),
        gettext("%(met)s met, %(not_met)s not yet met.", met=met, not_met=not_met),
        after,
    ]


def _decision_word(decision: str) -> str:
    """'competent' / 'not yet competent', in the page's language, for inside a sentence."""
    return gettext(assessment_service.DECISIONS[decision]).lower()


@bp.route("/portfolios/<int:portfolio_id>/assess", methods=["GET", "POST"])
@login_required
def assess(portfolio_id: int) -> str | Response | tuple[str, int]:
    """Judge, save the draft, then decide in two steps: the judging form asks for a decision, the
    confirmation step (with the declaration) makes it. Without the declaration nothing is decided."""
    user = _me()
    portfolio = get_portfolio(portfolio_id)
    submission = assessment_service.check_may_assess(portfolio, user)
    values, summary = assessment_service.starting_values(portfolio, submission, user.id)
    error, error_ids = None, []
    if request.method == "POST":
        action = request.form.get("action", "save")
        decision = DECISION_ACTIONS.get(action)
        judgements = {} if _confirming() else _parse_judgements(submission)
        if not _confirming():
            summary = request.form.get("summary", "")
        try:
            if action == "save":
                assessment_service.save_draft(portfolio.id, user, judgements, summary)
                db.session.commit()
                if request.headers.get("X-Requested-With") == AUTOSAVE:
                    return "", 204  # staff_judging.js saves as the assessor goes: no page, no message
                flash("Draft saved. Nothing is decided until you choose an overall decision.", "info")
                return _redirect("staff_work.assess", portfolio_id=portfolio.id)
            if decision is None:
                raise UserError("Choose competent or not yet competent.")
            if not _declared():
                if _confirming():
                    facts = _assessment_facts(values, decision)
                    return _confirm_page(portfolio, "assess", {"action": action}, facts, DECLARATION_MISSING)
                # The judging form asked for a decision: save what was judged, check that the decision can be
                # made on it, and ask for confirmation.
                draft = assessment_service.prepare_decision(portfolio.id, user, decision, judgements, summary)
                db.session.commit()
                saved = {j.criterion_id: Judgement(j.met, j.feedback) for j in draft.judgements}
                return _confirm_page(portfolio, "assess", {"action": action}, _assessment_facts(saved, decision))
            # From the confirmation step the judgements are the saved draft; a client that posts everything
            # at once, declaration included, decides on what it posted.
            assessment_service.decide(portfolio.id, user, decision, judgements, summary, declared=True)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
            error_ids = list(getattr(exc, "criterion_ids", []))
            if not _confirming():
                values = judgements
        else:
            flash(
                gettext(
                    "Decision recorded: %(decision)s. The portfolio is now '%(state)s'.",
                    decision=_decision_word(decision),
                    state=gettext(workflow.STATE_LABELS[get_portfolio(portfolio.id).state]).lower(),
                ),
                "info",
            )
            return _redirect("staff_work.home")
    previous = last_decision(submission) if portfolio.state == workflow.SENT_BACK else None
    view = _snapshot_view(submission)
    codes = snap.criterion_codes(submission.snapshot)
    page = render_template(
        "staff/assess.html",
        portfolio=portfolio,
        submission=submission,
        snapshot=view,
        values=values,
        summary=summary,
        error=error,
        error_links=[(cid, codes.get(cid, str(cid))) for cid in error_ids],
        error_ids=set(error_ids),
        open_unit=_unit_in_hand(view["units"], values, error_ids),
        judged=sum(1 for j in values.values() if j.met is not None),
        judged_ids={cid for cid, j in values.items() if j.met is not None},
        total=len(codes),
        previous=previous,
        trail=verification_service.decision_trail(portfolio),
        state_labels=workflow.STATE_LABELS,
    )
    return (page, 422) if error else page


VERIFY_OUTCOMES = {"agree": True, "confirm": True, "disagree": False, "send_back": False}
OUTCOME_LABELS = {
    "agree": "Agree with the decision: it goes to independent verification.",
    "disagree": "Disagree: the decision goes back to the assessor.",
    "confirm": "Confirm: the award is made.",
    "send_back": "Send it back to the assessor.",
}


@bp.route("/portfolios/<int:portfolio_id>/verify", methods=["GET", "POST"])
@login_required
def verify(portfolio_id: int) -> str | Response | tuple[str, int]:
    """Read the decision, choose an outcome, then confirm it with the declaration."""
    user = _me()
    portfolio, step = verification_service.portfolio_for_step(portfolio_id, user)
    submission, assessment = verification_service.check_may_verify(portfolio, user, step)
    error, rationale, outcome = None, "", ""
    if request.method == "POST":
        outcome = request.form.get("outcome", "")
        rationale = request.form.get("rationale", "")
        agree = VERIFY_OUTCOMES.get(outcome) if outcome in _step_outcomes(step) else None
        try:
            if agree is None:
                raise UserError("Choose an outcome.")
            if not agree and not rationale.strip():
                raise UserError("Say why you send the decision back: the assessor needs your rationale.", status=422)
            if not _declared():
                facts = [gettext("Your outcome: %(outcome)s", outcome=gettext(OUTCOME_LABELS[outcome]))] + (
                    [gettext("Rationale: %(rationale)s", rationale=rationale)] if rationale else []
                )
                fields = {"outcome": outcome, "rationale": rationale}
                return _confirm_page(portfolio, "verify", fields, facts, DECLARATION_MISSING if _confirming() else None)
            record = verification_service.verify(portfolio.id, user, step, agree, rationale, declared=True)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
        else:
            flash(
                gettext(
                    "Verification step %(step)s: %(outcome)s.", step=step, outcome=gettext(record.outcome_label).lower()
                ),
                "info",
            )
            return _redirect("staff_work.home")
    view = _snapshot_view(submission)
    page = render_template(
        "staff/verify.html",
        portfolio=portfolio,
        submission=submission,
        decision=assessment,
        step=step,
        snapshot=view,
        error=error,
        rationale=rationale,
        outcome=outcome,
        trail=verification_service.decision_trail(portfolio),
        judgements={j.criterion_id: j for j in assessment.judgements},
        decisions=assessment_service.DECISIONS,
    )
    return (page, 422) if error else page


def _step_outcomes(step: int) -> tuple[str, str]:
    return ("agree", "disagree") if step == 1 else ("confirm", "send_back")


@bp.route("/portfolios/<int:portfolio_id>/attempts/<int:attempt>/files/<sha256>/view")
@login_required
def view_file(portfolio_id: int, attempt: int, sha256: str) -> Response:
    """A submitted file shown inside the tool, beside the criteria. Who may: exactly who may download it
    (access.may_download); images and PDFs inline under a sandboxing policy, anything else as a download."""
    sess = require_session()
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None or not access.may_download(sess, portfolio):
        raise NotFound(
            "There is no file you may open at this address.",
            hint="Open the portfolio from your course and follow the link to the file there.",
        )
    submission = learner.find_submission(portfolio.id, attempt)
    try:
        check_address(sha256)
    except StorageError:
        submission = None
    entry = None
    if submission is not None:
        entry = next((f for f in snap.files(submission.snapshot) if f.get("sha256") == sha256), None)
    if entry is None:
        raise NotFound("This file is not part of that submission.", hint="Go back to the submission.")
    try:
        stream = storage().get(sha256)
    except StorageError:
        raise UserError(
            "This file cannot be read from storage right now.",
            status=503,
            title="File unavailable",
            hint="Try again later; if it persists, tell the tool administrator.",
        ) from None
    info = media_type_info(entry.get("media_type", ""))
    media_type = info.media_type if info else "application/octet-stream"
    resp = send_file(stream, mimetype=media_type, conditional=False, etag=False, max_age=0)
    disposition = content_disposition(entry["filename"])
    if media_type in INLINE_TYPES:
        disposition = re.sub(r"^attachment", "inline", disposition)
    resp.headers["Content-Disposition"] = disposition
    if entry.get("size") is not None:
        resp.content_length = entry["size"]
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # The tool's own frame-ancestors (the LMS frames the judging page that frames the file).
    ancestors = re.search(r"frame-ancestors [^;]*", content_security_policy())
    resp.headers["Content-Security-Policy"] = INLINE_CSP + (f"; {ancestors.group(0)}" if ancestors else "")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


APPEAL_OUTCOMES = {
    "uphold": N_("Uphold the appeal: the submission is assessed afresh by a different assessor."),
    "dismiss": N_("Dismiss the appeal: the referral stands."),
}


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
            if not rationale.strip():
                raise UserError("Give the reasons for the appeal decision; the learner and the regulator read them.")
            if not _declared():
                facts = [gettext(APPEAL_OUTCOMES[outcome]), gettext("Reasons: %(rationale)s", rationale=rationale)]
                fields = {"outcome": outcome, "rationale": rationale}
                return _confirm_page(portfolio, "appeal", fields, facts, DECLARATION_MISSING if _confirming() else None)
            decided = appeals.decide(portfolio.id, user, outcome == "uphold", rationale, declared=True)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
        else:
            flash(gettext("Appeal upheld.") if decided.status == UPHELD else gettext("Appeal dismissed."), "info")
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


@bp.route("/sampling")
@login_required
def sampling_report() -> str:
    """Tool administrators: decisions per assessor, how many were sampled, what the verifiers said."""
    require_tool_admin("The sampling report is for tool administrators.")
    code = (request.args.get("certification") or "").strip()[:40] or None
    codes = sorted(set(db.session.scalars(select(Certification.code))))
    by = request.args.get("by") or "quarter"
    if by not in reports.PERIODS:
        raise UserError("Show coverage by quarter or by month.")
    return render_template(
        "staff/sampling_report.html",
        lines=reports.assessor_lines(code),
        code=code,
        certification_codes=codes,
        coverage=reports.coverage_over_time(code, by),
        by=by,
    )


def staff_work(sess: ToolSession) -> Response | None:
    """Landing: staff (launched in a non-learner role, holding a tool grant) go to their work queues."""
    if not lti_roles.is_learner(sess.roles) and staff.grants_for(sess.user_id):
        return redirect(url_for("staff_work.home"), code=303)
    return None

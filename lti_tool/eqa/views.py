"""The /eqa pages: external quality assurers (and tool administrators) read portfolios, decisions and the
sampling report within their grant, choose samples, and request and download packs. Read-only: nothing here
changes a portfolio. Every view and download is audited (eqa.*), after the access check, so a refusal records
nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext, ngettext
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from lti_tool.audit.actor import Actor
from lti_tool.eqa import jobs, sampling
from lti_tool.eqa.models import BUILDING, PORTFOLIO, QUEUED, SAMPLE, PackJob
from lti_tool.eqa.record import load
from lti_tool.identity import access as identity_access
from lti_tool.identity import staff
from lti_tool.identity.partners import Partner
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.launch.session import deny, login_required
from lti_tool.portfolio import access, workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.evidence.file_names import content_disposition
from lti_tool.portfolio.evidence.storage import StorageError, check_address, storage
from lti_tool.portfolio.models import EVIDENCE_KINDS, Portfolio, Submission
from lti_tool.portfolio.review import queues, reports
from lti_tool.portfolio.review.assessment_models import Assessment
from lti_tool.store.db import db
from lti_tool.web.dates import when as page_date  # pages: one format, the person's time zone
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import whole_number

bp = Blueprint("eqa", __name__, url_prefix="/eqa")
ROLE = staff.EXTERNAL_QUALITY_ASSURER
LIST_LIMIT = 200


def _me() -> LtiUser:
    return identity_access.require_eqa().user


def _who(user: LtiUser) -> Actor:
    return Actor(actor=user, role=staff.TOOL_ADMIN if staff.is_tool_admin(user.id) else ROLE)


def _portfolio(user: LtiUser, portfolio_id: int) -> Portfolio:
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None:
        raise NotFound("There is no such portfolio.")
    if not access.eqa_may_view(user.id, portfolio):
        raise deny("Your external quality assurer role does not cover this portfolio's partner and certification.")
    return portfolio


SAMPLE_FIELDS = ("certification", "partner", "assessor", "decided_from", "decided_to", "outcome", "share")


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _read_criteria(source: Any) -> tuple[sampling.Criteria | None, dict[str, str]]:
    """The sample the filters choose, or what is wrong with them by field (in the page's language)."""
    raw = {name: (source.get(name) or "").strip() for name in SAMPLE_FIELDS}
    errors: dict[str, str] = {}
    outcome = raw["outcome"] or None
    if outcome is not None and outcome not in sampling.OUTCOMES:
        errors["outcome"] = gettext("Choose an outcome from the list.")
    share = whole_number(raw["share"] or "100", maximum=100)
    if share is None or share < 1:
        errors["share"] = gettext("The random share is a whole number of per cent, from 1 to 100.")
    start, end = _date(raw["decided_from"]), _date(raw["decided_to"])
    for name, value in (("decided_from", start), ("decided_to", end)):
        if raw[name] and value is None:
            errors[name] = gettext("“%(value)s” is not a date (use YYYY-MM-DD).", value=raw[name])
    if start and end and end < start:
        errors["decided_to"] = gettext("The end of the date range is before its start.")
    if errors or share is None:
        return None, errors
    return sampling.Criteria(
        certification_code=raw["certification"][:40] or None,
        partner_id=whole_number(raw["partner"]),
        assessor_id=whole_number(raw["assessor"]),
        decided_from=start,
        decided_to=end,
        outcome=outcome,
        share_percent=share,
        seed=whole_number(source.get("seed") or "", maximum=2**31),
    ), {}


def _criteria(source: Any) -> sampling.Criteria:
    """The pack form repeats filters the page accepted: one that no longer passes is refused outright."""
    criteria, errors = _read_criteria(source)
    if criteria is None:
        raise UserError(next(iter(errors.values())), status=422)
    return criteria


def _form_values(source: Any) -> dict[str, str]:
    """What the person sent, to fill the filters in again as they were."""
    values = {name: (source.get(name) or "").strip()[:100] for name in SAMPLE_FIELDS}
    values["share"] = values["share"] or "100"
    return values


def _options(user: LtiUser) -> dict[str, Any]:
    """Certifications, partners and assessors to choose from: only those within the grant."""
    in_scope = select(Portfolio.id).where(access.eqa_scope(user.id))
    codes = sorted(
        set(
            db.session.scalars(
                select(Certification.code).where(
                    Certification.id.in_(select(Portfolio.certification_id).where(access.eqa_scope(user.id)))
                )
            )
        )
    )
    partners = list(
        db.session.scalars(
            select(Partner)
            .where(Partner.id.in_(select(Portfolio.partner_id).where(access.eqa_scope(user.id))))
            .order_by(Partner.name)
        )
    )
    assessor_ids = (
        select(Assessment.assessor_id)
        .join(Submission, Assessment.submission_id == Submission.id)
        .where(Submission.portfolio_id.in_(in_scope))
    )
    assessors = sorted(
        db.session.scalars(select(LtiUser).where(LtiUser.id.in_(assessor_ids))), key=lambda u: u.display_name().lower()
    )
    return {"certification_codes": codes, "partners": partners, "assessors": assessors, "outcomes": sampling.OUTCOMES}


@bp.route("/")
@login_required
def home() -> str | tuple[str, int]:
    """Choose a sample: the portfolios within the grant that match, and a form to pack them."""
    user = _me()
    options = dict(
        _options(user),
        values=_form_values(request.args),
        grants=identity_access.eqa_grants(user.id),
        is_admin=staff.is_tool_admin(user.id),
    )
    criteria, errors = _read_criteria(request.args)
    if criteria is None:
        # Shown beside the fields, with what was entered, on this page (not a bare refusal page).
        return render_template("eqa/home.html", errors=errors, rows=[], total=0, **options), 422
    query = sampling.matching(user.id, criteria)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(
        db.session.scalars(select(Portfolio).where(Portfolio.id.in_(query.limit(LIST_LIMIT))).order_by(Portfolio.id))
    )
    _who(user).record(
        "eqa.portfolios_listed", subject_type="eqa_sample", after={"criteria": criteria.as_dict(), "matching": total}
    )
    db.session.commit()
    return render_template(
        "eqa/home.html",
        criteria=criteria,
        rows=rows,
        total=total,
        limit=LIST_LIMIT,
        state_labels=workflow.STATE_LABELS,
        errors={},
        **options,
    )


@bp.route("/portfolios/<int:portfolio_id>")
@login_required
def portfolio(portfolio_id: int) -> str:
    user = _me()
    record = load(_portfolio(user, portfolio_id))
    _who(user).record("eqa.portfolio_viewed", subject=record.portfolio)
    db.session.commit()
    return render_template(
        "eqa/portfolio.html",
        record=record,
        p=record.portfolio,
        when=page_date,
        kinds=EVIDENCE_KINDS,
        state_labels=workflow.STATE_LABELS,
    )


@bp.route("/portfolios/<int:portfolio_id>/attempts/<int:attempt>/files/<sha256>")
@login_required
def evidence_file(portfolio_id: int, attempt: int, sha256: str) -> Response:
    """A submitted file as it was, to read beside the record (audited like a pack download)."""
    user = _me()
    portfolio = _portfolio(user, portfolio_id)
    submission = db.session.scalar(
        select(Submission).where(Submission.portfolio_id == portfolio.id, Submission.attempt == attempt)
    )
    files = (
        {}
        if submission is None
        else {f["sha256"]: f for item in submission.snapshot.get("evidence", []) for f in item.get("files", [])}
    )
    meta = files.get(sha256)
    if meta is None:
        raise NotFound("That file is not part of this submission.")
    try:
        stream = storage().get(check_address(sha256))
    except StorageError as exc:
        raise UserError("The file cannot be read from storage; the operators have been told.", status=503) from exc
    _who(user).record(
        "eqa.evidence_downloaded",
        subject=portfolio,
        after={"attempt": attempt, "sha256": sha256, "filename": meta["filename"]},
    )
    db.session.commit()
    resp = send_file(stream, mimetype="application/octet-stream", max_age=0)
    resp.headers["Content-Disposition"] = content_disposition(meta["filename"])
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/portfolios/<int:portfolio_id>/pack", methods=["POST"])
@login_required
def request_portfolio_pack(portfolio_id: int) -> Response:
    user = _me()
    portfolio = _portfolio(user, portfolio_id)
    job = jobs.request_pack(_who(user), [portfolio.id], kind=PORTFOLIO)
    db.session.commit()
    flash(gettext("Pack %(id)s is being prepared; it appears below when ready.", id=job.id), "info")
    return redirect(url_for("eqa.packs"), code=303)


@bp.route("/sampling")
@login_required
def sampling_report() -> str:
    """The internal sampling report (decisions, step-1 sampling, verifiers' findings per assessor), for a
    partner and certification within the grant."""
    user = _me()
    code = (request.args.get("certification") or "").strip()[:40] or None
    partner_id = whole_number(request.args.get("partner") or "")
    grants = identity_access.eqa_grants(user.id)
    if "certification" not in request.args and "partner" not in request.args and len(grants) == 1:
        code, partner_id = grants[0].certification_code or None, grants[0].partner_id
    if not identity_access.eqa_covers_scope(user.id, partner_id, code):
        raise deny("Your external quality assurer role does not cover that partner and certification.")
    _who(user).record(
        "eqa.sampling_report_viewed",
        subject_type="sampling_report",
        after={"certification": code, "partner_id": partner_id},
    )
    db.session.commit()
    return render_template(
        "eqa/sampling_report.html",
        lines=reports.assessor_lines(code, partner_id=partner_id),
        code=code,
        partner_id=partner_id,
        grants=grants,
        **_options(user),
    )


@bp.route("/packs", methods=["GET", "POST"])
@login_required
def packs() -> str | Response:
    """GET: this person's packs with their progress. POST: pack the sample the filters choose."""
    user = _me()
    if request.method == "POST":
        criteria = _criteria(request.form).with_seed()
        chosen = sampling.draw(user.id, criteria)
        job = jobs.request_pack(_who(user), chosen, kind=SAMPLE, criteria=criteria.as_dict())
        db.session.commit()
        flash(
            ngettext(
                "Pack %(id)s of %(num)s portfolio is being prepared; it appears below when ready.",
                "Pack %(id)s of %(num)s portfolios is being prepared; it appears below when ready.",
                len(chosen),
                id=job.id,
            ),
            "info",
        )
        return redirect(url_for("eqa.packs"), code=303)
    rows = list(
        db.session.scalars(
            select(PackJob).where(PackJob.requested_by_id == user.id).order_by(PackJob.id.desc()).limit(100)
        )
    )
    return render_template(
        "eqa/packs.html", rows=rows, when=page_date, working=any(j.state in (QUEUED, BUILDING) for j in rows)
    )


@bp.route("/packs/<int:job_id>/download")
@login_required
def download(job_id: int) -> Response:
    """The pack's ZIP: for whoever asked for it (or a tool administrator), while their grant still covers every
    portfolio in it."""
    user = _me()
    job = db.session.get(PackJob, job_id)
    if job is None:
        raise NotFound("There is no such pack.")
    if job.requested_by_id != user.id and not staff.is_tool_admin(user.id):
        raise deny("This pack was made for someone else.")
    for portfolio_id in job.portfolio_ids:
        portfolio = db.session.get(Portfolio, portfolio_id)
        if portfolio is not None and not access.eqa_may_view(user.id, portfolio):
            raise deny("Your role no longer covers every portfolio in this pack.")
    path = jobs.downloadable(job)
    _who(user).record(
        "eqa.pack_downloaded",
        subject=job,
        after={"sha256": job.sha256, "size": job.size, "portfolios": list(job.portfolio_ids)},
    )
    db.session.commit()
    return send_file(
        path, mimetype="application/zip", as_attachment=True, download_name=f"eqa-pack-{job.id}.zip", max_age=0
    )


def land_eqa(sess: ToolSession) -> Response | None:
    """Landing: someone whose only tool role is external quality assurer goes to the EQA pages (staff with work
    queues land on their queues, and find the EQA pages from there)."""
    if lti_roles.is_learner(sess.roles) or not identity_access.eqa_grants(sess.user_id):
        return None
    if queues.visible_queues(sess.user_id):
        return None
    return redirect(url_for("eqa.home"), code=303)

"""The learner's pages: their portfolio for a placement, evidence items and files, coverage, submitting.

Thin handlers: rules live in learner.py (access, coverage, submit), evidence.py (items, files, blobs),
file_checks.py (what an upload is) and workflow.py (states).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from lti_tool.launch import roles as lti_roles
from lti_tool.launch.language import requested_notice, translated
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import deny, login_required, require_session
from lti_tool.portfolio import access, learner, workflow
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.catalogue.tree import criteria_tree
from lti_tool.portfolio.coverage import Coverage, chips_by_unit, compute_coverage, unit_anchor
from lti_tool.portfolio.evidence import items as evidence
from lti_tool.portfolio.evidence.file_checks import (
    ACCEPT_ATTRIBUTE,
    ACCEPTED_DESCRIPTION,
    check_upload,
    media_type_info,
)
from lti_tool.portfolio.evidence.file_names import content_disposition
from lti_tool.portfolio.evidence.storage import StorageError, check_address, storage
from lti_tool.portfolio.models import EVIDENCE_KINDS, ROUTES, EvidenceItem, Portfolio, Submission
from lti_tool.portfolio.review import appeals as appeal_rules
from lti_tool.portfolio.review import lookup, page_data
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.assessment_models import Assessment, Award
from lti_tool.portfolio.views import criteria_map
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import check_form_complete, whole_number
from lti_tool.web.urls import url_series

bp = Blueprint("learner", __name__, url_prefix="/portfolio")
log = logging.getLogger(__name__)

RESOURCE_LINK_LAUNCH = "LtiResourceLinkRequest"

# Messages shown after a redirect. Passed as ?notice=key rather than flashed: the flash cookie is often
# blocked inside an LMS iframe, and these must not get lost.
NOTICES = {
    "created": "Your portfolio is ready. Add evidence for each criterion, then submit it for assessment.",
    "added": "Evidence added.",
    "saved": "Changes saved.",
    "removed": "Evidence removed.",
    "mapped": "Links saved: the criteria map shows the change.",
    "submitted": "Submitted. Your assessor has been told; you will see their decision here.",
    "already_submitted": "This portfolio was already submitted; nothing was submitted twice.",
}


# --- landings (create_app declares their order, see web.landing) ---------------------------------------


def _is_placement_launch(sess: ToolSession) -> bool:
    return sess.message_type == RESOURCE_LINK_LAUNCH and sess.resource_link is not None


def placement_without_certification(sess: ToolSession) -> ResponseReturnValue | None:
    """Anyone opening a placement that names no certification (or one not in the catalogue) is told so."""
    if not _is_placement_launch(sess):
        return None
    if lti_roles.is_instructor(sess.roles) and sess.context_id is not None:
        return None  # instructors land on the roster, which says what to set and how
    link = sess.resource_link
    assert link is not None
    if _placement_portfolio(sess) is not None:
        return None
    found = learner.placement_certification(link)
    if found.certification is not None:
        return None
    return _no_certification_page(sess, found.code)


def learner_portfolio(sess: ToolSession) -> ResponseReturnValue | None:
    if not _is_placement_launch(sess) or not lti_roles.is_learner(sess.roles) or lti_roles.is_instructor(sess.roles):
        return None
    existing = _placement_portfolio(sess)
    if existing is not None:
        # Straight to it: every launch of a returning learner passes here, and a hop is a whole request.
        return _to_placement_portfolio(sess, existing)
    # A first opening: the placement page starts the portfolio, or opens the one started from another placement
    # of the certification and records that this placement opens it (landings only read).
    return redirect(url_for("learner.placement"), code=303)


def _placement_portfolio(sess: ToolSession) -> Portfolio | None:
    """The portfolio the launched placement is known to open for the learner (started from it, or recorded as
    opened by it), in one query, looked up once per request (two landings ask)."""
    key = "lti_tool.placement_portfolio"
    if key not in request.environ:
        assert sess.resource_link_id is not None
        request.environ[key] = learner.shown_portfolio(sess.user_id, sess.resource_link_id)
    return request.environ[key]


def _to_placement_portfolio(sess: ToolSession, portfolio: Portfolio, notice: str | None = None) -> Response:
    """The portfolio a placement opens; at its unit when a unit placement opens a whole-certification one."""
    assert sess.resource_link is not None
    unit = learner.focus_unit(sess.resource_link, portfolio)
    if unit is None:
        return _to_portfolio(portfolio, notice)
    return _to_portfolio(portfolio, notice, unit_anchor(unit), unit=unit)


def _no_certification_page(sess: ToolSession, code: str | None) -> ResponseReturnValue:
    return render_template(
        "portfolio/no_certification.html",
        code=code,
        link=sess.resource_link,
        is_instructor=lti_roles.is_instructor(sess.roles) or lti_roles.is_lms_admin(sess.roles),
    )


# --- loading with access checks ----------------------------------------------------------------------


@dataclass
class PortfolioView:
    coverage: Coverage
    submission: Submission | None
    assessment: Assessment | None
    submissions: list[Submission]  # every attempt, oldest first (without their snapshots)
    award: Award | None = None
    last_appeal: Appeal | None = None


def portfolio_view(portfolio: Portfolio) -> PortfolioView:
    """What the portfolio page shows: coverage with the latest decision's feedback, and every attempt."""
    # Every attempt (without its snapshot), the award and the latest appeal in one query; the criteria from
    # memory, the evidence counts from the items loaded (review/page_data.py): no query grows with the catalogue.
    records = page_data.decision_records(portfolio.id)
    submissions = records.submissions
    submission = submissions[-1] if submissions else None
    assessment = lookup.latest_decided_assessment(submission)
    coverage = compute_coverage(
        criteria_tree(portfolio.certification, portfolio.partner_id, portfolio.unit_code),
        page_data.evidence_counts_of(portfolio),
        lookup.judgements_of(assessment),
    )
    return PortfolioView(coverage, submission, assessment, submissions, records.award, records.last_appeal)


def _own_portfolio(portfolio_id: int, *, with_evidence: bool = False) -> tuple[ToolSession, Portfolio]:
    sess = require_session()
    portfolio = page_data.load_for_page(portfolio_id) if with_evidence else db.session.get(Portfolio, portfolio_id)
    return sess, access.require_own(sess, portfolio)


def _own_item(portfolio: Portfolio, item_id: int) -> EvidenceItem:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.portfolio_id != portfolio.id:
        raise NotFound("This evidence item is not in your portfolio.", hint="Go back to your portfolio.")
    return item


def _to_portfolio(
    portfolio: Portfolio, notice: str | None = None, anchor: str | None = None, unit: str | None = None
) -> Response:
    values: dict[str, Any] = {"portfolio_id": portfolio.id}
    if unit:
        values["unit"] = unit
    if notice:
        values["notice"] = notice
    if anchor:
        values["_anchor"] = anchor
    return redirect(url_for("learner.overview", **values), code=303)


# --- starting ----------------------------------------------------------------------------------------


@bp.route("/placement", methods=["GET", "POST"])
@login_required
def placement() -> ResponseReturnValue:
    """The learner's portfolio for the placement they launched; created on first visit."""
    sess = require_session()
    if not access.may_start_portfolio(sess):
        raise deny("Portfolios are for learners: your course role does not start one.")
    link = sess.resource_link
    if link is None:
        return redirect(url_for("learner.mine"), code=303)
    existing = learner.open_placement(sess.user_id, link)
    if existing is not None:
        db.session.commit()  # this placement recorded as opening a portfolio started from another, the first time
        return _to_placement_portfolio(sess, existing)
    found = learner.placement_certification(link)
    if found.certification is None:
        return _no_certification_page(sess, found.code)
    # The route is chosen once per certification: a unit-only portfolio follows the learner's earlier choice.
    route = learner.placement_route(link) or learner.chosen_route(
        sess.user_id, link.deployment.partner_id, found.certification.code
    )
    if route is None and request.method == "POST":
        route = request.form.get("route", "")
        if route not in ROUTES:
            return render_template(
                "portfolio/choose_route.html",
                found=found,
                certification=found.certification,
                error="Choose one of the two routes.",
            ), 400
    if route is None:
        return render_template(
            "portfolio/choose_route.html", found=found, certification=found.certification, error=None
        )
    portfolio = learner.start_portfolio(sess, link, found.certification, route, found.scope)
    db.session.commit()
    return _to_placement_portfolio(sess, portfolio, "created")


@bp.route("/")
@login_required
def mine() -> str:
    sess = require_session()
    return render_template(
        "portfolio/list.html", portfolios=learner.my_portfolios(sess), state_labels=workflow.STATE_LABELS, routes=ROUTES
    )


@bp.route("/<int:portfolio_id>")
@login_required
def overview(portfolio_id: int) -> str:
    _, portfolio = _own_portfolio(portfolio_id, with_evidence=True)
    view = portfolio_view(portfolio)
    award = view.award
    # Which items support each criterion (the criteria map opens them), and each item's criteria by unit.
    supporting: dict[int, list[EvidenceItem]] = {}
    for item in portfolio.evidence:
        for c in item.criteria:
            supporting.setdefault(c.id, []).append(item)
    focus = next((u for u in view.coverage.units if u.code == request.args.get("unit", "")), None)
    editable = portfolio.state in workflow.EDITABLE
    return render_template(
        "portfolio/overview.html",
        portfolio=portfolio,
        view=view,
        focus=focus,
        coverage=view.coverage,
        words=criteria_map.map_words(view.coverage, portfolio.certification),
        criteria_map=criteria_map.map_html(
            view.coverage,
            portfolio.certification,
            supporting,
            editable=editable,
            can_link=editable and bool(portfolio.evidence),
            focus_code=focus.code if focus else None,
            criterion_url=url_series("learner.criterion", "criterion_id", portfolio_id=portfolio.id),
            record_url=url_series("learner.add_item", "criterion", portfolio_id=portfolio.id),
        ),
        award=award,
        chips={item.id: chips_by_unit(view.coverage, [c.id for c in item.criteria]) for item in portfolio.evidence},
        next_step=learner.next_step(portfolio.state, view.coverage),
        window=appeal_rules.appeal_window(portfolio) if portfolio.state == workflow.REFERRED else None,
        last_appeal=view.last_appeal,
        kinds=EVIDENCE_KINDS,
        routes=ROUTES,
        state_labels=workflow.STATE_LABELS,
        editable=editable,
        referred=portfolio.state == workflow.REFERRED,
        notice=requested_notice(NOTICES),
    )


# --- evidence items ----------------------------------------------------------------------------------


def _uploads() -> list[evidence.Upload]:
    """The files sent with the form (empty file inputs are skipped), as seekable streams."""
    check_form_complete()  # a cut body must not pass as "no file chosen" (CSRF may have come in a header)
    out = []
    for fs in request.files.getlist("files"):
        if not isinstance(fs, FileStorage):
            continue
        stream = fs.stream
        if not (hasattr(stream, "seekable") and stream.seekable()):
            spooled = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
            fs.save(spooled)
            stream = spooled
        stream.seek(0)
        empty = not stream.read(1)
        stream.seek(0)
        if empty and not fs.filename:
            continue  # a file input left empty
        out.append(evidence.Upload(stream=stream, name=fs.filename))  # type: ignore[arg-type]
    return out


def _item_form(
    portfolio: Portfolio,
    item: EvidenceItem | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    retry_after: int | None = None,
) -> ResponseReturnValue:
    view = portfolio_view(portfolio)
    page = render_template(
        "portfolio/item_form.html",
        portfolio=portfolio,
        item=item,
        values=values,
        errors=errors,
        coverage=view.coverage,
        kinds=EVIDENCE_KINDS,
        max_mb=current_app.config["MAX_UPLOAD_MB"],
        max_media_mb=current_app.config["MAX_MEDIA_UPLOAD_MB"],
        accepted=translated(ACCEPTED_DESCRIPTION),
        accept_attribute=ACCEPT_ATTRIBUTE,
    )
    # The storage did not answer: tell clients and proxies when a retry makes sense.
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return page, status, headers


def _values_of(item: EvidenceItem | None) -> dict[str, Any]:
    if item is None:
        return {"kind": "", "title": "", "description": "", "evidence_date": "", "criteria": set()}
    return {
        "kind": item.kind,
        "title": item.title,
        "description": item.description,
        "evidence_date": item.evidence_date.isoformat() if item.evidence_date else "",
        "criteria": {c.id for c in item.criteria},
    }


def _posted_values() -> dict[str, Any]:
    return {
        "kind": request.form.get("kind", ""),
        "title": request.form.get("title", ""),
        "description": request.form.get("description", ""),
        "evidence_date": request.form.get("evidence_date", ""),
        "criteria": {n for n in map(whole_number, request.form.getlist("criteria")) if n is not None},
    }


def _said(exc: UserError) -> str:
    """A refusal's words and hint in the page's language, for a form that shows them itself."""
    return translated(exc.message) + (" " + translated(exc.hint) if exc.hint else "")


def _upload_error(exc: UserError) -> str:
    return gettext("%(reason)s Please choose your files again.", reason=_said(exc))


def _refused_uploads(uploads: list[evidence.Upload]) -> str | None:
    """Each chosen file checked by content before anything is stored, so that a refusal names the file and
    its reason, and says which of the others (fine, but a browser cannot keep chosen files) to choose again.
    The same checks run again when the files are stored: this only words the refusal."""
    refused, fine = [], []
    for upload in uploads:
        name = upload.name or gettext("A file without a name")
        try:
            check_upload(upload.stream, upload.name)
        except UserError as exc:
            # A refusal that names the file already starts with its name.
            named = exc.message.startswith("'")
            refused.append(_said(exc) if named else gettext("“%(name)s”: %(reason)s", name=name, reason=_said(exc)))
        else:
            fine.append(name)
        finally:
            upload.stream.seek(0)
    if not refused:
        return None
    if fine:
        names = ", ".join(f"“{n}”" for n in fine)
        refused.append(
            gettext(
                "Please choose your files again: %(names)s passed the checks, but a browser cannot keep chosen files.",
                names=names,
            )
        )
    return " ".join(refused)


@bp.route("/<int:portfolio_id>/evidence/new", methods=["GET", "POST"])
@login_required
def add_item(portfolio_id: int) -> ResponseReturnValue:
    sess, portfolio = _own_portfolio(portfolio_id)
    access.require_editable(portfolio)
    if request.method == "GET":
        values = _values_of(None)
        # Mapping from the criterion's side: "Record new evidence for 1.2.3" on the criteria map.
        wanted = request.args.get("criterion", "")
        if wanted.isdigit() and int(wanted) in learner.criteria_by_id(portfolio):
            values["criteria"] = {int(wanted)}
        return _item_form(portfolio, None, values, {})
    criteria = learner.criteria_by_id(portfolio)
    fields, errors = evidence.clean_item_fields(request.form, criteria)
    uploads = _uploads()
    if not uploads:
        errors["files"] = gettext("Attach at least one file.")
    elif (refused := _refused_uploads(uploads)) is not None:
        errors["files"] = refused
    if errors:
        if uploads:
            errors.setdefault("files", gettext("Please choose your files again (a browser cannot keep them)."))
        return _item_form(portfolio, None, _posted_values(), errors, 400)
    try:
        with evidence.upload_transaction() as created:
            evidence.create_item(
                portfolio,
                fields,
                criteria,
                uploads,
                actor=sess.user,
                created=created,
                max_bytes=evidence.max_upload_bytes(current_app.config),
                max_media_bytes=evidence.max_media_bytes(current_app.config),
            )
            db.session.commit()
    except UserError as exc:
        return _item_form(portfolio, None, _posted_values(), {"files": _upload_error(exc)}, exc.status, exc.retry_after)
    return _to_portfolio(portfolio, "added", "evidence")


@bp.route("/<int:portfolio_id>/evidence/<int:item_id>/edit", methods=["GET", "POST"])
@login_required
def edit_item(portfolio_id: int, item_id: int) -> ResponseReturnValue:
    sess, portfolio = _own_portfolio(portfolio_id)
    item = _own_item(portfolio, item_id)
    access.require_editable(portfolio)
    if request.method == "GET":
        return _item_form(portfolio, item, _values_of(item), {})
    criteria = learner.criteria_by_id(portfolio)
    fields, errors = evidence.clean_item_fields(request.form, criteria)
    uploads = _uploads()
    remove_ids = {n for n in map(whole_number, request.form.getlist("remove_files")) if n is not None}
    remaining = [f for f in item.files if f.id not in remove_ids]
    if not remaining and not uploads:
        errors["files"] = gettext("Keep at least one file, or attach a new one.")
    elif uploads and (refused := _refused_uploads(uploads)) is not None:
        errors["files"] = refused
    if errors:
        values = _posted_values()
        if uploads:
            errors.setdefault("files", gettext("Please choose your new files again (a browser cannot keep them)."))
        return _item_form(portfolio, item, values, errors, 400)
    try:
        with evidence.upload_transaction() as created:
            released = evidence.update_item(
                item,
                fields,
                criteria,
                uploads,
                remove_ids,
                actor=sess.user,
                created=created,
                max_bytes=evidence.max_upload_bytes(current_app.config),
                max_media_bytes=evidence.max_media_bytes(current_app.config),
            )
            db.session.commit()
    except UserError as exc:
        item = _own_item(portfolio, item_id)
        return _item_form(portfolio, item, _posted_values(), {"files": _upload_error(exc)}, exc.status, exc.retry_after)
    evidence.release_blobs(released)
    return _to_portfolio(portfolio, "saved", f"item-{item.id}")


@bp.route("/<int:portfolio_id>/evidence/<int:item_id>/remove", methods=["GET", "POST"])
@login_required
def remove_item(portfolio_id: int, item_id: int) -> ResponseReturnValue:
    sess, portfolio = _own_portfolio(portfolio_id)
    item = _own_item(portfolio, item_id)
    access.require_editable(portfolio)
    if request.method == "GET":
        return render_template("portfolio/item_remove.html", portfolio=portfolio, item=item, kinds=EVIDENCE_KINDS)
    released = evidence.delete_item(item, actor=sess.user)
    db.session.commit()
    evidence.release_blobs(released)
    return _to_portfolio(portfolio, "removed", "evidence")


# --- mapping from the criterion's side ---------------------------------------------------------------


@bp.route("/<int:portfolio_id>/criteria/<int:criterion_id>", methods=["GET", "POST"])
@login_required
def criterion(portfolio_id: int, criterion_id: int) -> ResponseReturnValue:
    """One criterion: its state, feedback and evidence; link existing evidence items to it or unlink them."""
    sess, portfolio = _own_portfolio(portfolio_id, with_evidence=True)
    found = learner.criteria_by_id(portfolio).get(criterion_id)
    if found is None:
        raise NotFound("This criterion is not part of your portfolio.", hint="Go back to your portfolio.")
    if request.method == "POST":
        access.require_editable(portfolio)
        check_form_complete()
        chosen = {n for n in map(whole_number, request.form.getlist("items")) if n is not None}
        evidence.map_criterion(portfolio, found, chosen, actor=sess.user)
        db.session.commit()
        return redirect(
            url_for("learner.criterion", portfolio_id=portfolio.id, criterion_id=found.id, notice="mapped"), code=303
        )
    view = portfolio_view(portfolio)
    state = next((c for u in view.coverage.units for c in u.criteria if c.id == found.id), None)
    return render_template(
        "portfolio/criterion.html",
        portfolio=portfolio,
        criterion=found,
        state=state,
        linked={item.id for item in portfolio.evidence if any(c.id == found.id for c in item.criteria)},
        kinds=EVIDENCE_KINDS,
        editable=portfolio.state in workflow.EDITABLE,
        notice=requested_notice(NOTICES),
    )


# --- files -------------------------------------------------------------------------------------------


def _send_blob(sha256: str, filename: str, media_type: str, size: int | None) -> Response:
    try:
        stream = storage().get(sha256)
    except StorageError:
        log.exception("evidence blob %s cannot be read", sha256)
        raise UserError(
            "This file cannot be read from storage right now. The problem has been logged.",
            status=500,
            title="File unavailable",
            hint="Try again later; if it persists, tell the tool administrator.",
        ) from None
    info = media_type_info(media_type)
    # Werkzeug adds "; charset=utf-8" to text types itself.
    resp = send_file(
        stream,
        mimetype=info.media_type if info else "application/octet-stream",
        as_attachment=True,
        download_name=filename,
        conditional=False,
        etag=False,
        max_age=0,
    )
    # Werkzeug's own header derives its ASCII fallback by dropping accents only, which can leave path
    # separators or percent escapes from look-alike characters; names stored before the NFKC rule may have them.
    resp.headers["Content-Disposition"] = content_disposition(filename)
    if size is not None:
        resp.content_length = size
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _downloadable_portfolio(portfolio_id: int) -> Portfolio:
    sess = require_session()
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None or not access.may_download(sess, portfolio):
        raise NotFound(
            "There is no file you may open at this address.",
            hint="Open the portfolio from your course and follow the link to the file there.",
        )
    return portfolio


@bp.route("/<int:portfolio_id>/evidence/<int:item_id>/files/<int:file_id>")
@login_required
def download_file(portfolio_id: int, item_id: int, file_id: int) -> Response:
    portfolio = _downloadable_portfolio(portfolio_id)
    item = db.session.get(EvidenceItem, item_id)
    ef = next((f for f in item.files if f.id == file_id), None) if item and item.portfolio_id == portfolio.id else None
    if ef is None:
        raise NotFound("This file is not (or no longer) part of the portfolio.", hint="Go back to the portfolio.")
    return _send_blob(ef.sha256, ef.filename, ef.stored.media_type, ef.stored.size)


@bp.route("/<int:portfolio_id>/submissions/<int:attempt>/files/<sha256>")
@login_required
def download_submitted_file(portfolio_id: int, attempt: int, sha256: str) -> Response:
    """A file as submitted: served from the snapshot, so it stays available after live edits."""
    portfolio = _downloadable_portfolio(portfolio_id)
    submission = learner.find_submission(portfolio.id, attempt)
    try:
        check_address(sha256)
    except StorageError:
        submission = None
    entry = None
    if submission is not None:
        entry = next(
            (f for f in snap.files(submission.snapshot) if f.get("sha256") == sha256),
            None,
        )
    if entry is None:
        raise NotFound("This file is not part of that submission.", hint="Go back to the submission.")
    return _send_blob(sha256, entry["filename"], entry.get("media_type", ""), entry.get("size"))


# --- submitting --------------------------------------------------------------------------------------


@bp.route("/<int:portfolio_id>/submit", methods=["GET", "POST"])
@login_required
def submit(portfolio_id: int) -> ResponseReturnValue:
    sess, portfolio = _own_portfolio(portfolio_id)
    if request.method == "POST":
        attempt = whole_number(request.form.get("attempt", ""))
        if attempt is None:
            raise UserError("The submit form is incomplete. Reload the page and try again.")
        try:
            _, created = learner.submit(portfolio.id, attempt, request.form.get("note", ""), actor=sess.user)
            db.session.commit()
        except learner.NothingToSubmit as exc:
            db.session.rollback()
            return _submit_page(portfolio, error=_said(exc), status=exc.status)
        except IntegrityError:
            # Two submits raced (SQLite has no row lock): the other one made this attempt.
            db.session.rollback()
            if learner.find_submission(portfolio.id, attempt) is None:
                raise
            created = False
        return _to_portfolio(portfolio, "submitted" if created else "already_submitted")
    if portfolio.state not in workflow.EDITABLE:
        return _to_portfolio(portfolio, "already_submitted" if portfolio.state == workflow.SUBMITTED else None)
    return _submit_page(portfolio)


def _submit_page(portfolio: Portfolio, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    """The confirmation page: what is still missing, unit by unit, and the button that submits."""
    view = portfolio_view(portfolio)
    return render_template(
        "portfolio/submit.html",
        portfolio=portfolio,
        coverage=view.coverage,
        attempt=learner.next_attempt(portfolio),
        max_note=learner.MAX_NOTE,
        error=error,
        note=request.form.get("note", "") if request.method == "POST" else "",
    ), status


@bp.route("/<int:portfolio_id>/submissions/<int:attempt>")
@login_required
def submission(portfolio_id: int, attempt: int) -> str:
    _, portfolio = _own_portfolio(portfolio_id)
    found = learner.find_submission(portfolio.id, attempt)
    if found is None:
        raise NotFound("There is no submission with this number.", hint="Go back to your portfolio.")
    snapshot = found.snapshot
    assessment = lookup.latest_decided_assessment(found)
    coverage = compute_coverage(
        snap.criteria(snapshot), snap.evidence_counts(snapshot), lookup.judgements_of(assessment)
    )
    codes = snap.criterion_codes(snapshot)
    return render_template(
        "portfolio/submission.html",
        portfolio=portfolio,
        submission=found,
        snapshot=snapshot,
        coverage=coverage,
        codes=codes,
        kinds=EVIDENCE_KINDS,
        assessment=assessment,
        chips_by_unit=chips_by_unit,
    )

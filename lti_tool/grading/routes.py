"""Instructor roster, deep linking, and the tool admin's grade delivery page. Thin: rules live in the modules."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import defer, selectinload
from werkzeug.wrappers import Response

from lti_tool.audit import trail as audit
from lti_tool.grading import admin, deep_linking, roster
from lti_tool.grading.models import JOB_STATUS_LABELS, JOB_STATUSES, GradeJob
from lti_tool.grading.outbox import can_post_scores, credits_column, requeue
from lti_tool.grading.worker import error_and_advice
from lti_tool.identity.access import require_tool_admin
from lti_tool.identity.staff import is_tool_admin
from lti_tool.launch import roles as lti_roles
from lti_tool.launch.handoff import return_through_frame
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import current_session, deny, login_required, require_session
from lti_tool.portfolio import learner
from lti_tool.portfolio import workflow as wf
from lti_tool.portfolio.catalogue.placement import certification_code_for
from lti_tool.portfolio.catalogue.queries import latest_certification
from lti_tool.portfolio.coverage import STATE_LABELS as COVERAGE_LABELS
from lti_tool.portfolio.coverage import compute_coverage
from lti_tool.portfolio.models import EVIDENCE_KINDS, EvidenceItem, Portfolio, Submission
from lti_tool.portfolio.review import lookup
from lti_tool.portfolio.snapshot import snapshot_criteria
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.paging import page_number
from lti_tool.web.security_headers import allow_form_target

bp = Blueprint("grading", __name__, url_prefix="/grading")


@bp.route("/roster")
@login_required
def roster_page() -> str:
    sess = require_session()
    if not roster.may_view_roster(sess):
        raise deny("The course roster is for the course's instructors.")
    assert sess.context is not None
    link = sess.resource_link
    code = certification_code_for(link) if link is not None else None
    state = request.args.get("state") or None
    sort = request.args.get("sort") or "name"
    if state is not None and state not in roster.state_filters():
        raise UserError("Choose a state from the list to narrow the roster to.")
    if sort not in roster.SORTS:
        raise UserError("Sort the roster by name, state, last change or start.")
    return render_template(
        "grading/roster.html",
        sess=sess,
        link=link,
        code=code,
        certification=latest_certification(code) if code else None,
        roster=roster.roster_for(sess.context, link, page_number(), state=state, sort=sort),
        state=state,
        sort=sort,
        state_filters=roster.state_filters(),
        sorts=roster.SORTS,
        member_statuses=roster.MEMBER_STATUS_LABELS,
        grade_sync=link is not None and can_post_scores(link),
        credits_column=link is not None and credits_column(link),
        is_admin=is_tool_admin(sess.user_id),
    )


@bp.route("/roster.csv")
@login_required
def roster_csv() -> Response:
    """The whole roster (every page) as CSV: the same people may download it as may read the page."""
    sess = require_session()
    if not roster.may_view_roster(sess):
        raise deny("The course roster is for the course's instructors.")
    assert sess.context is not None
    whole = roster.roster_for(sess.context, sess.resource_link, 1, per_page=roster.CSV_LIMIT)
    out = io.StringIO()
    csv.writer(out).writerows(roster.csv_rows(whole))
    resp = Response(out.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="course-roster.csv"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/roster/portfolios/<int:portfolio_id>")
@login_required
def roster_portfolio(portfolio_id: int) -> str:
    """A learner's portfolio as the course's instructor reads it: the state, each criterion's state and the
    evidence list; nothing can be changed and no file is served (files follow portfolio.access)."""
    sess = require_session()
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None or not roster.may_view_learner_portfolio(sess, portfolio):
        raise NotFound(
            "There is no portfolio of this course at this address.",
            hint="Open the course roster again and follow the learner's link there.",
        )
    submissions = list(
        db.session.scalars(
            select(Submission)
            .where(Submission.portfolio_id == portfolio.id)
            .order_by(Submission.attempt)
            .options(defer(Submission.snapshot))
        )
    )
    assessment = lookup.latest_decided_assessment(submissions[-1] if submissions else None)
    coverage = compute_coverage(
        snapshot_criteria(portfolio.certification, portfolio.partner_id, portfolio.unit_code),
        learner.evidence_counts(portfolio),
        lookup.judgements_of(assessment),
    )
    items = list(
        db.session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.portfolio_id == portfolio.id)
            .options(selectinload(EvidenceItem.criteria), selectinload(EvidenceItem.files))
            .order_by(EvidenceItem.id)
        )
    )
    return render_template(
        "grading/roster_portfolio.html",
        portfolio=portfolio,
        coverage=coverage,
        items=items,
        attempts=len(submissions),
        kinds=EVIDENCE_KINDS,
        state_labels=wf.STATE_LABELS,
        criterion_labels=COVERAGE_LABELS,
    )


@bp.route("/deep-link", methods=["GET", "POST"])
@login_required
def deep_link() -> str | Response:
    sess = require_session()
    # Who first: a learner is refused for their role, whatever kind of launch this was.
    if not deep_linking.may_deep_link(sess):
        raise deny("Only the course's instructors can add accreditation activities to a course.")
    if sess.message_type != deep_linking.DEEP_LINKING_REQUEST:
        raise UserError(
            "This page answers a deep-linking request from your LMS, and this session did not start with one.",
            hint="In your course, choose 'add an activity' and pick this tool.",
        )
    kept = deep_linking.launch_settings(sess)
    if not deep_linking.accepts_links(kept["settings"]):
        raise UserError("Your LMS asked for content this tool does not provide (it offers LTI resource links).")
    multiple = deep_linking.accepts_multiple(kept["settings"])
    choices, from_offerings = deep_linking.offered_choices(sess.deployment.partner_id)
    if request.method == "POST":
        by_key = {c.key: c for c in choices}
        picked = request.form.getlist("choice")
        unknown = [k for k in picked if k not in by_key]
        if unknown:
            raise UserError("That choice is not one offered to your course. Reload the page and choose again.")
        if not picked:
            raise UserError("Choose at least one certification or unit to add.")
        if len(picked) > 1 and not multiple:
            raise UserError("Your LMS accepts one activity at a time: choose only one.")
        chosen = [by_key[k] for k in dict.fromkeys(picked)]
        return_url, token = deep_linking.response_jwt(sess, chosen, url_for("launch.launch", _external=True))
        audit.record(
            "deep_link.returned",
            actor=sess.user,
            role="instructor",
            subject_type="lti_deployment",
            subject_id=sess.deployment_id,
            after={"items": [c.key for c in chosen]},
        )
        # A session handed over from the LMS frame to a new window (launch/handoff.py): the platform's
        # dialog waits in that frame (Moodle calls parent.processContentItemReturnData from its return
        # page), so the frame posts the response, not this window.
        if return_through_frame(sess.id, return_url, token):
            db.session.commit()
            return render_template("grading/deep_link_returned.html", chosen=chosen)
        db.session.commit()
        allow_form_target(return_url)  # the page posts the signed response to the platform
        return render_template("grading/deep_link_post.html", action=return_url, token=token, chosen=chosen)
    return render_template("grading/deep_link.html", choices=choices, from_offerings=from_offerings, multiple=multiple)


def _require_admin() -> None:
    require_tool_admin("Grade delivery is managed by tool administrators.")


@bp.route("/jobs")
@login_required
def jobs_page() -> str:
    _require_admin()
    status = request.args.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise UserError(
            gettext(
                "Unknown status '%(status)s'; choose one of %(statuses)s.",
                status=status,
                statuses=", ".join(JOB_STATUSES),
            )
        )
    counts = dict(db.session.execute(select(GradeJob.status, func.count()).group_by(GradeJob.status)).all())
    jobs = admin.list_jobs(status)
    return render_template(
        "grading/jobs.html",
        jobs=jobs,
        errors={job.id: error_and_advice(job.last_error) for job in jobs},
        status=status,
        counts=counts,
        statuses=JOB_STATUSES,
        labels=JOB_STATUS_LABELS,
        portfolio_states=wf.STATE_LABELS,
    )


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
@login_required
def retry_job(job_id: int) -> Response:
    _require_admin()
    sess = require_session()
    job = db.session.get(GradeJob, job_id)
    if job is None:
        raise NotFound(gettext("There is no grade job %(id)s.", id=job_id))
    before = job.status
    requeue(job)
    audit.record(
        "grading.job_retried",
        actor=sess.user,
        role="tool_admin",
        subject=job,
        before={"status": before},
        after={"status": job.status},
    )
    db.session.commit()
    flash(gettext("Job %(id)s will be delivered again shortly.", id=job_id), "info")
    return redirect(url_for("grading.jobs_page", status=request.form.get("status") or None), code=303)


@bp.app_template_global()
def roster_link() -> str | None:
    """The course roster's address for a page's current session that may see it (staff landing pages link it)."""
    sess = current_session()
    if sess is None or not roster.may_view_roster(sess):
        return None
    return url_for("grading.roster_page")


def land_deep_linking(sess: ToolSession) -> Response | None:
    """Landing: a deep linking launch goes to choosing what to place."""
    if sess.message_type == "LtiDeepLinkingRequest":
        return redirect(url_for("grading.deep_link"), code=303)
    return None


def land_instructor_roster(sess: ToolSession) -> Response | None:
    """Landing: an instructor in a course goes to its roster."""
    if lti_roles.is_instructor(sess.roles) and sess.context_id is not None:
        return redirect(url_for("grading.roster_page"), code=303)
    return None

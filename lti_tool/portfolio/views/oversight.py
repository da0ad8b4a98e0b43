"""Staff oversight pages: caseloads (tool administrators set how much each member of staff may hold), the
sampling plan per certification (tool administrators edit it, audited) and each portfolio's audit trail
(staff who may view the portfolio, and tool administrators). Thin: review.queues, review.sampling and
review.history decide; identity.access and portfolio.access say who may.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from lti_tool.identity import staff
from lti_tool.identity.access import require_tool_admin
from lti_tool.launch.session import deny, login_required, require_session
from lti_tool.portfolio import access, workflow
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.review import history, queues, sampling
from lti_tool.portfolio.review.lookup import get_portfolio
from lti_tool.store.db import db
from lti_tool.web.errors import N_, NotFound, UserError

bp = Blueprint("staff_oversight", __name__, url_prefix="/staff")
# The sampling plan's numbers, each with its refusal when it is not a number.
PLAN_NUMBERS = {
    "new_assessor_threshold": N_("Give the threshold for new assessors as a number."),
    "share_percent": N_("Give the random share as a number."),
    "coverage_decisions": N_("Give the number of decisions for coverage sampling as a number."),
    "coverage_days": N_("Give the number of days for coverage sampling as a number."),
}


def _redirect(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


# --- caseloads -------------------------------------------------------------------------------------------------


@bp.route("/caseloads")
@login_required
def caseloads() -> str:
    """Every assessor and verifier: their roles, what they hold now, and their caseload limit."""
    require_tool_admin("Caseloads are set by tool administrators.")
    people = queues.caseload_people()
    ids = [p.id for p in people]
    return render_template(
        "staff/caseloads.html",
        people=people,
        held=queues.held_counts(ids),
        limits=queues.caseload_limits(),
        roles={
            p.id: sorted(
                {gettext(staff.STAFF_ROLES[g.role]) for g in staff.grants_for(p.id) if g.role in staff.STAFF_ROLES}
            )
            for p in people
        },
        allocation=[q for q in queues.QUEUES if q.name in queues.CLAIMABLE],
        max_caseload=queues.MAX_CASELOAD,
    )


@bp.route("/caseloads/<int:user_id>", methods=["POST"])
@login_required
def set_caseload(user_id: int) -> Response:
    sess = require_tool_admin("Caseloads are set by tool administrators.")
    raw = (request.form.get("max_items") or "").strip()
    if raw and not raw.isdigit():
        raise UserError("A caseload is a whole number, or empty for no limit.", status=422)
    queues.set_caseload(user_id, int(raw) if raw else None, sess.user)
    db.session.commit()
    flash("Caseload saved." if raw else "Caseload limit removed.", "info")
    return _redirect("staff_oversight.caseloads")


# --- the sampling plan -------------------------------------------------------------------------------------------

PLAN_FIELDS = ("new_assessor_threshold", "share", "coverage_decisions", "coverage_days")


def _certification_codes() -> list[str]:
    return sorted(set(db.session.scalars(select(Certification.code))))


@bp.route("/sampling/plan", methods=["GET", "POST"])
@login_required
def sampling_plan() -> str | Response | tuple[str, int]:
    """A certification's sampling plan for internal verification (step 1): read, then change with a
    confirmation of what changes."""
    sess = require_tool_admin("The sampling plan is set by tool administrators.")
    codes = _certification_codes()
    source = request.form if request.method == "POST" else request.args
    code = (source.get("certification") or "").strip()
    if code and code not in codes:
        raise NotFound(gettext("There is no certification '%(code)s' in the catalogue.", code=code))
    error = None
    current = sampling.policy_for(code) if code else None
    proposed = None
    if request.method == "POST" and code:
        try:
            proposed = _parse_plan(current)
            if request.form.get("confirm") == "save":
                sampling.set_policy(code, proposed, actor=sess.user, role=staff.TOOL_ADMIN)
                db.session.commit()
                flash(gettext("Sampling plan for %(code)s saved.", code=code), "info")
                return _redirect("staff_oversight.sampling_plan", certification=code)
        except (UserError, ValueError) as exc:
            db.session.rollback()
            # A plan the form let through but the policy refuses (policy.validate's ValueError).
            error = exc.message if isinstance(exc, UserError) else gettext("The thresholds must be positive.")
            proposed = None
    page = render_template(
        "staff/sampling_plan.html",
        codes=codes,
        code=code,
        policy=current,
        own=bool(code) and sampling.has_own_policy(code),
        proposed=proposed,
        values=request.form if request.method == "POST" else {},
        error=error,
        section="sampling",
    )
    return (page, 422) if error else page


def _parse_plan(current: sampling.Policy | None) -> dict[str, Any]:
    def number(name: str, kind: type) -> Any:
        raw = (request.form.get(name) or "").strip()
        try:
            return kind(raw)
        except ValueError:
            raise UserError(gettext(PLAN_NUMBERS[name]), status=422) from None

    percent = number("share_percent", float)
    if not 0 <= percent <= 100:
        raise UserError("The random share is a percentage from 0 to 100.", status=422)
    values = {
        "new_assessor_threshold": number("new_assessor_threshold", int),
        "share": round(percent / 100, 4),
        "coverage_decisions": number("coverage_decisions", int),
        "coverage_days": number("coverage_days", int),
    }
    sampling.Policy(**values)  # checks the plan as a whole (ValueError)
    return values


# --- a portfolio's audit trail -----------------------------------------------------------------------------------


@bp.route("/portfolios/<int:portfolio_id>/trail")
@login_required
def portfolio_trail(portfolio_id: int) -> str:
    """Every audit event about the portfolio (its evidence and award too): who, what, when, each checked
    against the chain."""
    sess = require_session()
    portfolio = get_portfolio(portfolio_id)
    if not access.staff_can_view(sess.user_id, portfolio):
        raise deny("Your staff roles do not cover this portfolio's partner and certification.")
    return render_template(
        "staff/portfolio_trail.html",
        portfolio=portfolio,
        trail=history.portfolio_trail(portfolio),
        state_labels=workflow.STATE_LABELS,
        max_events=history.MAX_EVENTS,
    )

"""The learner's appeal page: see the decision's feedback, appeal it in time, follow the appeal."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from lti_tool.launch.session import login_required, require_session
from lti_tool.portfolio import access, workflow
from lti_tool.portfolio import snapshot as snap
from lti_tool.portfolio.models import Portfolio
from lti_tool.portfolio.review import appeals
from lti_tool.portfolio.review.appeal_models import Appeal
from lti_tool.portfolio.review.lookup import last_decision
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

bp = Blueprint("appeals", __name__, url_prefix="/appeals")


@bp.route("/portfolio/<int:portfolio_id>", methods=["GET", "POST"])
@login_required
def appeal(portfolio_id: int) -> str | Response | tuple[str, int]:
    sess = require_session()
    portfolio = access.require_own(sess, db.session.get(Portfolio, portfolio_id))
    error, grounds = None, ""
    if request.method == "POST":
        grounds = request.form.get("grounds", "")
        try:
            appeals.lodge(portfolio.id, sess.user, grounds)
            db.session.commit()
        except UserError as exc:
            db.session.rollback()
            if exc.status not in (400, 422):
                raise
            error = exc.message
        else:
            flash("Your appeal has been lodged. Someone not involved in the decision will decide it.", "info")
            return redirect(url_for("appeals.appeal", portfolio_id=portfolio.id), code=303)
    window = appeals.appeal_window(portfolio)
    decision = last_decision(portfolio.submissions[-1]) if portfolio.submissions else None
    history = list(
        db.session.scalars(select(Appeal).where(Appeal.portfolio_id == portfolio.id).order_by(Appeal.id.desc()))
    )
    criteria = {c["id"]: c for c in snap.criteria(portfolio.submissions[-1].snapshot)} if portfolio.submissions else {}
    page = render_template(
        "appeals/appeal.html",
        portfolio=portfolio,
        window=window,
        decision=decision,
        history=history,
        criteria=criteria,
        # The appeal the page is about: the latest, unless a new decision may be appealed (then all are earlier).
        latest=history[0] if history and not window.allowed else None,
        error=error,
        grounds=grounds,
        state_label=workflow.STATE_LABELS.get(portfolio.state, portfolio.state),
        appeal_days=appeals.appeal_days(),
    )
    return (page, 422) if error else page

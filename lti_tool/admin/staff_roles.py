"""Tool administrators grant and revoke staff roles to people who have launched the tool."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from lti_tool.admin.confirm import confirm_page, confirmed
from lti_tool.audit.actor import Actor
from lti_tool.identity import staff
from lti_tool.identity.access import require_tool_admin
from lti_tool.identity.grants import (
    Scope,
    add_pending_grant,
    cancel_pending_grant,
    describe,
    find_user,
    grant_role,
    open_pending_grants,
    revoke_grant,
)
from lti_tool.identity.partners import Partner
from lti_tool.launch.models import LtiUser
from lti_tool.launch.session import login_required, require_session
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.store.db import db
from lti_tool.web.errors import N_, NotFound, UserError
from lti_tool.web.form_parsing import whole_number

bp = Blueprint("staff_admin", __name__, url_prefix="/staff/admin")
USERS_SHOWN = 50
# The form's numbered choices, each with its refusal when what came is not one of them.
CHOICES = {
    "user_id": N_("Choose the person from the list."),
    "partner_id": N_("Choose the partner from the list."),
    "home_partner_id": N_("Choose the partner the person is attached to from the list."),
}


def _admin() -> LtiUser:
    return require_tool_admin("Only tool administrators manage staff roles.").user


def _back() -> Response:
    return redirect(url_for("staff_admin.index"), code=303)


@bp.route("/")
@login_required
def index() -> str:
    _admin()
    return _page()


def _page(refused: tuple[str, str] | None = None) -> str:
    """The page; after a refused form (`refused`: which form, the refusal's words) it says why beside that form,
    which keeps what was chosen: the forms are at the foot of a long page, far from the messages at its top."""
    q = (request.args.get("q") or "").strip()
    users_query = select(LtiUser).order_by(LtiUser.last_seen_at.desc()).limit(USERS_SHOWN)
    if q:
        like = f"%{q}%"
        users_query = users_query.where(
            or_(
                LtiUser.name.ilike(like),
                LtiUser.email.ilike(like),
                LtiUser.sub.ilike(like),
                LtiUser.family_name.ilike(like),
            )
        )
    grants = list(
        db.session.execute(
            select(staff.StaffGrant, LtiUser)
            .join(LtiUser, staff.StaffGrant.user_id == LtiUser.id)
            .order_by(LtiUser.name, staff.StaffGrant.id)
        )
    )
    return render_template(
        "staff/admin_roles.html",
        grants=grants,
        pending=open_pending_grants(),
        describe=describe,
        q=q,
        users=list(db.session.scalars(users_query)),
        role_labels=staff.STAFF_ROLES,
        partners=list(db.session.scalars(select(Partner).order_by(Partner.name))),
        certification_codes=sorted(set(db.session.scalars(select(Certification.code)))),
        me=require_session().user_id,
        refused_form=refused[0] if refused else None,
        refusal=refused[1] if refused else None,
        values=request.form if refused else {},
    )


def _optional_int(name: str) -> int | None:
    raw = request.form.get(name, "")
    if not raw:
        return None
    value = whole_number(raw)
    if value is None:
        raise UserError(gettext(CHOICES[name]))
    return value


def _partner_id(name: str) -> int | None:
    pid = _optional_int(name)
    if pid is not None and db.session.get(Partner, pid) is None:
        raise UserError("That partner does not exist.")
    return pid


def _scope() -> Scope:
    return Scope(
        partner_id=_partner_id("partner_id"),
        certification_code=(request.form.get("certification_code") or "").strip() or None,
        home_partner_id=_partner_id("home_partner_id"),
    )


@bp.route("/grant", methods=["POST"])
@login_required
def grant() -> Response | tuple[str, int]:
    admin = _admin()
    try:
        user_id = _optional_int("user_id")
        user = db.session.get(LtiUser, user_id) if user_id else None
        if user is None:
            raise NotFound("Choose a person who has launched the tool.")
        row = grant_role(user, request.form.get("role", ""), _scope(), Actor(actor=admin, role=staff.TOOL_ADMIN))
        db.session.commit()
    except UserError as exc:
        db.session.rollback()
        return _page(("grant", exc.message)), 400
    flash(gettext("Granted %(grant)s to %(name)s.", grant=describe(row), name=user.display_name()), "info")
    return _back()


@bp.route("/pending", methods=["POST"])
@login_required
def pending() -> Response | tuple[str, int]:
    """Grant a role to an LMS identity that has not launched yet: applied at their first launch."""
    admin = _admin()
    issuer = (request.form.get("issuer") or "").strip()
    sub = (request.form.get("sub") or "").strip()
    try:
        if not issuer or not sub or len(issuer) > 500 or len(sub) > 255:
            raise UserError("Give the person's platform issuer and their subject (user id) on that platform.")
        if find_user(issuer, sub) is not None:
            raise UserError("This person has already launched the tool: grant the role to them directly.")
        row = add_pending_grant(
            issuer, sub, request.form.get("role", ""), _scope(), Actor(actor=admin, role=staff.TOOL_ADMIN)
        )
        db.session.commit()
    except UserError as exc:
        db.session.rollback()
        return _page(("pending", exc.message)), 400
    flash(gettext("%(grant)s will be granted to %(sub)s at their first launch.", grant=describe(row), sub=sub), "info")
    return _back()


@bp.route("/pending/<int:pending_id>/cancel", methods=["POST"])
@login_required
def cancel_pending(pending_id: int) -> Response | str:
    admin = _admin()
    row = db.session.get(staff.PendingStaffGrant, pending_id)
    if row is None or row.applied_at is not None:
        raise NotFound("That pending grant no longer exists or has already been applied.")
    text = gettext("Cancelled the pending %(grant)s for %(sub)s.", grant=describe(row), sub=row.sub)
    if not confirmed():
        return confirm_page(
            gettext("Cancel the pending role for %(sub)s?", sub=row.sub),
            [
                gettext(
                    "The pending %(grant)s for %(sub)s is cancelled: their next launch grants nothing.",
                    grant=describe(row),
                    sub=row.sub,
                )
            ],
            url_for("staff_admin.cancel_pending", pending_id=row.id),
            gettext("Yes, cancel it"),
            url_for("staff_admin.index"),
            section="staff",
        )
    cancel_pending_grant(row, Actor(actor=admin, role=staff.TOOL_ADMIN))
    db.session.commit()
    flash(text, "info")
    return _back()


@bp.route("/revoke/<int:grant_id>", methods=["POST"])
@login_required
def revoke(grant_id: int) -> Response | str:
    admin = _admin()
    row = db.session.get(staff.StaffGrant, grant_id)
    if row is None:
        raise NotFound("That grant no longer exists.")
    if row.user_id == admin.id and row.role == staff.TOOL_ADMIN:
        raise UserError("You cannot revoke your own administrator role; ask another tool administrator.", status=409)
    name = row.user.display_name()
    text = gettext("Revoked %(grant)s from %(name)s.", grant=describe(row), name=name)
    if not confirmed():
        reason = (request.form.get("reason") or "").strip()
        return confirm_page(
            gettext("Revoke this role from %(name)s?", name=name),
            [
                gettext(
                    "%(name)s loses %(grant)s at once: the work it gave them leaves their queues.",
                    name=name,
                    grant=describe(row),
                ),
                gettext("Reason recorded in the audit trail: %(reason)s", reason=reason or gettext("(none given)")),
            ],
            url_for("staff_admin.revoke", grant_id=row.id),
            gettext("Yes, revoke the role"),
            url_for("staff_admin.index"),
            {"reason": reason},
            section="staff",
        )
    revoke_grant(row, Actor(actor=admin, role=staff.TOOL_ADMIN), (request.form.get("reason") or "").strip())
    db.session.commit()
    flash(text, "info")
    return _back()

"""Console pages for platform registrations and their deployments."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext, ngettext
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from lti_tool.admin import bp
from lti_tool.admin.access import admin_who, back_to, current_notice
from lti_tool.grading import gradebook
from lti_tool.identity.partners import Partner
from lti_tool.launch import counters as launch_counters
from lti_tool.launch import registrations as rules
from lti_tool.launch.invites import RegistrationInvite
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import whole_number


def page(template: str, section: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, section=section, notice=current_notice(), **context), status


def get_registration(reg_id: int) -> Registration:
    reg = db.session.get(Registration, reg_id)
    if reg is None:
        raise NotFound("There is no such registration (it may have been deleted).")
    return reg


def get_deployment(dep_id: int) -> Deployment:
    dep = db.session.get(Deployment, dep_id)
    if dep is None:
        raise NotFound("There is no such deployment (it may have been deleted).")
    return dep


def all_partners() -> list[Partner]:
    return list(db.session.scalars(select(Partner).order_by(Partner.name)))


def partner_from_form(field: str = "partner_id") -> Partner | None:
    raw = (request.form.get(field) or "").strip()
    if not raw:
        return None
    partner_id = whole_number(raw)
    partner = db.session.get(Partner, partner_id) if partner_id is not None else None
    if partner is None:
        raise UserError("The chosen partner does not exist.")
    return partner


@bp.route("/")
def index() -> tuple[str, int]:
    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return page(
        "admin/index.html",
        "overview",
        counts={
            "registrations": count(Registration),
            "inactive": count(Registration, Registration.active.is_(False)),
            "deployments": count(Deployment),
            "unassigned": count(Deployment, Deployment.partner_id.is_(None)),
            "partners": count(Partner),
            "open_invites": sum(1 for i in db.session.scalars(select(RegistrationInvite)) if i.status() == "open"),
        },
        launches=launch_counters.recent(7),
    )


@bp.route("/registrations")
def registrations() -> tuple[str, int]:
    rows = list(db.session.scalars(select(Registration).order_by(Registration.active, Registration.id.desc())))
    credits_on = gradebook.opted_in_deployments([d.id for r in rows for d in r.deployments])
    return page(
        "admin/registrations.html", "registrations", registrations=rows, partners=all_partners(), credits_on=credits_on
    )


MANUAL_FIELDS = (
    "name",
    "issuer",
    "client_id",
    "login_url",
    "token_url",
    "jwks_url",
    "audience",
    "deployment_ids",
    "partner_id",
)


@bp.route("/registrations/new", methods=["GET", "POST"])
def registration_new() -> tuple[str, int] | Response:
    form = {k: request.form.get(k, "") for k in MANUAL_FIELDS}
    form["active"] = request.form.get("active", "1" if request.method == "GET" else "")
    if request.method == "GET":
        return page("admin/registration_new.html", "registrations", form=form, partners=all_partners())
    try:
        rules.create_registration(
            admin_who(),
            issuer=form["issuer"],
            client_id=form["client_id"],
            login_url=form["login_url"],
            token_url=form["token_url"],
            jwks_url=form["jwks_url"],
            audience=form["audience"] or None,
            name=form["name"],
            deployment_ids=form["deployment_ids"].replace(",", "\n").splitlines(),
            active=bool(form["active"]),
            partner=partner_from_form(),
        )
        db.session.commit()
    except UserError as exc:
        # Show the form again with everything typed, and what to fix.
        db.session.rollback()
        return page(
            "admin/registration_new.html",
            "registrations",
            status=exc.status,
            form=form,
            partners=all_partners(),
            error=exc.message,
        )
    return back_to("admin.registrations", "registration-created")


@bp.route("/registrations/<int:reg_id>/activate", methods=["POST"])
def registration_activate(reg_id: int) -> Response:
    rules.set_registration_active(admin_who(), get_registration(reg_id), True)
    db.session.commit()
    return back_to("admin.registrations", "registration-activated")


@bp.route("/registrations/<int:reg_id>/deactivate", methods=["POST"])
def registration_deactivate(reg_id: int) -> Response:
    rules.set_registration_active(admin_who(), get_registration(reg_id), False)
    db.session.commit()
    return back_to("admin.registrations", "registration-deactivated")


@bp.route("/registrations/<int:reg_id>/delete", methods=["GET", "POST"])
def registration_delete(reg_id: int) -> tuple[str, int] | Response:
    reg = get_registration(reg_id)
    in_use = rules.launch_record_count([d.id for d in reg.deployments])
    if request.method == "GET":
        return page(
            "admin/confirm_delete.html",
            "registrations",
            in_use=in_use,
            what=gettext("the registration %(label)s", label=reg.label()),
            detail=ngettext(
                "issuer %(issuer)s, client ID %(client_id)s, %(num)d deployment",
                "issuer %(issuer)s, client ID %(client_id)s, %(num)d deployments",
                len(reg.deployments),
                issuer=reg.issuer,
                client_id=reg.client_id,
            ),
            action="admin.registration_delete",
            action_values={"reg_id": reg.id},
            deactivate="admin.registration_deactivate",
            deactivate_values={"reg_id": reg.id},
        )
    try:
        rules.delete_registration(admin_who(), reg)
        db.session.commit()
    except UserError:
        db.session.rollback()
        raise
    return back_to("admin.registrations", "registration-deleted")


@bp.route("/registrations/<int:reg_id>/deployments", methods=["POST"])
def deployment_add(reg_id: int) -> Response:
    try:
        rules.add_deployment(
            admin_who(), get_registration(reg_id), request.form.get("deployment_id", ""), partner_from_form()
        )
        db.session.commit()
    except UserError:
        db.session.rollback()
        raise
    return back_to("admin.registrations", "deployment-added")


@bp.route("/deployments/<int:dep_id>/activate", methods=["POST"])
def deployment_activate(dep_id: int) -> Response:
    rules.set_deployment_active(admin_who(), get_deployment(dep_id), True)
    db.session.commit()
    return back_to("admin.registrations", "deployment-activated")


@bp.route("/deployments/<int:dep_id>/deactivate", methods=["POST"])
def deployment_deactivate(dep_id: int) -> Response:
    rules.set_deployment_active(admin_who(), get_deployment(dep_id), False)
    db.session.commit()
    return back_to("admin.registrations", "deployment-deactivated")


@bp.route("/deployments/<int:dep_id>/credits-column", methods=["POST"])
def deployment_credits_column(dep_id: int) -> Response:
    """Opt a deployment in to (or out of) a separate learning credits column (grading/gradebook.py)."""
    value = request.form.get("credits_column", "")
    if value not in ("on", "off"):
        raise UserError("Choose 'on' or 'off' for the separate credits column.")
    gradebook.set_credits_column(admin_who(), get_deployment(dep_id), value == "on")
    db.session.commit()
    return back_to("admin.registrations", f"credits-column-{value}")


@bp.route("/deployments/<int:dep_id>/delete", methods=["GET", "POST"])
def deployment_delete(dep_id: int) -> tuple[str, int] | Response:
    dep = get_deployment(dep_id)
    if request.method == "GET":
        return page(
            "admin/confirm_delete.html",
            "registrations",
            in_use=rules.launch_record_count([dep.id]),
            what=gettext("the deployment “%(deployment_id)s”", deployment_id=dep.deployment_id),
            detail=gettext("of %(registration)s", registration=dep.registration.label()),
            action="admin.deployment_delete",
            action_values={"dep_id": dep.id},
            deactivate="admin.deployment_deactivate",
            deactivate_values={"dep_id": dep.id},
        )
    try:
        rules.delete_deployment(admin_who(), dep)
        db.session.commit()
    except UserError:
        db.session.rollback()
        raise
    return back_to("admin.registrations", "deployment-deleted")

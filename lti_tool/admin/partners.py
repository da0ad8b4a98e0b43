"""Console pages for partners (the tenants) and which deployments belong to them."""

from __future__ import annotations

from flask import request
from sqlalchemy import select
from werkzeug.wrappers import Response

from lti_tool.admin import bp
from lti_tool.admin.access import admin_who, back_to
from lti_tool.admin.registrations import all_partners, get_deployment, page
from lti_tool.identity.partners import PARTNER_KINDS, Partner, add_partner, set_deployment_partner
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import whole_number


def get_partner(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("There is no such partner.")
    return partner


@bp.route("/partners", methods=["GET", "POST"])
def partners() -> tuple[str, int] | Response:
    error, status = None, 200
    form = {k: request.form.get(k, "") for k in ("slug", "name", "kind")}
    if request.method == "POST":
        try:
            add_partner(admin_who(), form["slug"], form["name"], form["kind"] or "academy")
            db.session.commit()
            return back_to("admin.partners", "partner-created")
        except UserError as exc:
            db.session.rollback()
            error, status = exc.message, exc.status
    deployments = list(
        db.session.scalars(select(Deployment).join(Registration).order_by(Registration.name, Deployment.deployment_id))
    )
    return page(
        "admin/partners.html",
        "partners",
        status=status,
        error=error,
        form=form,
        kinds=PARTNER_KINDS,
        partners=all_partners(),
        deployments=deployments,
        unassigned=[d for d in deployments if d.partner_id is None],
    )


@bp.route("/partners/<int:partner_id>/attach", methods=["POST"])
def partner_attach(partner_id: int) -> Response:
    partner = get_partner(partner_id)
    deployment_id = whole_number(request.form.get("deployment_id", ""))
    if deployment_id is None:
        raise UserError("Choose a deployment to attach.")
    set_deployment_partner(admin_who(), get_deployment(deployment_id), partner)
    db.session.commit()
    return back_to("admin.partners", "deployment-attached")


@bp.route("/deployments/<int:dep_id>/detach", methods=["POST"])
def deployment_detach(dep_id: int) -> Response:
    set_deployment_partner(admin_who(), get_deployment(dep_id), None)
    db.session.commit()
    return back_to("admin.partners", "deployment-detached")

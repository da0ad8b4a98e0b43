"""Console pages for one-time registration invites."""

from __future__ import annotations

from flask import request
from flask_babel import gettext
from werkzeug.wrappers import Response

from lti_tool.admin import bp
from lti_tool.admin.access import admin_url, admin_who, back_to
from lti_tool.admin.confirm import confirm_page, confirmed
from lti_tool.admin.registrations import all_partners, page, partner_from_form
from lti_tool.launch.invites import RegistrationInvite, create_invite, list_invites, revoke_invite
from lti_tool.launch.tool_urls import invite_url
from lti_tool.store.db import db
from lti_tool.web import dates
from lti_tool.web.errors import NotFound, UserError
from lti_tool.web.form_parsing import whole_number


@bp.route("/invites", methods=["GET", "POST"])
def invites() -> tuple[str, int] | Response:
    error, status = None, 200
    if request.method == "POST":
        try:
            hours = whole_number(request.form.get("hours") or "72")
            if hours is None:
                raise UserError("The validity must be a whole number of hours.")
            invite, token = create_invite(
                admin_who(), hours=hours, partner=partner_from_form(), note=request.form.get("note", "")
            )
            db.session.commit()
            # The token exists only now (the database keeps its hash): show the URL once, no redirect.
            return page("admin/invite_created.html", "invites", invite=invite, url=invite_url(token))
        except UserError as exc:
            db.session.rollback()
            error, status = exc.message, exc.status
    return page(
        "admin/invites.html", "invites", status=status, error=error, invites=list_invites(), partners=all_partners()
    )


@bp.route("/invites/<int:invite_id>/revoke", methods=["POST"])
def invite_revoke(invite_id: int) -> Response | str:
    invite = db.session.get(RegistrationInvite, invite_id)
    if invite is None:
        raise NotFound("There is no such invite.")
    if not confirmed():
        created = {"date": dates.text(invite.created_at), "by": invite.created_by}
        return confirm_page(
            gettext("Revoke this registration invite?"),
            [
                gettext("Whoever holds the invite link can no longer register a platform with it."),
                gettext("Invite created %(date)s by %(by)s: %(note)s", note=invite.note, **created)
                if invite.note
                else gettext("Invite created %(date)s by %(by)s.", **created),
            ],
            admin_url("admin.invite_revoke", invite_id=invite.id),
            gettext("Yes, revoke the invite"),
            admin_url("admin.invites"),
            section="invites",
        )
    revoke_invite(admin_who(), invite)
    db.session.commit()
    return back_to("admin.invites", "invite-revoked")

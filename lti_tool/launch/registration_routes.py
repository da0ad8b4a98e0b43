"""Public registration pages: LTI Dynamic Registration (/lti/register), the manual setup page (/lti/config)
and the Canvas developer key JSON (/lti/canvas.json)."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from werkzeug.wrappers import Response

from lti_tool.launch import dynamic_registration as dynreg
from lti_tool.launch.invites import usable_invite
from lti_tool.launch.platform_setup import canvas_developer_key, setup_fields
from lti_tool.launch.tool_urls import TOOL_NAME, tool_urls
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

bp = Blueprint("registration", __name__)


@bp.route("/lti/register", methods=["GET", "POST"])
@bp.route("/lti/register/<invite_token>", methods=["GET", "POST"])
def register(invite_token: str | None = None) -> str:
    """GET: check the platform and show what will be registered; POST: register and tell the LMS to close.

    No CSRF token here: the LMS admin has no tool session. The platform's registration token is what
    authorizes the POST (and an invite, when present, is checked again on it).
    """
    try:
        invite = usable_invite(invite_token) if invite_token is not None else None
        config_url = (request.values.get("openid_configuration") or "").strip()
        token = (request.values.get("registration_token") or "").strip() or None
        if not config_url:
            raise dynreg.DynamicRegistrationError(
                "This address is the tool's dynamic registration URL; the request did not include the "
                "platform's 'openid_configuration'.",
                hint="Paste this URL into your LMS (Moodle: Site administration › Plugins › External tool › "
                "Manage tools › Tool URL › 'Add LTI Advantage'; Canvas: LTI Registration; Brightspace: "
                "Register Tool › Dynamic) instead of opening it in the browser.",
            )
        platform = dynreg.fetch_platform_configuration(config_url, token)
        urls = tool_urls()
        if request.method == "GET":
            return render_template(
                "registration/review.html",
                platform=platform,
                invite=invite,
                config_url=config_url,
                registration_token=token or "",
                tool_name=TOOL_NAME,
                request_body=dynreg.client_registration(platform, urls),
            )
        registered = dynreg.register_or_update(platform, token, urls, invite)
        reg = registered.registration
        db.session.commit()
    except UserError:
        db.session.rollback()
        raise
    return render_template(
        "registration/done.html",
        reg=reg,
        platform=platform,
        invite=invite,
        deployment=reg.deployments[0] if reg.deployments else None,
        updated=registered.updated,
    )


@bp.route("/lti/config")
def config_page() -> str:
    urls = tool_urls()
    return render_template("registration/config.html", urls=urls, fields=setup_fields(urls), tool_name=TOOL_NAME)


@bp.route("/lti/canvas.json")
def canvas_json() -> Response:
    resp = jsonify(canvas_developer_key(tool_urls()))
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp

"""Demo LMS pages and its OIDC authorization endpoint."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from lti_tool.demo_platform import people, placements
from lti_tool.demo_platform.messages import launch_claims, sign
from lti_tool.demo_platform.setup import demo_issuer, platform_key
from lti_tool.web.errors import UserError

bp = Blueprint("demo", __name__, url_prefix="/demo")


def _hints() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="demo-lti-message-hint")


@bp.route("/")
def index() -> str:
    return render_template(
        "demo/index.html", users=people.USERS, placements=people.PLACEMENTS, course_title=people.COURSE_TITLE
    )


@bp.route("/course/<sub>")
def course(sub: str) -> str:
    user = people.user(sub) or abort(404)
    tool = urlsplit(current_app.config["DEMO_TOOL_URL"])
    return render_template(
        "demo/course.html",
        user=user,
        placements=placements.all_placements(),
        course_title=people.COURSE_TITLE,
        tool_origin=f"{tool.scheme}://{tool.netloc}",
    )


@bp.route("/launch")
def start_launch() -> Response:
    """Third-party initiated login: what an LMS does when someone clicks the activity."""
    user = people.user(request.args.get("user", ""))
    if user is None:
        raise UserError("Unknown demo user.", status=404)
    message_type = "LtiDeepLinkingRequest" if request.args.get("deep_link") else "LtiResourceLinkRequest"
    link_id = request.args.get("link", people.PLACEMENTS[0].id)
    hint = _hints().dumps({"link": link_id, "type": message_type})
    tool_base = current_app.config["DEMO_TOOL_URL"]
    params = {
        "iss": demo_issuer(),
        "login_hint": user.sub,
        "target_link_uri": tool_base + url_for("launch.launch"),
        "lti_message_hint": hint,
        "client_id": people.CLIENT_ID,
        "lti_deployment_id": people.DEPLOYMENT_ID,
    }
    if request.args.get("storage"):
        params["lti_storage_target"] = "_parent"  # this platform keeps values for tools (postMessage)
    return redirect(tool_base + url_for("launch.login") + "?" + urlencode(params))


@bp.route("/auth", methods=["GET", "POST"])
def auth() -> str:
    """OIDC authorization endpoint: checks the tool's auth request and posts back a signed id_token."""
    args = request.values
    for required in ("client_id", "redirect_uri", "login_hint", "nonce", "state"):
        if not args.get(required):
            raise UserError(f"The authorization request is missing {required!r}.")
    if args.get("scope") != "openid" or args.get("response_type") != "id_token":
        raise UserError("The authorization request must use scope=openid and response_type=id_token.")
    if args.get("client_id") != people.CLIENT_ID:
        raise UserError("Unknown client_id for the demo platform.", status=403)
    redirect_uri = args["redirect_uri"]
    parts = urlsplit(redirect_uri)
    allowed_hosts = (
        "localhost",
        "127.0.0.1",
        urlsplit(request.host_url).hostname,
        urlsplit(current_app.config["DEMO_TOOL_URL"]).hostname,
    )
    if parts.path != url_for("launch.launch") or parts.hostname not in allowed_hosts:
        raise UserError("The redirect_uri is not registered for the demo tool.", status=403)
    user = people.user(args["login_hint"])
    if user is None:
        raise UserError("Unknown login_hint.", status=403)
    try:
        hint = _hints().loads(args.get("lti_message_hint", ""))
    except BadSignature as exc:
        raise UserError("The lti_message_hint is not one the demo platform issued.", status=403) from exc
    claims = launch_claims(
        user,
        nonce=args["nonce"],
        client_id=people.CLIENT_ID,
        target_link_uri=redirect_uri,
        message_type=hint["type"],
        link=placements.find(hint.get("link", "")),
    )
    return render_template(
        "demo/post_form.html", action=redirect_uri, fields={"id_token": sign(claims), "state": args["state"]}
    )


@bp.route("/jwks")
def jwks() -> Response:
    _, jwk = platform_key()
    return jsonify({"keys": [jwk]})

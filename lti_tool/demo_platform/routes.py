"""Demo LMS pages and its OIDC authorization endpoint."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from lti_tool.demo_platform import people, placements
from lti_tool.demo_platform.messages import launch_claims, sign
from lti_tool.demo_platform.setup import demo_issuer, platform_key
from lti_tool.launch.cache import cache_consume, cache_set
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


# --- Moodle mode: what Moodle 4.5 does, so the tool is tested against it (README: browsers that block
# third-party cookies). mod/lti/view.php embeds the activity in an iframe whose page auto-POSTs the login
# (launch.php); the login hint names a launch kept in Moodle's session and removed at its first use
# (auth.php), so a repeated login gets "Invalid request"; deep linking runs in a "Select content" dialog whose
# return page calls parent.processContentItemReturnData (contentitem_return.js).

MOODLE_LAUNCH_PREFIX = "demo-moodle-launch:"
MOODLE_LAUNCH_TTL = 600
DEEP_LINKING = "LtiDeepLinkingRequest"


def _tool_origin() -> str:
    tool = urlsplit(current_app.config["DEMO_TOOL_URL"])
    return f"{tool.scheme}://{tool.netloc}"


def _moodle_user(sub: str) -> people.DemoUser:
    user = people.user(sub)
    if user is None:
        raise UserError("Unknown demo user.", status=404)
    return user


@bp.route("/moodle/course/<sub>")
def moodle_course(sub: str) -> str:
    user = _moodle_user(sub)
    return render_template(
        "demo/moodle_course.html",
        user=user,
        placements=placements.all_placements(),
        course_title=people.COURSE_TITLE,
        may_add=people.may_add_activities(user),
    )


@bp.route("/moodle/view/<sub>/<link>")
def moodle_view(sub: str, link: str) -> str:
    """The activity page: the tool in Moodle's embedded launch container."""
    user = _moodle_user(sub)
    placement = placements.find(link) or abort(404)
    return render_template(
        "demo/moodle_view.html", user=user, placement=placement, course_title=people.COURSE_TITLE, tool=_tool_origin()
    )


@bp.route("/moodle/add/<sub>")
def moodle_add(sub: str) -> str:
    """Moodle's activity form with its "Select content" button (deep linking in a dialog)."""
    user = _moodle_user(sub)
    if not people.may_add_activities(user):
        raise UserError("Only the course's instructors can add activities.", status=403)
    return render_template("demo/moodle_add.html", user=user, course_title=people.COURSE_TITLE)


def _moodle_login(user: people.DemoUser, message_type: str, link_id: str | None) -> str:
    """lti_initiate_login: keep the launch under a one-time id and auto-POST the login to the tool."""
    launch_id = f"ltilaunch{link_id or '_' + message_type}_{secrets.randbelow(10**9)}"
    cache_set(MOODLE_LAUNCH_PREFIX + launch_id, {"user": user.sub}, MOODLE_LAUNCH_TTL)
    hint = _hints().dumps({"link": link_id, "type": message_type, "launchid": launch_id, "moodle": 1})
    tool_base = current_app.config["DEMO_TOOL_URL"]
    fields = {
        "iss": demo_issuer(),
        "target_link_uri": tool_base + url_for("launch.launch"),
        "login_hint": user.sub,
        "lti_message_hint": hint,
        "client_id": people.CLIENT_ID,
        "lti_deployment_id": people.DEPLOYMENT_ID,
    }
    return render_template("demo/post_form.html", action=tool_base + url_for("launch.login"), fields=fields)


@bp.route("/moodle/launch.php")
def moodle_launch() -> str:
    """mod/lti/launch.php, inside the activity page's iframe."""
    user = _moodle_user(request.args.get("user", ""))
    placement = placements.find(request.args.get("link", "")) or abort(404)
    return _moodle_login(user, "LtiResourceLinkRequest", placement.id)


@bp.route("/moodle/contentitem.php")
def moodle_contentitem() -> str:
    """mod/lti/contentitem.php, inside the "Select content" dialog's iframe (Moodle posts to it; a GET here
    keeps the demo's own pages free of state-changing requests)."""
    user = _moodle_user(request.args.get("user", ""))
    if not people.may_add_activities(user):
        raise UserError("Only the course's instructors can add activities.", status=403)
    return _moodle_login(user, DEEP_LINKING, None)


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
def auth() -> str | tuple[str, int]:
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
    if hint.get("moodle"):
        # Moodle's auth.php: the launch is read and removed from the session at its first use; a second
        # login with the same hint ends on Moodle's fatal "Invalid request" page (auth.php:94).
        kept = cache_consume(MOODLE_LAUNCH_PREFIX + str(hint.get("launchid", "")))
        if kept is None or kept.get("user") != user.sub:
            return render_template("demo/moodle_invalid_request.html"), 400
    claims = launch_claims(
        user,
        nonce=args["nonce"],
        client_id=people.CLIENT_ID,
        target_link_uri=redirect_uri,
        message_type=hint["type"],
        link=placements.find(hint.get("link") or ""),
        # Moodle's return page hands the choice to the activity form around its dialog (moodle=1).
        deep_link_return_url=url_for("demo.deep_link_return", moodle=1) if hint.get("moodle") else None,
    )
    return render_template(
        "demo/post_form.html", action=redirect_uri, fields={"id_token": sign(claims), "state": args["state"]}
    )


@bp.route("/jwks")
def jwks() -> Response:
    _, jwk = platform_key()
    return jsonify({"keys": [jwk]})

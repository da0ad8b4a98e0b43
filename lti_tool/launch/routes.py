"""LTI endpoints: OIDC login initiation, launch, and the tool's JWKS. Thin: rules live elsewhere."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, current_app, jsonify, make_response, redirect, render_template, request, url_for
from pylti1p3.contrib.flask.redirect import FlaskRedirect
from pylti1p3.exception import LtiException, OIDCException
from werkzeug.wrappers import Response

from lti_tool.launch.errors import LaunchError, StorageCheckNeeded
from lti_tool.launch.keys import key_store
from lti_tool.launch.landing import landing_location
from lti_tool.launch.lti_messages import LOGIN_PARAMS, message_launch, oidc_login, storage_key
from lti_tool.launch.models import LtiUser
from lti_tool.launch.records import CLAIM, record_launch
from lti_tool.launch.session import TOKEN_PARAM, set_session_cookie, start_session
from lti_tool.launch.tool_config import find_registration_row
from lti_tool.store.db import db

LAUNCH_LISTENERS = "lti_tool.launch_listeners"
LaunchListener = Callable[[LtiUser, list[str]], object]


def set_launch_listeners(app: Flask, listeners: Sequence[LaunchListener]) -> None:
    """Who is told of every verified launch, in its transaction: listener(user, lms_roles) (create_app)."""
    app.extensions[LAUNCH_LISTENERS] = tuple(listeners)


bp = Blueprint("launch", __name__)
log = logging.getLogger(__name__)
# Generous for the opaque hints some platforms send (Canvas' lti_message_hint is a JWT), small next to abuse.
MAX_LOGIN_PARAM_CHARS = 8192


def _param(name: str) -> str | None:
    return request.values.get(name)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Response:
    for required in ("iss", "login_hint", "target_link_uri"):
        if not _param(required):
            raise LaunchError(f"The login request is missing '{required}'.")
    for name in LOGIN_PARAMS:
        if len(_param(name) or "") > MAX_LOGIN_PARAM_CHARS:
            raise LaunchError(f"The login's '{name}' is longer than the tool accepts.")
    try:
        target = urlsplit(_param("target_link_uri") or "")
    except ValueError as exc:
        raise LaunchError("The login's target_link_uri is not a valid URL.") from exc
    if target.netloc and target.netloc != request.host:
        raise LaunchError(
            "The login's target_link_uri points to another site.",
            hint="Set the tool's target link URI in the LMS to this tool's launch URL.",
        )
    login = oidc_login()
    storage_target = _param("lti_storage_target")
    params: dict = {"login": {k: _param(k) for k in LOGIN_PARAMS if _param(k)}}
    if storage_target:
        platform = find_registration_row(_param("iss") or "", _param("client_id"))
        params["storage"] = {
            "target": storage_target[:100],
            "secret": secrets.token_urlsafe(24),
            "origin": origin_of(platform.auth_login_url),
        }
    login.pass_params_to_launch(params)
    try:
        redirect_obj = login.get_redirect_object(url_for("launch.launch", _external=True))
    except (LtiException, OIDCException) as exc:
        raise LaunchError(str(exc)) from exc
    # FlaskOIDCLogin always builds a FlaskRedirect; pylti1p3 declares only the abstract Redirect.
    assert isinstance(redirect_obj, FlaskRedirect)
    db.session.commit()  # the state and nonce just issued
    auth_url = redirect_obj.get_redirect_url()
    if not storage_target:
        return redirect_obj.do_redirect()
    # The platform keeps the login's secret for us (LTI client-side postMessage storage), so the launch
    # can be checked even when the browser refuses our cookie in the LMS iframe.
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    page = make_response(
        render_template(
            "launch/storage_put.html",
            auth_url=auth_url,
            target=params["storage"]["target"],
            platform_origin=params["storage"]["origin"],
            key=storage_key(state),
            value=params["storage"]["secret"],
        )
    )
    page.headers["Cache-Control"] = "no-store"
    return redirect_obj._process_response(page)


@bp.route("/lti/launch", methods=["POST"])
def launch() -> Response:
    ml = message_launch()
    try:
        ml.validate()
    except StorageCheckNeeded as needed:
        db.session.rollback()
        page = make_response(
            render_template(
                "launch/storage_get.html",
                target=needed.storage["target"],
                key=needed.storage["key"],
                platform_origin=needed.storage["origin"],
                id_token=request.form.get("id_token", ""),
                state=request.form.get("state", ""),
            )
        )
        page.headers["Cache-Control"] = "no-store"
        return page
    except LaunchError:
        db.session.rollback()
        raise
    except (LtiException, OIDCException) as exc:
        db.session.rollback()
        raise LaunchError(str(exc), status=401) from exc
    claims = ml.get_launch_data()
    deployment = ml.deployment_row
    assert deployment is not None
    record = record_launch(claims, deployment)
    for listener in current_app.extensions.get(LAUNCH_LISTENERS, ()):
        listener(record.user, record.roles)
    message_type = claims.get(CLAIM + "message_type", "LtiResourceLinkRequest")
    # By id, not by object: the flush then has no relationships to work through (a third of its cost).
    sess = start_session(
        user_id=record.user.id,
        deployment_id=deployment.id,
        context_id=record.context.id if record.context else None,
        resource_link_id=record.resource_link.id if record.resource_link else None,
        roles=record.roles,
        message_type=message_type,
        launch_id=ml.get_launch_id(),
    )
    ids = (record.user.id, deployment.id)  # read now: the commit expires every loaded row
    # Straight to where the person is going (their portfolio, queue, roster...), or to /start when that
    # shows a page; asked before the commit, while the launch's rows are still loaded. The first hop
    # carries the token too: if the browser refuses the cookie (third-party iframe), the page learns the
    # session from it and keeps it in its links and forms.
    db.session.flush()  # the landings read the session's course and activity through its relationships
    target = landing_location(sess) or url_for("home.start")
    resp = redirect(with_session_token(target, sess.id), code=303)
    set_session_cookie(resp, sess)
    # One commit for the whole launch: the consumed state and nonce, the launch data, the records, the session.
    db.session.commit()
    log.info("launch ok: user=%s deployment=%s type=%s", *ids, message_type)
    return resp


def with_session_token(url: str, session_id: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_PARAM]
    return urlunsplit(parts._replace(query=urlencode([*query, (TOKEN_PARAM, session_id)])))


@bp.route("/lti/jwks")
@bp.route("/.well-known/jwks.json")
def jwks() -> Response:
    resp = jsonify(key_store().jwks())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp

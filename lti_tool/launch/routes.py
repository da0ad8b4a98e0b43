"""LTI endpoints: OIDC login initiation, launch, and the tool's JWKS. Thin: rules live elsewhere."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from pylti1p3.contrib.flask.redirect import FlaskRedirect
from pylti1p3.exception import LtiException, OIDCException
from werkzeug.wrappers import Response

from lti_tool.launch import counters, handoff
from lti_tool.launch.errors import LaunchError, StorageCheckNeeded
from lti_tool.launch.keys import key_store
from lti_tool.launch.landing import landing_location
from lti_tool.launch.lti_messages import LOGIN_PARAMS, message_launch, oidc_login, storage_key
from lti_tool.launch.models import Deployment, LtiUser, Registration, ToolSession
from lti_tool.launch.records import CLAIM, Guard, record_launch
from lti_tool.launch.session import TOKEN_PARAM, set_session_cookie, start_session
from lti_tool.launch.tool_config import find_registration_row
from lti_tool.store.db import db
from lti_tool.web.security_headers import allow_form_target, content_security_policy, origin, platform_origins
from lti_tool.web.urls import public_base

LAUNCH_LISTENERS = "lti_tool.launch_listeners"
LaunchListener = Callable[[LtiUser, list[str]], object]
# A listener with a guard: a condition on the person (LtiUser) read with a returning person's rows in their
# one query; when it is false the listener is not called (most launches then cost the listener no query).
GuardedListener = tuple[LaunchListener, Guard]


def set_launch_listeners(app: Flask, listeners: Sequence[LaunchListener | GuardedListener]) -> None:
    """Who is told of every verified launch, in its transaction: listener(user, lms_roles) (create_app)."""
    app.extensions[LAUNCH_LISTENERS] = tuple(
        (entry, None) if not isinstance(entry, tuple) else entry for entry in listeners
    )


bp = Blueprint("launch", __name__)
log = logging.getLogger(__name__)
# Generous for the opaque hints some platforms send (Canvas' lti_message_hint is a JWT), small next to abuse.
MAX_LOGIN_PARAM_CHARS = 8192
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def _param(name: str) -> str | None:
    return request.values.get(name)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Response:
    for required in ("iss", "login_hint", "target_link_uri"):
        if not _param(required):
            raise LaunchError(gettext("The login request is missing '%(param)s'.", param=required))
    for name in LOGIN_PARAMS:
        if len(_param(name) or "") > MAX_LOGIN_PARAM_CHARS:
            raise LaunchError(gettext("The login's '%(param)s' is longer than the tool accepts.", param=name))
    try:
        target = urlsplit(_param("target_link_uri") or "")
    except ValueError as exc:
        raise LaunchError("The login's target_link_uri is not a valid URL.") from exc
    # The tool's own host: LTI_TOOL_PUBLIC_URL's when set (behind a proxy the Host header may differ).
    if target.netloc and target.netloc != urlsplit(public_base()).netloc:
        raise LaunchError(
            "The login's target_link_uri points to another site.",
            hint="Set the tool's target link URI in the LMS to this tool's launch URL.",
        )
    login = oidc_login()
    storage_target = _param("lti_storage_target")
    params: dict = {}
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
    except LaunchError as exc:
        db.session.rollback()
        _launch_failed(exc.message)
        raise
    except (LtiException, OIDCException) as exc:
        db.session.rollback()
        _launch_failed(str(exc))
        raise LaunchError(str(exc), status=401) from exc
    claims = ml.get_launch_data()
    deployment = ml.deployment_row
    assert deployment is not None
    if ml.state_proof is None:
        return _offer_new_window(claims, deployment, ml.registration_row, ml.get_launch_id())
    sess, target = _start_session(claims, deployment, ml.get_launch_id())
    # Only a session proven by the platform's storage lives in a frame that keeps no cookie of ours: it
    # alone needs the token in its addresses. With the state cookie back, the session cookie comes back too,
    # and a top-level window must not show the session id where it can be copied.
    resp = redirect(with_session_token(target, sess.id) if ml.state_proof == "storage" else target, code=303)
    set_session_cookie(resp, sess)
    ids = (sess.user_id, deployment.id, sess.message_type)  # read now: the commit expires every loaded row
    # One commit for the whole launch: the consumed state and nonce, the launch data, the records, the session.
    db.session.commit()
    log.info("launch ok: user=%s deployment=%s type=%s", *ids)
    return resp


def _start_session(claims: Mapping[str, Any], deployment: Deployment, launch_id: str) -> tuple[ToolSession, str]:
    """Record what a verified launch says and start its session: (session, where it lands). Not committed."""
    listeners: tuple[tuple[LaunchListener, Guard | None], ...] = current_app.extensions.get(LAUNCH_LISTENERS, ())
    record = record_launch(claims, deployment, [guard for _, guard in listeners if guard is not None])
    guard_values = iter(record.guards or ())
    for listener, guard in listeners:
        if guard is not None and record.guards is not None and not next(guard_values):
            continue
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
        launch_id=launch_id,
    )
    # Straight to where the person is going (their portfolio, queue, roster...), or to /start when that
    # shows a page; asked before the commit, while the launch's rows are still loaded.
    db.session.flush()  # the landings read the session's course and activity through its relationships
    return sess, landing_location(sess) or url_for("home.start")


def _launch_failed(reason: str) -> None:
    # WARNING, not INFO: an operator must notice when launches fail (every embedded launch, say).
    log.warning("launch refused on %s: %s", request.path, reason)
    counters.count_now("failed")


def _from_platform(registration: Registration | None) -> bool:
    """The launch was posted by the platform's page (or the browser does not say who posted it)."""
    sent = (request.headers.get("Origin") or "").lower()
    if not sent or sent == "null":
        return True
    allowed = set(platform_origins())
    if registration is not None:
        allowed |= {o for o in (origin(registration.issuer), origin(registration.auth_login_url)) if o}
    return sent in allowed


def _offer_new_window(
    claims: Mapping[str, Any], deployment: Deployment, registration: Registration | None, launch_id: str
) -> Response:
    """A verified launch in a frame that kept no cookie of ours: hand it to a new window (launch/handoff.py).

    Only a frame may go this way. A top-level window always gets the state cookie back, so a top-level
    launch without it did not begin in this browser: it may be someone else's launch posted here to sign
    this person in as them (login CSRF).
    """
    db.session.commit()  # the state and nonce are used up, whatever happens next
    if not handoff.framed_or_unknown() or not _from_platform(registration):
        _launch_failed("the login cookie did not come back to a top-level window (or another site posted it)")
        raise LaunchError(
            "This sign-in did not begin in this browser window, so the tool cannot trust it.",
            status=401,
            hint="Open the activity again from your course. If it happens again, allow cookies for this site.",
        )
    offer = handoff.offer(claims, deployment, registration, launch_id)
    counters.count("handoff_offered")
    db.session.commit()
    message_type = claims.get(CLAIM + "message_type", "")
    log.warning(
        "launch needs a new window: the browser kept no cookie in the LMS frame (deployment=%s platform=%s type=%s)",
        deployment.id,
        registration.issuer if registration is not None else "?",
        message_type,
    )
    settings = claims.get(DEEP_LINKING_SETTINGS)
    return_url = settings.get("deep_link_return_url") if isinstance(settings, dict) else None
    if isinstance(return_url, str):
        allow_form_target(return_url)  # the frame posts the instructor's choice back to the platform itself
    page = make_response(
        render_template(
            "launch/continue.html",
            token=offer.token,
            ticket=offer.ticket,
            who=handoff.who(claims, registration),
        )
    )
    page.headers["Cache-Control"] = "no-store"
    return page


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


# --- The new-window handoff (launch/handoff.py): the frame's "Continue in a new window" posts here ---


def _same_origin_only() -> None:
    if not handoff.same_origin_request():
        _launch_failed("a handoff page was requested by another site")
        raise LaunchError(
            "This page only opens from the tool's own button.",
            status=403,
            hint="Go back to your course and open the activity again.",
        )


def _not_framable(resp: Response) -> None:
    # The confirmation names a person and has a button that signs in: no page may frame it (clickjacking).
    resp.headers["Content-Security-Policy"] = re.sub(
        r"frame-ancestors [^;]*", "frame-ancestors 'none'", content_security_policy()
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"


def _handoff_expired(*, framed: bool = False) -> Response:
    counters.count_now("handoff_expired")
    log.warning("handoff refused: unknown, used or expired")
    resp = make_response(render_template("launch/handoff_expired.html", framed=framed), 410)
    if framed:  # the frame's own page: it stays framable by the platform, like the page that posted it
        resp.headers["Cache-Control"] = "no-store"
    else:
        _not_framable(resp)
    return resp


def _mark_checks_own_token(view: Callable) -> Callable:
    """The handoff pages take no session CSRF token (no session exists yet): each refuses any request that
    is not same-origin and needs the handoff's own one-time secrets, which is the CSRF check
    (tests/test_csrf_coverage.py looks for the mark)."""
    view.requires_csrf = True  # type: ignore[attr-defined]
    return view


@bp.route("/lti/handoff", methods=["POST"])
@_mark_checks_own_token
def handoff_page() -> Response:
    """The new window: who is signing in, from which course; Continue binds it to this browser."""
    _same_origin_only()
    token = request.form.get("token", "")
    record = handoff.peek(token)
    if record is None:
        return _handoff_expired()
    bound = handoff.bind(token, record)
    resp = make_response(
        render_template(
            "launch/handoff_confirm.html",
            who=record["who"],
            role_names=handoff.role_names(record["who"]),
            token=token,
            bind=bound,
        )
    )
    resp.set_cookie(handoff.BIND_COOKIE, bound, **handoff.bind_cookie_kwargs())
    _not_framable(resp)
    return resp


@bp.route("/lti/handoff/confirm", methods=["POST"])
@_mark_checks_own_token
def handoff_confirm() -> Response:
    _same_origin_only()
    token = request.form.get("token", "")
    record = handoff.take(token, request.form.get("bind"), request.cookies.get(handoff.BIND_COOKIE))
    if record is None:
        if handoff.peek(token) is None:
            return _handoff_expired()
        _launch_failed("a handoff confirmation came without this browser's binding")
        raise LaunchError(
            "This confirmation did not come from the window that showed it.",
            status=403,
            hint="Go back to your course and open the activity again.",
        )
    deployment = db.session.get(Deployment, record["deployment_id"])
    if deployment is None or not deployment.active or not deployment.registration.active:
        db.session.commit()  # the handoff stays used
        _launch_failed("the handoff's deployment was removed or deactivated")
        raise LaunchError("The tool's registration for your learning platform was deactivated.", status=403)
    sess, target = _start_session(record["claims"], deployment, record["launch_id"])
    handoff.window_opened(record, sess.id)
    counters.count("handoff_completed")
    # First-party now: the cookie works, and the address carries no session id.
    resp = redirect(target, code=303)
    set_session_cookie(resp, sess)
    resp.delete_cookie(handoff.BIND_COOKIE, path=handoff.BIND_COOKIE_PATH)
    ids = (sess.user_id, deployment.id, sess.message_type)
    db.session.commit()
    log.info("launch ok through a new window: user=%s deployment=%s type=%s", *ids)
    return resp


@bp.route("/lti/handoff/here", methods=["POST"])
@_mark_checks_own_token
def handoff_here() -> Response:
    """The frame, once the browser granted it storage access: complete the verified launch right here."""
    _same_origin_only()
    if not handoff.framed_or_unknown():
        _launch_failed("an in-frame handoff was posted by a top-level window")
        raise LaunchError("This page only opens inside your course's page.", status=403)
    token = request.form.get("token", "")
    record = handoff.take_in_frame(token, request.form.get("ticket"))
    if record is None:
        if handoff.peek(token) is None:
            return _handoff_expired(framed=True)
        _launch_failed("an in-frame handoff came without the frame's ticket")
        raise LaunchError(
            "This page did not come from the tool's own button.",
            status=403,
            hint="Go back to your course and open the activity again.",
        )
    deployment = db.session.get(Deployment, record["deployment_id"])
    if deployment is None or not deployment.active or not deployment.registration.active:
        db.session.commit()  # the handoff stays used
        _launch_failed("the handoff's deployment was removed or deactivated")
        raise LaunchError("The tool's registration for your learning platform was deactivated.", status=403)
    sess, target = _start_session(record["claims"], deployment, record["launch_id"])
    counters.count("handoff_in_frame")
    # The cookie is granted, but a browser may still keep it from this frame: the token carries the session
    # on then (in a frame's address, which nobody sees or copies).
    resp = redirect(with_session_token(target, sess.id), code=303)
    set_session_cookie(resp, sess)
    ids = (sess.user_id, deployment.id, sess.message_type)
    db.session.commit()
    log.info("launch ok in the frame after storage access: user=%s deployment=%s type=%s", *ids)
    return resp


@bp.route("/lti/handoff/result", methods=["POST"])
@_mark_checks_own_token
def handoff_result() -> Response:
    """The frame asks how the new window got on (it holds the ticket): waiting, open, or the signed
    deep-linking response to post inside the platform's dialog (handed out once)."""
    if not handoff.same_origin_request():
        return make_response(jsonify({"state": "refused"}), 403)
    state = handoff.poll(request.form.get("ticket"))
    db.session.commit()
    resp = make_response(jsonify(state or {"state": "expired"}), 200 if state else 410)
    resp.headers["Cache-Control"] = "no-store"
    return resp

"""The demo platform's LTI Advantage services: OAuth2 token, AGS line items and scores, NRPS, and the
deep-linking return. They check what a strict LMS (Moodle) checks and record what the tool sends.

DEMO_AGS_PROFILE (config, LTI_TOOL_DEMO_AGS_PROFILE) makes the AGS endpoints answer as a real platform does
where it differs from the lenient default:
- "openedx", as lti-consumer-xblock's Django REST framework views: a token it does not accept is 403
  {"detail": "Invalid token signature."} (Lti1p3ApiAuthentication); a score whose timestamp is not later than
  the stored one is 400 {"timestamp": ["Score already exists for the provided timestamp"]} (or "... can only
  be updated to a later point in time", LtiAgsScoreSerializer.validate_timestamp); a line item label over 100
  characters is 400 (LtiAgsLineItem.label max_length=100); results list scores with a scoreGiven only and
  ignore a user_id query; a score is answered 201 with its JSON.
- "moodle", as mod/lti/service/gradebookservices: a score whose timestamp (in whole seconds) is not later than
  the stored grade's is 409 with the reason "Refusing score with an earlier timestamp for item N and user U"
  in the status line and no body.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import jwt
from flask import current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select, update
from werkzeug.wrappers import Response

from lti_tool.demo_platform import people
from lti_tool.demo_platform.models import DemoAccessToken, DemoDeepLink, DemoLineItem, DemoOutage, DemoScore
from lti_tool.demo_platform.placements import deep_linked_id
from lti_tool.demo_platform.routes import bp
from lti_tool.demo_platform.setup import demo_base, demo_issuer
from lti_tool.launch.keys import key_store
from lti_tool.launch.platform_keys import jwk_to_pem
from lti_tool.store.db import db, rowcount, utcnow

TOKEN_LIFETIME = 3600
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
KNOWN_SCOPES = {SCOPE_LINEITEM, SCOPE_LINEITEM_RO, SCOPE_SCORE, SCOPE_RESULT, SCOPE_NRPS}
ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
OPENEDX = "openedx"
MOODLE = "moodle"
OPENEDX_LABEL_LIMIT = 100


def profile() -> str:
    """Which real platform's AGS answers to imitate ("" for the lenient default)."""
    return str(current_app.config.get("DEMO_AGS_PROFILE") or "").lower()


def _drf_error(body: dict[str, Any], status: int) -> Response:
    """An error as Open edX's Django REST framework views send it."""
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    return resp


SERVICE_ENDPOINTS = frozenset(
    {"demo.token", "demo.lineitems", "demo.lineitem", "demo.scores", "demo.results", "demo.memberships"}
)


def simulate_outage(status: int = 503, count: int = 1, retry_after: int | None = None) -> None:
    """Make the next `count` service calls (token, AGS, NRPS) answer `status`, as an overloaded LMS does."""
    row = db.session.get(DemoOutage, 1) or DemoOutage(id=1)
    row.status, row.remaining, row.retry_after, row.updated_at = status, count, retry_after, utcnow()
    db.session.add(row)
    db.session.commit()


def token_requests() -> int:
    """How many access tokens the platform has issued (one per token request)."""
    return db.session.scalar(select(func.count()).select_from(DemoAccessToken)) or 0


@bp.before_request
def _outage() -> Response | None:
    if request.endpoint not in SERVICE_ENDPOINTS:
        return None
    # Decrement atomically so that concurrent calls use up the outage exactly once each.
    taken = db.session.execute(
        update(DemoOutage)
        .where(DemoOutage.id == 1, DemoOutage.remaining > 0)
        .values(remaining=DemoOutage.remaining - 1)
    )
    db.session.commit()
    if rowcount(taken) != 1:
        return None
    row = db.session.get(DemoOutage, 1)
    assert row is not None  # the update above just matched it
    resp = _oauth_error("temporarily_unavailable", "The demo platform is simulating an outage.", row.status)
    if row.retry_after is not None:
        resp.headers["Retry-After"] = str(row.retry_after)
    return resp


def _verify_tool_jwt(token: str, audience: str) -> dict[str, Any]:
    """Check a JWT the tool signed against the keys the tool publishes."""
    header = jwt.get_unverified_header(token)
    keys = {k["kid"]: k for k in key_store().jwks()["keys"]}
    if header.get("kid") not in keys:
        raise jwt.InvalidTokenError("unknown kid")
    return jwt.decode(token, jwk_to_pem(keys[header["kid"]]), algorithms=["RS256"], audience=audience, leeway=60)


@bp.route("/token", methods=["POST"])
def token() -> Response:
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "Only client_credentials is supported.")
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        return _oauth_error("invalid_request", "client_assertion_type must be jwt-bearer.")
    try:
        claims = _verify_tool_jwt(form.get("client_assertion", ""), demo_base() + url_for("demo.token"))
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        return _oauth_error("invalid_client", f"client_assertion rejected: {exc}", 401)
    if claims.get("iss") != people.CLIENT_ID or claims.get("sub") != people.CLIENT_ID:
        return _oauth_error("invalid_client", "client_assertion iss/sub must be the client_id.", 401)
    scopes = [s for s in form.get("scope", "").split() if s in KNOWN_SCOPES]
    if not scopes:
        return _oauth_error("invalid_scope", "No known scope requested.")
    row = DemoAccessToken(
        token=secrets.token_urlsafe(32),
        client_id=people.CLIENT_ID,
        scopes=scopes,
        expires_at=utcnow() + dt.timedelta(seconds=TOKEN_LIFETIME),
    )
    db.session.add(row)
    db.session.commit()
    return jsonify(
        {"access_token": row.token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "scope": " ".join(scopes)}
    )


def _require_scope(*accepted: str) -> Response | None:
    openedx = profile() == OPENEDX
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        if openedx:
            return _drf_error({"detail": "Missing LTI 1.3 authentication token."}, 403)
        return _oauth_error("invalid_token", "Bearer token required.", 401)
    row = db.session.get(DemoAccessToken, auth[7:])
    if row is None or row.expires_at < utcnow():
        if openedx:  # DRF answers an authentication failure without WWW-Authenticate with 403
            return _drf_error({"detail": "Invalid token signature."}, 403)
        return _oauth_error("invalid_token", "Unknown or expired access token.", 401)
    if not set(accepted) & set(row.scopes):
        if openedx:
            return _drf_error({"detail": "You do not have permission to perform this action."}, 403)
        return _oauth_error("insufficient_scope", "The token lacks the scope for this service.", 403)
    return None


def _lineitem_json(item: DemoLineItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": demo_base() + url_for("demo.lineitem", context_id=item.context_id, item_id=item.id),
        "label": item.label,
        "scoreMaximum": item.score_maximum,
    }
    for key, value in (("resourceLinkId", item.resource_link_id), ("resourceId", item.resource_id), ("tag", item.tag)):
        if value:
            data[key] = value
    return data


@bp.route("/ags/<context_id>/lineitems", methods=["GET", "POST"])
def lineitems(context_id: str) -> Response:
    if request.method == "GET":
        denied = _require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_RO)
        if denied:
            return denied
        query = select(DemoLineItem).where(DemoLineItem.context_id == context_id)
        for param, column in (
            ("resource_link_id", DemoLineItem.resource_link_id),
            ("resource_id", DemoLineItem.resource_id),
            ("tag", DemoLineItem.tag),
        ):
            if request.args.get(param):
                query = query.where(column == request.args[param])
        items = db.session.scalars(query.order_by(DemoLineItem.id))
        resp = jsonify([_lineitem_json(i) for i in items])
        resp.mimetype = "application/vnd.ims.lis.v2.lineitemcontainer+json"
        return resp
    denied = _require_scope(SCOPE_LINEITEM)
    if denied:
        return denied
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("label"), str) or not body["label"].strip():
        return _oauth_error("invalid_request", "A line item needs a label.")
    if not isinstance(body.get("scoreMaximum"), int | float) or body["scoreMaximum"] <= 0:
        return _oauth_error("invalid_request", "A line item needs a positive scoreMaximum.")
    if profile() == OPENEDX and len(body["label"]) > OPENEDX_LABEL_LIMIT:
        return _drf_error({"label": [f"Ensure this field has no more than {OPENEDX_LABEL_LIMIT} characters."]}, 400)
    item = DemoLineItem(
        context_id=context_id,
        label=body["label"],
        score_maximum=float(body["scoreMaximum"]),
        resource_link_id=body.get("resourceLinkId"),
        resource_id=body.get("resourceId"),
        tag=body.get("tag"),
    )
    db.session.add(item)
    db.session.commit()
    resp = jsonify(_lineitem_json(item))
    resp.status_code = 201
    resp.mimetype = "application/vnd.ims.lis.v2.lineitem+json"
    return resp


def _item_or_404(context_id: str, item_id: int) -> DemoLineItem | None:
    item = db.session.get(DemoLineItem, item_id)
    return item if item is not None and item.context_id == context_id else None


@bp.route("/ags/<context_id>/lineitems/<int:item_id>", methods=["GET"])
def lineitem(context_id: str, item_id: int) -> Response:
    denied = _require_scope(SCOPE_LINEITEM, SCOPE_LINEITEM_RO)
    if denied:
        return denied
    item = _item_or_404(context_id, item_id)
    if item is None:
        return _oauth_error("not_found", "No such line item.", 404)
    return jsonify(_lineitem_json(item))


def validate_score(body: Any) -> str | None:
    """What Moodle refuses with 400, as a message; None when the score is acceptable."""
    if not isinstance(body, dict):
        return "The score must be a JSON object."
    for field in ("userId", "timestamp", "activityProgress", "gradingProgress"):
        if not body.get(field):
            return f"The score lacks {field}."
    try:
        dt.datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00"))
    except ValueError:
        return "The score timestamp is not ISO 8601."
    if body["activityProgress"] not in ACTIVITY:
        return "Unknown activityProgress."
    if body["gradingProgress"] not in GRADING:
        return "Unknown gradingProgress."
    if "scoreGiven" in body:
        if not isinstance(body.get("scoreMaximum"), int | float):
            return "scoreGiven needs scoreMaximum."
        if not isinstance(body["scoreGiven"], int | float) or body["scoreGiven"] < 0:
            return "scoreGiven must be a non-negative number."
    return None


@bp.route("/ags/<context_id>/lineitems/<int:item_id>/scores", methods=["POST"])
def scores(context_id: str, item_id: int) -> Response:
    denied = _require_scope(SCOPE_SCORE)
    if denied:
        return denied
    item = _item_or_404(context_id, item_id)
    if item is None:
        return _oauth_error("not_found", "No such line item.", 404)
    body = request.get_json(silent=True)
    problem = validate_score(body)
    if problem:
        return _oauth_error("invalid_request", problem)
    assert isinstance(body, dict)  # validate_score refuses anything else
    refused = _refuse_stale(item, body)
    if refused is not None:
        return refused
    db.session.add(DemoScore(line_item_id=item.id, user_id=str(body["userId"]), payload=body))
    db.session.commit()
    if profile() == OPENEDX:
        return _drf_error(body, 201)  # the saved score's JSON, as LtiAgsLineItemViewset.scores answers
    return Response(status=204)


def _stamp(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _refuse_stale(item: DemoLineItem, body: dict[str, Any]) -> Response | None:
    """Open edX's and Moodle's refusal of a score that is not later than the learner's stored one."""
    if profile() not in (OPENEDX, MOODLE):
        return None
    held = latest_scores(item.id).get(str(body["userId"]))
    if held is None:
        return None
    stored, sent = _stamp(held.payload["timestamp"]), _stamp(body["timestamp"])
    if profile() == OPENEDX:
        if stored > sent:
            return _drf_error({"timestamp": ["Score timestamp can only be updated to a later point in time"]}, 400)
        if stored == sent:
            return _drf_error({"timestamp": ["Score already exists for the provided timestamp"]}, 400)
        return None
    if int(stored.timestamp()) >= int(sent.timestamp()):  # Moodle's timemodified is whole seconds
        reason = f"Refusing score with an earlier timestamp for item {item.id} and user {body['userId']}"
        return Response(status=f"409 {reason}")
    return None


@bp.route("/ags/<context_id>/lineitems/<int:item_id>/results", methods=["GET"])
def results(context_id: str, item_id: int) -> Response:
    denied = _require_scope(SCOPE_RESULT)
    if denied:
        return denied
    item = _item_or_404(context_id, item_id)
    if item is None:
        return _oauth_error("not_found", "No such line item.", 404)
    out = []
    wanted = request.args.get("user_id") if profile() != OPENEDX else None  # Open edX reads it from the path only
    for score in latest_scores(item.id).values():
        p = score.payload
        if wanted is not None and score.user_id != wanted:
            continue
        if profile() == OPENEDX and p.get("scoreGiven") is None:
            continue  # Open edX: line_item.scores.filter(score_given__isnull=False)
        out.append(
            {
                "userId": score.user_id,
                "resultScore": p.get("scoreGiven"),
                "resultMaximum": p.get("scoreMaximum"),
                "comment": p.get("comment"),
                "scoreOf": _lineitem_json(item)["id"],
            }
        )
    return jsonify(out)


def latest_scores(item_id: int) -> dict[str, DemoScore]:
    """The gradebook keeps, per user, the score with the latest timestamp (as AGS requires)."""
    latest: dict[str, DemoScore] = {}
    for score in db.session.scalars(select(DemoScore).where(DemoScore.line_item_id == item_id).order_by(DemoScore.id)):
        current = latest.get(score.user_id)
        if current is None or str(score.payload["timestamp"]) >= str(current.payload["timestamp"]):
            latest[score.user_id] = score
    return latest


def _member(u: people.DemoUser) -> dict[str, Any]:
    return {
        "status": "Active",
        "user_id": u.sub,
        "name": u.name,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "email": u.email,
        "roles": list(u.roles),
    }


@bp.route("/nrps/<context_id>/memberships")
def memberships(context_id: str) -> Response:
    denied = _require_scope(SCOPE_NRPS)
    if denied:
        return denied
    if context_id != people.COURSE_ID:
        return _oauth_error("not_found", "No such context.", 404)
    members = [_member(u) for u in people.all_members()]
    try:
        limit = max(1, min(int(request.args.get("limit", 100)), 1000))
        offset = max(0, int(request.args.get("offset", 0)))
    except ValueError:
        return _oauth_error("invalid_request", "limit and offset must be numbers.")
    page = members[offset : offset + limit]
    resp = jsonify(
        {
            "id": request.base_url,
            "context": {"id": context_id, "label": people.COURSE_LABEL, "title": people.COURSE_TITLE},
            "members": page,
        }
    )
    resp.mimetype = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    if offset + limit < len(members):
        nxt = demo_base() + url_for("demo.memberships", context_id=context_id, limit=limit, offset=offset + limit)
        resp.headers["Link"] = f'<{nxt}>; rel="next"'
    return resp


@bp.route("/deep_link_return", methods=["POST"])
def deep_link_return() -> Response | str:
    token = request.form.get("JWT", "")
    try:
        claims = _verify_tool_jwt(token, demo_issuer())
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        return _oauth_error("invalid_request", f"Deep linking response rejected: {exc}")
    items = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items") or []
    if not isinstance(items, list):
        return _oauth_error("invalid_request", "content_items must be a list.")
    if request.args.get("moodle"):
        # Moodle's contentitem_return.php only hands the choice to the activity form around its dialog
        # (parent.processContentItemReturnData); the activity exists once the teacher saves that form.
        return render_template("demo/moodle_contentitem_return.html", items=items, token=token)
    row = DemoDeepLink(items=items, message=str(claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/msg", "")))
    db.session.add(row)
    db.session.flush()
    for index, item in enumerate(items):
        # Like Moodle: a resource link's lineItem becomes a gradebook column linked to the new activity.
        line = item.get("lineItem") if isinstance(item, dict) and item.get("type") == "ltiResourceLink" else None
        if isinstance(line, dict) and isinstance(line.get("scoreMaximum"), int | float) and line["scoreMaximum"] > 0:
            db.session.add(
                DemoLineItem(
                    context_id=people.COURSE_ID,
                    label=str(line.get("label") or item.get("title") or "Activity"),
                    score_maximum=float(line["scoreMaximum"]),
                    resource_id=line.get("resourceId"),
                    tag=line.get("tag"),
                    resource_link_id=deep_linked_id(row.id, index),
                )
            )
    db.session.commit()
    teacher = people.user(request.form.get("moodle_course", ""))
    if teacher is not None:  # Moodle's "Save and return to course"
        return redirect(url_for("demo.moodle_course", sub=teacher.sub), code=303)
    return render_template("demo/deep_link_return.html", items=items, message=row.message)


@bp.route("/gradebook")
def gradebook() -> str:
    items = list(db.session.scalars(select(DemoLineItem).order_by(DemoLineItem.id)))
    rows = {item.id: latest_scores(item.id) for item in items}
    names = {u.sub: u.name for u in people.USERS}
    total = db.session.scalar(select(func.count()).select_from(DemoScore)) or 0
    outage = db.session.get(DemoOutage, 1)
    return render_template(
        "demo/gradebook.html", items=items, rows=rows, names=names, total=total, tokens=token_requests(), outage=outage
    )


@bp.route("/outage", methods=["POST"])
def outage() -> Response:
    """The demo's switch for trying grade delivery retries: the next N service calls fail."""
    try:
        count = max(0, min(int(request.form.get("count", "0")), 1000))
        status = int(request.form.get("status", "503"))
    except ValueError:
        return _oauth_error("invalid_request", "count and status must be numbers.")
    if status not in (429, 500, 502, 503, 504):
        return _oauth_error("invalid_request", "status must be 429 or a 5xx.")
    simulate_outage(status, count, 30 if status == 429 else None)
    return redirect(url_for("demo.gradebook"), code=303)

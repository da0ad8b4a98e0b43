"""Console pages for the tool's signing keys: rotate, and retire old keys once platforms have refreshed."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from lti_tool.admin import bp
from lti_tool.admin.access import admin_who, back_to
from lti_tool.admin.registrations import page
from lti_tool.launch.keys import KeyStoreError, key_store
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound, UserError


@bp.route("/keys")
def keys() -> tuple[str, int]:
    active = key_store().active_keys()
    return page("admin/keys.html", "keys", keys=list(reversed(active)), signing=active[-1] if active else None)


@bp.route("/keys/rotate", methods=["POST"])
def key_rotate() -> Response:
    key = key_store().rotate()
    admin_who().record("key.rotate", subject_type="tool_key", subject_id=key.kid, after={"signing": key.kid})
    db.session.commit()
    return back_to("admin.keys", "key-rotated")


@bp.route("/keys/<kid>/retire", methods=["GET", "POST"])
def key_retire(kid: str) -> tuple[str, int] | Response:
    store = key_store()
    active = store.active_keys()
    key = next((k for k in active if k.kid == kid), None)
    if key is None:
        raise NotFound("There is no published key with that ID (it may already be retired).")
    if request.method == "GET":
        return page("admin/key_retire.html", "keys", key=key, is_signing=key is active[-1])
    try:
        store.retire(kid)
    except KeyStoreError as exc:
        raise UserError(str(exc), status=409, title="Cannot retire this key") from exc
    admin_who().record(
        "key.retire", subject_type="tool_key", subject_id=kid, before={"published": True}, after={"published": False}
    )
    db.session.commit()
    return back_to("admin.keys", "key-retired")

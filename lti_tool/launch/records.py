"""What a verified launch tells us, written down: user, course, placement and roles.

A returning learner's rows are read in one query and written only when the launch says something new: a
name, title, role or service address that changed. The time of the last launch (`last_seen_at`,
`last_launch_at`) is kept to LAST_LAUNCH_RESOLUTION: within it, a launch that changes nothing writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Integer, and_, bindparam, select
from sqlalchemy.exc import IntegrityError

from lti_tool.launch.models import Deployment, LtiContext, LtiUser, Membership, ResourceLink
from lti_tool.store.db import db, utcnow

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

T = TypeVar("T")
_queries: dict[tuple[Any, ...], Any] = {}  # statements only (no data): the same for every app
# How precisely the last launch's time is kept: a returning learner's launch within it updates no row.
LAST_LAUNCH_RESOLUTION = dt.timedelta(minutes=10)
# A condition on LtiUser (and the other rows of a returning learner's launch) read with them in their one query.
Guard = Callable[[], ColumnElement[bool]]


@dataclass
class LaunchRecord:
    user: LtiUser
    context: LtiContext | None
    resource_link: ResourceLink | None
    roles: list[str]
    # The guards' values, read with a returning learner's rows; None when some row was new (nothing was read).
    guards: tuple[bool, ...] | None = None


def _get_or_create(model: type[T], lookup: dict[str, Any], update: Callable[[T], None], known: T | None = None) -> T:
    """Select-or-insert that survives two first launches racing (unique constraint + savepoint)."""
    # The statement is built only when a row must be looked up: a returning learner's rows come known, and
    # building it cost more than the rest of this function.
    row = known if known is not None else db.session.scalar(select(model).filter_by(**lookup))
    if row is None:
        try:
            with db.session.begin_nested():
                row = model(**lookup)
                update(row)
                db.session.add(row)
            return row
        except IntegrityError:
            row = db.session.scalar(select(model).filter_by(**lookup))
            assert row is not None
    update(row)
    return row


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _known_rows(claims: Mapping[str, Any], deployment: Deployment, guards: Sequence[Guard] = ()) -> tuple[Any, ...]:
    """A returning learner in a known course and placement (most launches): all four rows in one query
    instead of four, with the guards' values. Empty when any of them is new or the launch names no course or
    placement."""
    ctx_claim = claims.get(CLAIM + "context")
    link_claim = claims.get(CLAIM + "resource_link")
    if not (
        isinstance(ctx_claim, dict) and ctx_claim.get("id") and isinstance(link_claim, dict) and link_claim.get("id")
    ):
        return ()
    params = {
        "deployment": deployment.id,
        "context": str(ctx_claim["id"]),
        "link": str(link_claim["id"]),
        "issuer": claims["iss"],
        "sub": str(claims["sub"]),
    }
    row = db.session.execute(_known_rows_query(tuple(guards)), params).first()
    return tuple(row) if row else ()


def _known_rows_query(guards: tuple[Guard, ...]) -> Any:
    """Built once per set of guards (building the statement cost more than running it)."""
    built = _queries.get(guards)
    if built is None:
        deployment: BindParameter[int] = bindparam("deployment", type_=Integer)
        built = (
            select(LtiUser, LtiContext, ResourceLink, Membership, *(guard() for guard in guards))
            .select_from(LtiUser)
            .join(
                LtiContext,
                and_(LtiContext.deployment_id == deployment, LtiContext.context_id == bindparam("context")),
            )
            .join(
                ResourceLink,
                and_(ResourceLink.deployment_id == deployment, ResourceLink.resource_link_id == bindparam("link")),
            )
            .join(Membership, and_(Membership.user_id == LtiUser.id, Membership.context_id == LtiContext.id))
            .where(LtiUser.issuer == bindparam("issuer"), LtiUser.sub == bindparam("sub"))
        )
        _queries[guards] = built
    return built


def _set(row: Any, field: str, value: Any) -> None:
    """Set only a changed value: an equal one would still mark the row for the flush's bookkeeping."""
    if getattr(row, field) != value:
        setattr(row, field, value)


def _stale(when: dt.datetime | None) -> bool:
    return when is None or utcnow() - when >= LAST_LAUNCH_RESOLUTION


def record_launch(claims: Mapping[str, Any], deployment: Deployment, guards: Sequence[Guard] = ()) -> LaunchRecord:
    """Write what the launch says. `guards` are read with a returning learner's rows (LaunchRecord.guards)."""
    roles = [r for r in claims.get(CLAIM + "roles") or [] if isinstance(r, str)]
    known = _known_rows(claims, deployment, guards)
    known_user, known_context, known_link, known_membership = known[:4] or (None,) * 4
    guard_values = tuple(bool(v) for v in known[4:]) if known else None

    def update_user(u: LtiUser) -> None:
        for field, limit in (("name", 300), ("given_name", 200), ("family_name", 200), ("email", 320)):
            if claims.get(field):
                _set(u, field, _text(claims.get(field), limit))
        presentation = claims.get(CLAIM + "launch_presentation")
        if isinstance(presentation, dict) and presentation.get("locale"):
            _set(u, "locale", _text(presentation.get("locale"), 35))
        if _stale(u.last_seen_at):
            u.last_seen_at = utcnow()

    user = _get_or_create(LtiUser, {"issuer": claims["iss"], "sub": str(claims["sub"])}, update_user, known_user)

    context = None
    ctx_claim = claims.get(CLAIM + "context")
    nrps = claims.get(NRPS_CLAIM) or {}
    if isinstance(ctx_claim, dict) and ctx_claim.get("id"):

        def update_context(c: LtiContext) -> None:
            _set(c, "title", _text(ctx_claim.get("title"), 500) or c.title or "")
            _set(c, "label", _text(ctx_claim.get("label"), 255) or c.label or "")
            if isinstance(nrps, dict) and nrps.get("context_memberships_url"):
                _set(c, "nrps_url", _text(nrps["context_memberships_url"], 1000))

        context = _get_or_create(
            LtiContext,
            {"deployment_id": deployment.id, "context_id": str(ctx_claim["id"])},
            update_context,
            known_context,
        )

    link = None
    link_claim = claims.get(CLAIM + "resource_link")
    ags = claims.get(AGS_CLAIM) or {}
    if isinstance(link_claim, dict) and link_claim.get("id"):

        def update_link(r: ResourceLink) -> None:
            _set(r, "context_id", context.id if context else r.context_id)
            _set(r, "title", _text(link_claim.get("title"), 500) or r.title or "")
            custom = claims.get(CLAIM + "custom")
            if isinstance(custom, dict):
                _set(r, "custom", {str(k): str(v) for k, v in custom.items()})
            if isinstance(ags, dict) and ags:
                _set(r, "ags_lineitems_url", _text(ags.get("lineitems"), 1000) or r.ags_lineitems_url)
                _set(r, "ags_lineitem_url", _text(ags.get("lineitem"), 1000) or r.ags_lineitem_url)
                scopes = ags.get("scope")
                if isinstance(scopes, list):
                    _set(r, "ags_scopes", [s for s in scopes if isinstance(s, str)])

        link = _get_or_create(
            ResourceLink,
            {"deployment_id": deployment.id, "resource_link_id": str(link_claim["id"])},
            update_link,
            known_link,
        )

    if context is not None:

        def update_membership(m: Membership) -> None:
            if m.roles != roles or _stale(m.last_launch_at):
                m.roles = roles
                m.last_launch_at = utcnow()

        _get_or_create(Membership, {"user_id": user.id, "context_id": context.id}, update_membership, known_membership)

    return LaunchRecord(user=user, context=context, resource_link=link, roles=roles, guards=guard_values)

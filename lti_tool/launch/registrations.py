"""Rules for platform registrations and deployments, shared by the CLI, the admin console and dynamic
registration: input checks, duplicates, (de)activation, and refusing to delete what launches used."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lti_tool.audit.actor import Actor
from lti_tool.launch.models import Deployment, LtiContext, Registration, ResourceLink, ToolSession
from lti_tool.store.db import db
from lti_tool.web.errors import N_, UserError

if TYPE_CHECKING:  # a type only: launch may not import identity (ARCHITECTURE.md)
    from lti_tool.identity.partners import Partner

MAX_URL_CHARS = 1000  # the URL columns of a registration


class RegistrationError(UserError):
    title = "Registration refused"


def check_url(value: str | None, field: str, *, required: bool = True) -> str | None:
    """`field`: the form field's name, in English and marked N_ (the refusal says it in the page's language)."""
    value = (value or "").strip()
    name = gettext(field)
    if not value:
        if required:
            raise RegistrationError(gettext("%(field)s is required.", field=name))
        return None
    if len(value) > MAX_URL_CHARS or "\x00" in value:
        raise RegistrationError(
            gettext(
                "%(field)s is longer than %(max)s characters or contains a NUL character.",
                field=name,
                max=MAX_URL_CHARS,
            )
        )
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistrationError(gettext("%(field)s: '%(value)s' is not an http(s) URL.", field=name, value=value))
    return value


def check_text(value: str | None, field: str, limit: int) -> str:
    """`field` as for check_url."""
    value = (value or "").strip()
    name = gettext(field)
    if not value:
        raise RegistrationError(gettext("%(field)s is required.", field=name))
    if len(value) > limit:
        raise RegistrationError(gettext("%(field)s is longer than %(max)s characters.", field=name, max=limit))
    if "\x00" in value:
        raise RegistrationError(gettext("%(field)s contains a NUL character.", field=name))
    return value


def registration_summary(reg: Registration) -> dict[str, Any]:
    return {
        "issuer": reg.issuer,
        "client_id": reg.client_id,
        "name": reg.name,
        "active": reg.active,
        "deployments": [d.deployment_id for d in reg.deployments],
    }


WAITING_LISTENERS = "lti_tool.registration_waiting_listeners"
WaitingListener = Callable[[Registration], object]


def add_waiting_listener(app: Flask, listener: WaitingListener) -> None:
    """Have listener(registration) called, in its transaction, when a platform registers itself and waits
    for a tool administrator to activate it (create_app: the administrators' notification)."""
    listeners: list[WaitingListener] = app.extensions.setdefault(WAITING_LISTENERS, [])
    if listener not in listeners:
        listeners.append(listener)


def announce_waiting(reg: Registration) -> None:
    for listener in list(current_app.extensions.get(WAITING_LISTENERS, ())):
        listener(reg)


def find_registration(issuer: str, client_id: str) -> Registration | None:
    return db.session.scalar(
        select(Registration).where(Registration.issuer == issuer, Registration.client_id == client_id)
    )


def create_registration(
    who: Actor,
    *,
    issuer: str,
    client_id: str,
    login_url: str,
    token_url: str,
    jwks_url: str,
    audience: str | None = None,
    name: str = "",
    deployment_ids: Iterable[str] = (),
    active: bool = True,
    partner: Partner | None = None,
    action: str = "registration.create",
) -> Registration:
    """Add a registration (and its deployments) in the caller's transaction; duplicates are refused."""
    issuer = check_text(issuer, N_("Issuer"), 500)
    check_url(issuer, N_("Issuer"))
    client_id = check_text(client_id, N_("Client ID"), 255)
    deployment_ids = [
        check_text(d, N_("Deployment ID"), 255)
        for d in dict.fromkeys(d.strip() for d in deployment_ids if d and d.strip())
    ]
    reg = Registration(
        issuer=issuer,
        client_id=client_id,
        name=(name or "").strip()[:200],
        auth_login_url=check_url(login_url, N_("Login (authentication request) URL")),
        auth_token_url=check_url(token_url, N_("Access token URL")),
        key_set_url=check_url(jwks_url, N_("Keyset (JWKS) URL")),
        auth_audience=check_url(audience, N_("Token audience"), required=False),
        active=active,
    )
    if find_registration(issuer, client_id) is not None:
        raise duplicate_error(issuer, client_id)
    reg.deployments = [Deployment(deployment_id=d, partner=partner) for d in deployment_ids]
    try:
        with db.session.begin_nested():
            db.session.add(reg)
    except IntegrityError as exc:  # a concurrent registration of the same pair won
        raise duplicate_error(issuer, client_id) from exc
    who.record(action, subject=reg, after={**registration_summary(reg), "partner": partner.slug if partner else None})
    return reg


@dataclass
class RegistrationUpdate:
    """What re-registering changed: fields as (before, after), and the deployment IDs added."""

    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    added_deployments: list[str] = field(default_factory=list)


def update_registration(
    who: Actor,
    reg: Registration,
    *,
    login_url: str,
    token_url: str,
    jwks_url: str,
    audience: str | None = None,
    deployment_ids: Iterable[str] = (),
    partner: Partner | None = None,
    activate: bool = False,
    action: str = "registration.update",
    details: dict[str, Any] | None = None,
) -> RegistrationUpdate:
    """Bring a registration up to date with what its platform says now, in the caller's transaction, audited.

    For a platform that registers the tool again under the same client ID (Moodle's "Update" of a tool it
    already has): its endpoints and keyset URL may have changed, and it may name a new deployment. Nothing is
    removed: deployments, partner, name and launch records stay; the registration stays (in)active unless
    `activate` (a tool admin's invite) says otherwise.
    """
    new = {
        "auth_login_url": check_url(login_url, N_("Login (authentication request) URL")),
        "auth_token_url": check_url(token_url, N_("Access token URL")),
        "key_set_url": check_url(jwks_url, N_("Keyset (JWKS) URL")),
        "auth_audience": check_url(audience, N_("Token audience"), required=False),
    }
    result = RegistrationUpdate()
    for name, value in new.items():
        if getattr(reg, name) != value:
            result.changes[name] = (getattr(reg, name), value)
            setattr(reg, name, value)
    if reg.key_set is not None:
        # A pasted keyset would keep answering for the platform's keys: its keyset URL is now the truth.
        result.changes["key_set"] = ("pasted keyset", None)
        reg.key_set = None
    if activate and not reg.active:
        result.changes["active"] = (False, True)
        reg.active = True
    for deployment_id in dict.fromkeys(d.strip() for d in deployment_ids if d and d.strip()):
        if not any(d.deployment_id == deployment_id for d in reg.deployments):
            reg.deployments.append(
                Deployment(deployment_id=check_text(deployment_id, N_("Deployment ID"), 255), partner=partner)
            )
            result.added_deployments.append(deployment_id)
    db.session.flush()
    who.record(
        action,
        subject=reg,
        before={name: before for name, (before, _) in result.changes.items()},
        after={
            **{name: after for name, (_, after) in result.changes.items()},
            "deployments_added": result.added_deployments,
            **(details or {}),
        },
    )
    return result


def duplicate_error(issuer: str, client_id: str) -> RegistrationError:
    return RegistrationError(
        gettext(
            "A registration for issuer '%(issuer)s' with client ID '%(client_id)s' already exists.",
            issuer=issuer,
            client_id=client_id,
        ),
        status=409,
        hint="Use the existing registration (add a deployment to it), or remove it first if it is obsolete.",
    )


def set_registration_active(who: Actor, reg: Registration, active: bool) -> None:
    if reg.active == active:
        return
    reg.active = active
    who.record(
        "registration.activate" if active else "registration.deactivate",
        subject=reg,
        before={"active": not active},
        after={"active": active},
    )


def set_deployment_active(who: Actor, dep: Deployment, active: bool) -> None:
    if dep.active == active:
        return
    dep.active = active
    who.record(
        "deployment.activate" if active else "deployment.deactivate",
        subject=dep,
        before={"active": not active},
        after={"active": active},
    )


def add_deployment(who: Actor, reg: Registration, deployment_id: str, partner: Partner | None = None) -> Deployment:
    deployment_id = check_text(deployment_id, N_("Deployment ID"), 255)
    if any(d.deployment_id == deployment_id for d in reg.deployments):
        raise RegistrationError(
            gettext(
                "Deployment '%(deployment)s' is already registered for %(registration)s.",
                deployment=deployment_id,
                registration=reg.label(),
            ),
            status=409,
        )
    dep = Deployment(deployment_id=deployment_id, partner=partner)
    reg.deployments.append(dep)
    db.session.flush()
    who.record(
        "deployment.create",
        subject=dep,
        after={"registration": reg.id, "deployment_id": deployment_id, "partner": partner.slug if partner else None},
    )
    return dep


def launch_record_count(deployment_ids: list[int]) -> int:
    """Courses, placements and sessions that launches created for these deployments."""
    if not deployment_ids:
        return 0
    total = 0
    for model in (LtiContext, ResourceLink, ToolSession):
        total += (
            db.session.scalar(select(func.count()).select_from(model).where(model.deployment_id.in_(deployment_ids)))
            or 0
        )
    return total


class InUse(RegistrationError):
    status = 409
    title = "Cannot delete"

    def __init__(self, what: str) -> None:
        """`what`: the registration or deployment, named in the page's language."""
        super().__init__(
            gettext(
                "%(what)s has been used for launches; its launch records (courses, placements, portfolios) depend "
                "on it, so it cannot be deleted.",
                what=what,
            ),
            hint="Deactivate it instead: launches are then refused and every record is kept.",
        )


def delete_registration(who: Actor, reg: Registration) -> None:
    if launch_record_count([d.id for d in reg.deployments]):
        raise InUse(gettext("The registration %(registration)s", registration=reg.label()))
    who.record("registration.delete", subject=reg, before=registration_summary(reg))
    db.session.delete(reg)
    db.session.flush()


def delete_deployment(who: Actor, dep: Deployment) -> None:
    if launch_record_count([dep.id]):
        raise InUse(gettext("Deployment '%(deployment)s'", deployment=dep.deployment_id))
    who.record(
        "deployment.delete",
        subject=dep,
        before={"registration": dep.registration_id, "deployment_id": dep.deployment_id},
    )
    dep.registration.deployments.remove(dep)
    db.session.flush()

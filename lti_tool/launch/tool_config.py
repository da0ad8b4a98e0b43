"""pylti1p3 tool configuration read from the registration tables (not a JSON file).

Registrations and deployments are read at every login and launch and change rarely: each process keeps
them in memory for LTI_TOOL_LAUNCH_CACHE_SECONDS (store/memo.py). A registration or deployment deactivated,
removed or changed in this process takes effect here at once; in other processes within that many seconds.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from pylti1p3.deployment import Deployment as PyltiDeployment
from pylti1p3.registration import Registration as PyltiRegistration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select

from lti_tool.launch.errors import LaunchError
from lti_tool.launch.keys import key_store
from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db
from lti_tool.store.memo import Memo, attached_row, row_values
from lti_tool.web.errors import N_

REGISTER_HINT = N_(
    "The LMS administrator must register this platform with the tool first "
    "(see the tool's configuration page), using the same issuer and client ID."
)
CACHE_SECONDS = "LAUNCH_CACHE_SECONDS"
_registrations: Memo[list[dict[str, Any]]] = Memo("registrations", (Registration, Deployment), CACHE_SECONDS)
_deployments: Memo[dict[str, Any] | None] = Memo("deployments", (Registration, Deployment), CACHE_SECONDS)


def _registration_rows(issuer: str, client_id: str | None) -> list[Registration]:
    def load() -> list[dict[str, Any]]:
        query = select(Registration).where(Registration.issuer == issuer)
        if client_id:
            query = query.where(Registration.client_id == client_id)
        return [row_values(r) for r in db.session.scalars(query.order_by(Registration.id))]

    return [attached_row(Registration, values) for values in _registrations.get((issuer, client_id or None), load)]


def find_registration_row(issuer: str, client_id: str | None) -> Registration:
    """The active registration for issuer (+ client_id), or a LaunchError that says why not."""
    if not issuer:
        raise LaunchError("The request names no platform issuer ('iss').")
    rows = _registration_rows(issuer, client_id)
    if not rows:
        raise LaunchError(
            gettext(
                "The tool has no registration for issuer '%(issuer)s' with client ID '%(client_id)s'.",
                issuer=issuer,
                client_id=client_id,
            )
            if client_id
            else gettext("The tool has no registration for issuer '%(issuer)s'.", issuer=issuer),
            status=403,
            hint=gettext(REGISTER_HINT),
        )
    if len(rows) > 1:
        active = [r for r in rows if r.active]
        if len(active) != 1:
            raise LaunchError(
                gettext(
                    "Several registrations exist for issuer '%(issuer)s' and the platform sent no client_id to "
                    "choose between them.",
                    issuer=issuer,
                ),
                hint="Configure the platform to send client_id on login.",
            )
        rows = active
    row = rows[0]
    if not row.active:
        raise LaunchError(
            gettext("The registration for %(registration)s is deactivated.", registration=row.label()),
            status=403,
            hint="A tool administrator must activate the registration before launches work.",
        )
    return row


def find_deployment_row(registration: Registration, deployment_id: str) -> Deployment:
    def load() -> dict[str, Any] | None:
        row = db.session.scalar(
            select(Deployment).where(
                Deployment.registration_id == registration.id, Deployment.deployment_id == deployment_id
            )
        )
        return row_values(row) if row is not None else None

    values = _deployments.get((registration.id, deployment_id), load)
    dep = attached_row(Deployment, values) if values is not None else None
    if dep is None:
        raise LaunchError(
            gettext(
                "Deployment '%(deployment)s' is not registered for %(registration)s.",
                deployment=deployment_id,
                registration=registration.label(),
            ),
            status=403,
            hint="Add this deployment ID to the tool's registration for the platform.",
        )
    if not dep.active:
        raise LaunchError(
            gettext("Deployment '%(deployment)s' is deactivated.", deployment=deployment_id),
            status=403,
            hint="A tool administrator must activate the deployment.",
        )
    return dep


def to_pylti_registration(row: Registration) -> PyltiRegistration:
    key = key_store().signing_key()
    reg = (
        PyltiRegistration()
        .set_issuer(row.issuer)
        .set_client_id(row.client_id)
        .set_auth_login_url(row.auth_login_url)
        .set_auth_token_url(row.auth_token_url)
        .set_key_set_url(row.key_set_url)
        # pylti1p3's TKeySet demands 'kid' and 'alg' on every key; a JWKS may leave 'alg' out.
        .set_key_set(row.key_set)  # type: ignore[arg-type]
        # The loaded key, not its PEM: PyJWT would parse and validate the PEM again for every token it signs.
        .set_tool_private_key(key.private_key)
        .set_tool_public_key(key.public_pem)
    )
    if row.auth_audience:
        reg.set_auth_audience(row.auth_audience)
    reg.row_id = row.id  # type: ignore[attr-defined]
    return reg


class DbToolConf(ToolConfAbstract):
    """Every issuer may have many client IDs (Open edX gives one per block)."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> PyltiRegistration:
        return to_pylti_registration(find_registration_row(iss, None))

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> PyltiRegistration:
        return to_pylti_registration(find_registration_row(iss, client_id))

    def find_deployment(self, iss: str, deployment_id: str) -> PyltiDeployment | None:
        row = find_registration_row(iss, None)
        find_deployment_row(row, deployment_id)
        return PyltiDeployment().set_deployment_id(deployment_id)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> PyltiDeployment | None:
        row = find_registration_row(iss, client_id)
        find_deployment_row(row, deployment_id)
        return PyltiDeployment().set_deployment_id(deployment_id)

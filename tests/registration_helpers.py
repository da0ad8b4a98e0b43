"""Helpers for registration and admin tests: a tool admin's session, dynamic registration as an LMS does it,
and a platform that launches against a registration dynamic registration created."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from lti_tool.identity.staff import TOOL_ADMIN, StaffGrant
from lti_tool.launch.models import LtiUser, ToolSession
from lti_tool.store.db import db
from tests.lti_helpers import TestPlatform, demo_launch
from tests.moodle_stub import MoodleStub


def launch_as(client: Any, demo_user: str, *, tool_admin: bool = False) -> ToolSession:
    """A demo launch; with tool_admin, the person is granted the tool admin role first (as the staff pages do)."""
    resp = demo_launch(client, demo_user)
    assert resp.status_code == 303, resp.data
    user = db.session.scalar(select(LtiUser).where(LtiUser.sub == demo_user))
    if tool_admin:
        db.session.add(StaffGrant(user_id=user.id, role=TOOL_ADMIN, granted_by="test"))
        db.session.commit()
    return db.session.scalar(
        select(ToolSession).where(ToolSession.user_id == user.id).order_by(ToolSession.created_at.desc())
    )


def post(client: Any, sess: ToolSession, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": sess.csrf_token, **data})


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def error_text(resp: Any) -> str:
    html = resp.data.decode()
    found = re.search(r'<p class="error-message">(.*?)</p>', html, re.S)
    return (found.group(1) if found else html).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")


def dynamic_register(
    client: Any,
    stub: MoodleStub,
    *,
    token: str | None = None,
    path: str = "/lti/register",
    config_url: str | None = None,
) -> Any:
    """What Moodle does on 'Add LTI Advantage': open the tool's URL with openid_configuration and
    registration_token; the admin confirms on the tool's page (POST)."""
    params = {
        "openid_configuration": config_url or stub.openid_configuration_url,
        "registration_token": token if token is not None else stub.new_token(),
    }
    review = client.get(path, query_string=params)
    if review.status_code != 200:
        return review
    fields = hidden_fields(review.data.decode())
    assert fields["openid_configuration"] == params["openid_configuration"]
    return client.post(path, data=fields)


class RegisteredPlatform(TestPlatform):
    """Launches signed by the stub platform's key, for a registration made by dynamic registration (the
    registration rows exist already: unlike TestPlatform, this adds none)."""

    def __init__(self, stub: MoodleStub, client_id: str, deployment_id: str) -> None:  # noqa: D107
        self.issuer = stub.issuer
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_pem, self.jwk = stub.private_pem, stub.jwk

"""A launch driven by an LTI platform implementation not written here (PyPI `lti1p3platform`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration as PlatformRegistration
from sqlalchemy import select

from lti_tool.launch.models import Deployment, LtiUser, Membership, Registration
from lti_tool.store.db import db
from tests.lti_helpers import LEARNER, JwksServer, new_rsa_key

ISSUER = "https://independent-lms.example"
CLIENT_ID = "independent-client"
DEPLOYMENT = "independent-deployment"


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        pem, _ = kwargs["key"]
        self._registration = (
            PlatformRegistration()
            .set_iss(ISSUER)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT)
            .set_oidc_login_url("http://localhost/lti/login")
            .set_launch_url("http://localhost/lti/launch")
            .set_platform_private_key(pem)
        )
        public = kwargs["public_pem"]
        self._registration.set_platform_public_key(public)

    def get_registration_by_params(self, **kwargs: Any) -> PlatformRegistration:
        return self._registration


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = "resource-link-42"

    def get_redirect(self, url: str) -> str:
        return url


class Launch(MessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class FakeRequest:
    def __init__(self, get_data: dict[str, Any]) -> None:
        self.get_data = get_data
        self.form_data: dict[str, Any] = {}


def test_launch_from_lti1p3platform(client, app):
    from cryptography.hazmat.primitives import serialization

    pem, jwk = new_rsa_key()
    public_pem = (
        serialization.load_pem_private_key(pem.encode(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    conf = PlatformConf(key=(pem, jwk), public_pem=public_pem)
    platform_jwks = conf.get_jwks()
    server = JwksServer()
    server.keys.extend(platform_jwks["keys"])
    try:
        reg = Registration(
            issuer=ISSUER,
            client_id=CLIENT_ID,
            auth_login_url="https://independent-lms.example/auth",
            auth_token_url="https://independent-lms.example/token",
            key_set_url=server.url,
        )
        reg.deployments = [Deployment(deployment_id=DEPLOYMENT)]
        db.session.add(reg)
        db.session.commit()

        # 1. The platform starts the OIDC login.
        login = Login(None, conf)
        login.set_lti_message_hint()
        preflight = login.initiate_login("platform-user-7")
        resp = client.get(preflight[len("http://localhost") :])
        assert resp.status_code == 302, resp.data
        auth_params = {k: v[0] for k, v in parse_qs(urlsplit(resp.location).query).items()}
        assert auth_params["client_id"] == CLIENT_ID and auth_params["login_hint"] == "platform-user-7"

        # 2. The platform answers the tool's authentication request with its signed id_token.
        launch = Launch(FakeRequest(auth_params), conf)
        launch.set_user_data("platform-user-7", [LEARNER], full_name="Pat Platform", email_address="pat@x.example")
        launch.set_resource_link_claim("resource-link-42", title="Portfolio")
        launch.set_launch_context_claim("course-9", context_title="Independent course")
        form = launch.lti_launch()
        assert form["launch_url"] == "http://localhost/lti/launch"

        # 3. The browser posts it to the tool.
        resp = client.post("/lti/launch", data={"id_token": form["id_token"], "state": form["state"]})
        assert resp.status_code == 303, resp.data
        user = db.session.scalar(select(LtiUser).where(LtiUser.issuer == ISSUER))
        assert user.sub == "platform-user-7" and user.name == "Pat Platform"
        assert db.session.scalar(select(Membership)).roles == [LEARNER]
        assert re.search(rb"Pat Platform", client.get("/start").data)
    finally:
        server.close()

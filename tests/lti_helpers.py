"""Helpers that act as an LMS in tests: a platform with its own key and a JWKS served over HTTP."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

from lti_tool.launch.models import Deployment, Registration
from lti_tool.store.db import db

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def new_rsa_key() -> tuple[str, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk_obj = JWK.from_pem(pem.encode())
    jwk = json.loads(jwk_obj.export_public())
    jwk.update({"kid": jwk_obj.thumbprint(), "alg": "RS256", "use": "sig"})
    return pem, jwk


_KEYS: dict[str, tuple[str, dict[str, Any]]] = {}


def _platform_key(name: str) -> tuple[str, dict[str, Any]]:
    """One key per platform name for the whole run: RSA generation is the slowest part of a test."""
    if name not in _KEYS:
        _KEYS[name] = new_rsa_key()
    return _KEYS[name]


@functools.lru_cache(maxsize=64)
def _loaded(pem: str) -> Any:
    """Loading a PEM re-validates the key (tens of ms); tests sign thousands of tokens."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


class JwksServer:
    """A real HTTP server on loopback serving a mutable JWKS, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.fetches += 1
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TestPlatform:
    """A registered platform whose id_tokens the tests craft claim by claim."""

    __test__ = False

    def __init__(
        self,
        jwks: JwksServer,
        issuer: str = "https://lms.test",
        client_id: str = "client-1",
        deployment_id: str = "dep-1",
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_pem, self.jwk = _platform_key(issuer)
        jwks.keys.append(self.jwk)
        reg = Registration(
            issuer=issuer,
            client_id=client_id,
            name="Test LMS",
            auth_login_url="https://lms.test/auth",
            auth_token_url="https://lms.test/token",
            key_set_url=jwks.url,
        )
        reg.deployments = [Deployment(deployment_id=deployment_id)]
        db.session.add(reg)
        db.session.commit()
        self.registration_id = reg.id

    def login(self, client: Any, **params: str) -> tuple[str, str]:
        """Third-party initiated login; returns (state, nonce) from the tool's auth redirect."""
        query = {
            "iss": self.issuer,
            "login_hint": "hint",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": self.client_id,
            **params,
        }
        resp = client.get("/lti/login", query_string=query)
        assert resp.status_code == 302, resp.data
        args = parse_qs(urlsplit(resp.location).query)
        return args["state"][0], args["nonce"][0]

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Lee Learner",
            "email": "lee@example.org",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": self.deployment_id,
            CLAIM + "target_link_uri": "http://localhost/lti/launch",
            CLAIM + "resource_link": {"id": "link-1", "title": "Portfolio"},
            CLAIM + "context": {"id": "course-1", "title": "Course One", "label": "C1"},
            CLAIM + "roles": [LEARNER],
        }
        for key, value in overrides.items():
            key = key.replace("CLAIM_", CLAIM)
            if value is DELETE:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    def sign(
        self, claims: dict[str, Any], *, key_pem: str | None = None, kid: str | None | object = None, alg: str = "RS256"
    ) -> str:
        headers: dict[str, Any] = {}
        if kid is not DELETE:
            headers["kid"] = kid if isinstance(kid, str) else self.jwk["kid"]
        key: Any = key_pem or self.private_pem
        if alg == "RS256":
            key = _loaded(key)
        token = jwt.encode(claims, key, algorithm=alg, headers=headers)
        if kid is DELETE:
            # PyJWT always writes what it is given; strip kid by re-encoding the header.
            header, rest = token.split(".", 1)
            raw = json.loads(jwt.utils.base64url_decode(header))
            raw.pop("kid", None)
            token = jwt.utils.base64url_encode(json.dumps(raw).encode()).decode() + "." + rest
        return token

    def launch(self, client: Any, *, sign_kwargs: dict[str, Any] | None = None, **overrides: Any) -> Any:
        state, nonce = self.login(client)
        token = self.sign(self.claims(nonce, **overrides), **(sign_kwargs or {}))
        return client.post("/lti/launch", data={"id_token": token, "state": state})


DELETE = object()


def demo_launch(client: Any, user: str, *, link: str | None = None, deep_link: bool = False) -> Any:
    """Launch as a demo user through the built-in demo platform, like a browser would."""
    query = {"user": user}
    if link:
        query["link"] = link
    if deep_link:
        query["deep_link"] = "1"
    resp = client.get("/demo/launch", query_string=query)
    resp = client.get(resp.location)
    assert resp.status_code == 302, resp.data
    resp = client.get(resp.location)
    assert resp.status_code == 200, resp.data
    html = resp.data.decode()
    fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', html))
    return client.post("/lti/launch", data=fields)


def unique() -> str:
    return uuid.uuid4().hex[:8]

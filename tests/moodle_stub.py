"""A platform that does LTI Dynamic Registration the way Moodle 4.x does, on a real loopback HTTP server.

- GET /.well-known/openid-configuration (and Moodle's own /mod/lti/openid-configuration.php): the
  platform's OpenID configuration; messages_supported as plain strings, as Moodle sends them.
- POST /mod/lti/openid-registration.php: needs the registration token as Bearer ('missing_registration_token',
  401), refuses a token already used ('token_already_used', 401) and a payload missing what Moodle requires
  ('missing required attribute ...', 400); answers with client_id and the lti-tool-configuration carrying
  deployment_id. Every accepted registration is recorded for the tests to inspect.
- GET /mod/lti/certs.php: the platform's JWKS, so launches signed with `private_pem` verify.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.lti_helpers import new_rsa_key

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
REQUIRED = (
    "response_types",
    "initiate_login_uri",
    "redirect_uris",
    "client_name",
    "jwks_uri",
    "token_endpoint_auth_method",
    TOOL_CONFIG,
)
MOODLE_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting",
    "openid",
]


class MoodleStub:
    def __init__(self, path_prefix: str = "") -> None:
        self.private_pem, self.jwk = new_rsa_key()
        self.tokens: dict[str, str] = {}  # registration token -> the client_id it will create (Moodle: its sub)
        self.registered: dict[str, dict[str, Any]] = {}  # client_id -> the registration the tool posted
        self.config_requests: list[dict[str, str]] = []
        self.config_overrides: dict[str, Any] = {}
        self.config_raw: bytes | None = None  # serve this instead of JSON (non-JSON tests)
        self.answer_raw: bytes | None = None  # answer a registration with this (malformed answer tests)
        self.next_type_id = 7
        self.prefix = path_prefix
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                # Served under any prefix, so tests can present it from a URL outside the issuer.
                if path.endswith(("/.well-known/openid-configuration", "/mod/lti/openid-configuration.php")):
                    outer.config_requests.append(dict(self.headers))
                    if outer.config_raw is not None:
                        self._send(200, outer.config_raw, "text/html")
                    else:
                        self._send(200, json.dumps(outer.configuration()).encode(), "application/json")
                elif path == outer.prefix + "/mod/lti/certs.php":
                    self._send(200, json.dumps({"keys": [outer.jwk]}).encode(), "application/json")
                else:
                    self._send(404, b"Not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?")[0] != outer.prefix + "/mod/lti/openid-registration.php":
                    self._send(404, b"Not found", "text/plain")
                    return
                status, answer = outer.register(self.headers.get("Authorization", ""), body)
                if status == 200 and outer.answer_raw is not None:
                    self._send(200, outer.answer_raw, "application/json")
                    return
                if isinstance(answer, dict):
                    self._send(status, json.dumps(answer).encode(), "application/json; charset=utf-8")
                else:
                    self._send(status, answer.encode(), "text/html; charset=utf-8")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.base + path_prefix  # Moodle's issuer is its wwwroot
        # A short poll: close() waits for it (the default half second, per test, added up to minutes).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def openid_configuration_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def new_token(self, client_id: str | None = None) -> str:
        """What Moodle's 'Add LTI Advantage' does: a one-hour registration token naming the future client_id."""
        token = secrets.token_urlsafe(24)
        self.tokens[token] = client_id or secrets.token_hex(8)[:15]
        return token

    def configuration(self) -> dict[str, Any]:
        root = self.issuer
        config = {
            "issuer": root,
            "token_endpoint": root + "/mod/lti/token.php",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": root + "/mod/lti/certs.php",
            "authorization_endpoint": root + "/mod/lti/auth.php",
            "registration_endpoint": root + "/mod/lti/openid-registration.php",
            "scopes_supported": MOODLE_SCOPES,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "moodle",
                "version": "4.3.2 (Build: 20231222)",
                "messages_supported": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
                "placements": ["AddContentMenu"],
                "variables": ["ResourceLink.id"],
            },
        }
        config.update(self.config_overrides)
        return {k: v for k, v in config.items() if v is not None}

    def register(self, authorization: str, body: bytes) -> tuple[int, dict[str, Any] | str]:
        if not authorization.startswith("Bearer "):
            return 401, "missing_registration_token"
        client_id = self.tokens.get(authorization[7:].strip())
        if client_id is None:
            return 401, "Invalid registration token"
        if client_id in self.registered:
            return 401, "token_already_used"
        payload = json.loads(body or b"{}")
        for key in REQUIRED:
            if not payload.get(key):
                return 400, f"missing required attribute {key}"
        tool = payload[TOOL_CONFIG]
        for key in ("domain", "target_link_uri"):
            if not tool.get(key):
                return 400, f"missing required attribute {key}"
        if "id_token" not in payload["response_types"]:
            return 400, "invalid_response_types"
        if payload["token_endpoint_auth_method"] != "private_key_jwt":
            return 400, "invalid_token_endpoint_auth_method"
        if payload.get("application_type") not in (None, "web"):
            return 400, "invalid_application_type"
        self.registered[client_id] = payload
        type_id = self.next_type_id
        self.next_type_id += 1
        messages = [m for m in tool.get("messages", []) if m.get("type") == "LtiDeepLinkingRequest"]
        return 200, {
            "client_id": client_id,
            "response_types": ["id_token"],
            "jwks_uri": payload["jwks_uri"],
            "initiate_login_uri": payload["initiate_login_uri"],
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": payload["redirect_uris"],
            "application_type": ["web"],
            "token_endpoint_auth_method": "private_key_jwt",
            "client_name": payload["client_name"],
            "logo_uri": payload.get("logo_uri", ""),
            "scope": payload.get("scope", ""),
            TOOL_CONFIG: {
                "deployment_id": str(type_id),
                "target_link_uri": tool["target_link_uri"],
                "domain": tool["domain"],
                "description": tool.get("description", ""),
                "messages": messages,
                "claims": ["sub", "iss", "name", "family_name", "email"],
            },
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

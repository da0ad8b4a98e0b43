"""pylti1p3's OIDC login and message launch, wrapped to close its gaps (ARCHITECTURE.md, the data path):

- each login's state, with its nonce, is single-use, kept in the shared database cache (not the Flask
  session);
- the nonce in the id_token must be the one issued for that login's state;
- `aud` must contain our client_id, and `azp` must name it when `aud` has several values;
- exp/iat/nbf are checked with a small configurable leeway, and RS256 is the only algorithm;
- an unknown `kid` triggers one re-fetch of the platform's JWKS;
- the deployment must be registered and active.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from flask import current_app
from flask_babel import gettext
from pylti1p3.contrib.flask import FlaskCookieService, FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.session import SessionService

from lti_tool.launch.cache import cache_consume, cache_get, cache_set
from lti_tool.launch.claim_checks import MAX_ID_TOKEN_CHARS, check_claim_shapes, check_token_parts
from lti_tool.launch.cookies import cookie_kwargs
from lti_tool.launch.errors import LaunchError, SessionExpiredLaunch, StorageCheckNeeded
from lti_tool.launch.handoff import same_origin_request
from lti_tool.launch.models import Deployment, Registration
from lti_tool.launch.platform_keys import find_platform_key, public_key
from lti_tool.launch.tool_config import DbToolConf, find_deployment_row, find_registration_row, to_pylti_registration
from lti_tool.store.db import db
from lti_tool.web.compare import same_secret

ALLOWED_ALGORITHMS = ("RS256",)
# The login parameters a platform sends (their length is checked at login).
LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id", "lti_deployment_id")
# How the browser showed that the launch comes back to the window that began the login: our state cookie,
# the platform's postMessage storage, or nothing (a frame that keeps no cookie: the new-window handoff).
StateProof = Literal["cookie", "storage"] | None


MESSAGE_TYPE_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/message_type"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"


def storage_key(state: str) -> str:
    return "state_" + state


MAX_STATE_CHARS = 200  # ours are 42 characters; the cache key column holds 255
MAX_ID_TOKEN_AGE = 3600  # seconds: an id_token is a one-shot message, not a credential


class DbLaunchDataStorage(LaunchDataStorage[Any]):
    """pylti1p3 storage on the shared cache table; no session cookie is needed to find values.

    Writes join the request's transaction: the login and launch routes commit once, at their end.
    """

    _session_cookie_name = None  # type: ignore[assignment]

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        return cache_get(self._prepare_key(key))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        cache_set(self._prepare_key(key), value, exp or current_app.config["LTI_LOGIN_TTL"], commit=False)

    def check_value(self, key: str) -> bool:
        return cache_get(self._prepare_key(key)) is not None

    def consume(self, key: str) -> Any:
        return cache_consume(self._prepare_key(key), commit=False)


class DbSessionService(SessionService):
    data_storage: DbLaunchDataStorage

    def __init__(self, request: FlaskRequest) -> None:
        self.data_storage = DbLaunchDataStorage()
        self.data_storage.set_request(request)
        self._launch_data_lifetime = current_app.config["LTI_LOGIN_TTL"]

    def save_nonce(self, nonce: str) -> None:
        """Nothing to store: the nonce is kept with its login's state (ToolOIDCLogin puts it in the state's
        params), and a launch consumes that record, so each nonce is accepted once, for its own login only."""

    def check_nonce(self, nonce: str) -> bool:
        raise NotImplementedError("nonces are checked with their login's state: see validate_nonce")

    def consume_state_params(self, state: str) -> dict[str, Any] | None:
        return self.data_storage.consume(self._get_key(state))


class ToolCookieService(FlaskCookieService):
    """pylti1p3's login state cookie, partitioned (CHIPS) so that it comes back inside the LMS iframe in
    browsers that block third-party cookies (launch/cookies.py); pylti1p3 sets it without Partitioned."""

    def update_response(self, response: Any) -> None:
        for key, data in self._cookie_data_to_set.items():
            response.set_cookie(key, data["value"], max_age=data["exp"], path="/", httponly=True, **cookie_kwargs())


def _services() -> tuple[FlaskRequest, DbToolConf, DbSessionService, FlaskCookieService]:
    lti_request = FlaskRequest()
    return lti_request, DbToolConf(), DbSessionService(lti_request), ToolCookieService(lti_request)


class ToolOIDCLogin(FlaskOIDCLogin):
    def __init__(self) -> None:
        request, conf, session_service, cookies = _services()
        super().__init__(request, conf, session_service=session_service, cookie_service=cookies)
        self._state_params = {}

    def _generate_nonce(self) -> str:
        # Remember which nonce belongs to which state, so the launch can check they match.
        nonce = super()._generate_nonce()
        self._state_params = {**self._state_params, "nonce": nonce}
        return nonce


class ToolMessageLaunch(FlaskMessageLaunch):
    registration_row: Registration | None = None
    deployment_row: Deployment | None = None
    state_proof: StateProof = None

    def __init__(self) -> None:
        request, conf, session_service, cookies = _services()
        super().__init__(request, conf, session_service=session_service, cookie_service=cookies)

    # --- order: cheap checks, then signature, then everything else, and only then consume the single-use
    # values (consumed in the launch's transaction: a concurrent replay waits for it, then finds them gone) ---
    def validate(self) -> ToolMessageLaunch:
        if self._restored:
            raise LtiException("Can't validate restored launch")
        self._validated = True
        try:
            self.validate_state()
            self.validate_jwt_format()
            self.validate_header()
            self.validate_registration()
            self.validate_jwt_signature()
            self.validate_deployment()
            self.validate_message()
            self.validate_nonce()
            self.save_launch_data()
        except Exception:
            self._validated = False
            raise
        return self

    def validate_state(self) -> ToolMessageLaunch:
        """The state must be one we issued and not yet used. This browser shows it began the login by our
        cookie, or (where the platform offers LTI client-side postMessage storage) by the value the login
        page stored with the platform. Without either (a frame that keeps no cookie) the launch is still
        verified in full, but `state_proof` stays None: it may only go on through the new-window handoff
        (launch/handoff.py), never start a session here."""
        state = self._get_request_param("state")
        if not state:
            raise LaunchError("The launch has no 'state' parameter.")
        if len(state) > MAX_STATE_CHARS or "\x00" in state:
            raise SessionExpiredLaunch("The launch's 'state' is not one the tool issued.")
        if not self._get_request_param("id_token"):
            raise LaunchError("The launch has no 'id_token'.")
        if self._cookie_service.get_cookie(state) == state:
            self.state_proof = "cookie"
            return self
        params = self._session_service.get_state_params(state)
        if not params:
            raise SessionExpiredLaunch("This login was already used or has expired.")
        storage = params.get("storage")
        if storage:
            proof = self._get_request_param("lti_storage_proof")
            if not proof:
                raise StorageCheckNeeded({**storage, "key": storage_key(state)})
            # The proof is only good from the tool's own checking page in the browser that began the login:
            # another site posting someone's id_token, state and proof would sign its victim in as them.
            if not same_origin_request():
                raise LaunchError("Only the tool's own page may check this login with the platform.", status=403)
            if same_secret(proof, storage["secret"]):
                self.state_proof = "storage"
                return self
            # One try: a wrong value uses the login up (committed by the caller), so it cannot be guessed at.
            self._session_service.consume_state_params(state)
            db.session.commit()
            raise LaunchError("The value kept by the platform for this login does not match.", status=401)
        self.state_proof = None
        return self

    def validate_jwt_format(self) -> ToolMessageLaunch:
        if len(self._get_id_token()) > MAX_ID_TOKEN_CHARS:
            raise LaunchError("The id_token is larger than the tool accepts.", status=413)
        try:
            super().validate_jwt_format()
        except LtiException as exc:
            raise LaunchError("The id_token is not a JWT (three base64url-encoded JSON parts).", status=401) from exc
        check_token_parts(self._jwt.get("header"), self._jwt.get("body"))
        check_claim_shapes(self._jwt["body"])
        return self

    def validate_header(self) -> ToolMessageLaunch:
        header = self._jwt.get("header", {})
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise LaunchError(
                gettext("The id_token uses algorithm '%(alg)s'; LTI requires RS256.", alg=header.get("alg")), status=401
            )
        if not header.get("kid"):
            raise LaunchError("The id_token header has no 'kid', so its signing key cannot be found.", status=401)
        return self

    def get_client_id(self) -> str:
        body = self._jwt.get("body", {})
        aud = body.get("aud")
        if not aud:
            raise LaunchError("The id_token has no audience ('aud').", status=401)
        auds = aud if isinstance(aud, list) else [aud]
        if not all(isinstance(a, str) for a in auds):
            raise LaunchError("The id_token audience ('aud') is malformed.", status=401)
        azp = body.get("azp")
        if len(auds) > 1:
            if not azp:
                raise LaunchError("The id_token has several audiences but no 'azp' naming the tool.", status=401)
            if azp not in auds:
                raise LaunchError("The id_token 'azp' is not one of its audiences.", status=401)
            return azp
        if azp and azp != auds[0]:
            raise LaunchError("The id_token 'azp' does not match its audience.", status=401)
        return auds[0]

    def validate_registration(self) -> ToolMessageLaunch:
        iss = self._jwt.get("body", {}).get("iss")
        if not iss or not isinstance(iss, str):
            raise LaunchError("The id_token names no issuer ('iss').", status=401)
        self.registration_row = find_registration_row(iss, self.get_client_id())
        self._registration = to_pylti_registration(self.registration_row)
        return self

    # pylti1p3 declares a PEM string; PyJWT takes the parsed key too, and parsing once per key is what
    # `public_key` caches. Only validate_jwt_signature below calls this.
    def get_public_key(self) -> tuple[RSAPublicKey, str]:  # type: ignore[override]
        assert self._registration is not None
        kid = self._jwt["header"]["kid"]
        jwk = find_platform_key(self._registration.get_key_set_url(), self._registration.get_key_set(), kid)
        return public_key(jwk), "RS256"

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        public_key, _ = self.get_public_key()
        skew = current_app.config["LTI_CLOCK_SKEW"]
        try:
            claims = jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.get_client_id(),
                issuer=self._jwt["body"]["iss"],
                leeway=skew,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise LaunchError(
                "The id_token has expired (exp is in the past). Check the platform's clock or open the activity again.",
                status=401,
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise LaunchError(
                "The id_token is dated in the future (iat/nbf). Check the platform's clock.", status=401
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise LaunchError(
                gettext("The id_token lacks the required claim '%(claim)s'.", claim=exc.claim), status=401
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise LaunchError(
                gettext("The id_token signature or claims are invalid: %(error)s.", error=exc), status=401
            ) from exc
        if claims["iat"] < time.time() - MAX_ID_TOKEN_AGE - skew:
            raise LaunchError("The id_token was issued too long ago (iat).", status=401)
        return self

    def validate_nonce(self) -> ToolMessageLaunch:
        nonce = self._jwt.get("body", {}).get("nonce")
        if not nonce or not isinstance(nonce, str):
            raise LaunchError("The id_token has no 'nonce'.", status=401)
        state = self._get_request_param("state")
        params = self._session_service.consume_state_params(state)
        if not params:
            raise SessionExpiredLaunch("This login was already used or has expired.")
        # The state's record is gone now, and its nonce with it: a replayed id_token finds neither.
        if not same_secret(params.get("nonce", ""), nonce):
            raise LaunchError("The id_token's nonce does not belong to this login.", status=401)
        return self

    def validate_deployment(self) -> ToolMessageLaunch:
        body = self._jwt.get("body", {})
        deployment_id = body.get("https://purl.imsglobal.org/spec/lti/claim/deployment_id")
        if not deployment_id or not isinstance(deployment_id, str):
            raise LaunchError("The id_token has no deployment_id.", status=401)
        assert self.registration_row is not None
        self.deployment_row = find_deployment_row(self.registration_row, deployment_id)
        return self

    def validate_message(self) -> ToolMessageLaunch:
        body = self._jwt.get("body", {})
        if not body.get("https://purl.imsglobal.org/spec/lti/claim/message_type"):
            raise LaunchError("This is not an LTI message (no message_type claim).", status=401)
        try:
            super().validate_message()
        except LtiException as exc:
            raise LaunchError(gettext("The LTI message is incomplete: %(error)s.", error=exc), status=401) from exc
        return self

    def save_launch_data(self) -> ToolMessageLaunch:
        """Kept for deep linking only: its page reads the request's settings later (grading/deep_linking.py).
        Nothing reads a resource link launch's data again, so most launches write one statement less."""
        if self._jwt["body"].get(MESSAGE_TYPE_CLAIM) == DEEP_LINKING_REQUEST:
            self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self


def oidc_login() -> ToolOIDCLogin:
    return ToolOIDCLogin()


def message_launch() -> ToolMessageLaunch:
    return ToolMessageLaunch()

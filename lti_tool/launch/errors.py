"""Launch failures, each with the status a platform or person should see and a hint for the LMS admin."""

from __future__ import annotations

from lti_tool.web.errors import UserError

ADMIN_HINT = (
    "If this keeps happening, ask your LMS administrator to check the tool registration: "
    "issuer, client ID, deployment ID and the platform keyset (JWKS) URL."
)


class LaunchError(UserError):
    title = "The launch could not be completed"

    def __init__(self, message: str, *, status: int = 400, hint: str | None = ADMIN_HINT) -> None:
        super().__init__(message, status=status, hint=hint)


class SessionExpiredLaunch(LaunchError):
    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            status=401,
            hint="Go back to your course and open the activity again.",
        )


class StorageCheckNeeded(Exception):
    """The login used the platform's postMessage storage: the browser must prove it holds the value."""

    def __init__(self, storage: dict) -> None:
        super().__init__("client-side state check needed")
        self.storage = storage

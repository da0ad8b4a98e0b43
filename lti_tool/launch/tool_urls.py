"""The tool's own public URLs, as platforms must be told them (config page, Canvas JSON, dynamic registration).

Built from LTI_TOOL_PUBLIC_URL when it is set (behind a proxy the request may not know the public name, and
a forged Host header must not change them), else from the current request: web/urls.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lti_tool.web.urls import external_url, public_base

TOOL_NAME = "Accreditation portfolio"
TOOL_DESCRIPTION = (
    "Portfolios of workplace evidence for competence-based professional accreditation: "
    "assessment, two-step verification and awards returned to the gradebook."
)

AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_SCOPES = (*AGS_SCOPES, NRPS_SCOPE)
# Identity claims the tool asks platforms to send: a portfolio and a certificate need a name.
TOOL_CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")


@dataclass(frozen=True)
class ToolUrls:
    base: str
    login: str
    launch: str
    deep_link: str
    jwks: str
    register: str
    config: str
    canvas_json: str
    logo: str

    @property
    def domain(self) -> str:
        return urlsplit(self.base).netloc

    @property
    def redirect_uris(self) -> list[str]:
        return list(dict.fromkeys([self.launch, self.deep_link]))


def tool_urls() -> ToolUrls:
    base = public_base()

    def path(endpoint: str, **values: Any) -> str:
        return external_url(endpoint, **values)  # on LTI_TOOL_PUBLIC_URL when set (web/urls.py)

    launch = path("launch.launch")
    return ToolUrls(
        base=base,
        login=path("launch.login"),
        launch=launch,
        # Deep linking requests arrive at the launch endpoint too: it reads the message type.
        deep_link=launch,
        jwks=path("launch.jwks"),
        register=path("registration.register"),
        config=path("registration.config_page"),
        canvas_json=path("registration.canvas_json"),
        logo=path("static", filename="logo.svg"),
    )


def invite_url(token: str) -> str:
    return tool_urls().register.rstrip("/") + "/" + token

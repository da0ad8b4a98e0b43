"""Where a learner takes an award: LinkedIn's add-to-profile link, and the wallet hand-off link.

LinkedIn: the documented "Add to Profile" URL (startTask=CERTIFICATION_NAME) pre-fills a Licenses &
certifications entry: name, issuing organization, issue month and year, credential id (the certificate
number) and credential URL (the public verification page). Nothing else about the learner is sent.

Wallet hand-off: a link (and its QR code) that returns the credential JSON with its embedded Data Integrity
proof, for a wallet app to import: wallets such as the Learner Credential Wallet add a credential from a QR
code holding a URL that returns it. The link carries a token signed with the tool's secret key (no table),
names one award and expires after HANDOFF_SECONDS, so a stale screenshot of the code stops working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_tool.credentials import issuer

LINKEDIN_ADD = "https://www.linkedin.com/profile/add"
HANDOFF_SECONDS = 3600
_SALT = "credential-wallet-handoff"


class HandoffRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def linkedin_url(award: Any) -> str:
    query = {
        "startTask": "CERTIFICATION_NAME",
        "name": award.portfolio.awarded_title,
        "organizationName": current_app.config["ISSUER_NAME"],
        "issueYear": str(award.awarded_on.year),
        "issueMonth": str(award.awarded_on.month),
        "certUrl": issuer.verify_url(award.certificate_number),
        "certId": award.certificate_number,
    }
    return f"{LINKEDIN_ADD}?{urlencode(query)}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def handoff_token(certificate_number: str) -> str:
    return _serializer().dumps(certificate_number)


def handoff_url(certificate_number: str) -> str:
    return f"{issuer.base_url()}/credentials/wallet/{handoff_token(certificate_number)}"


def number_from_token(token: str) -> str:
    """The certificate number a hand-off token names; HandoffRefused (with the HTTP status) otherwise."""
    try:
        number = _serializer().loads(token, max_age=HANDOFF_SECONDS)
    except SignatureExpired as exc:
        raise HandoffRefused(
            "This wallet link has expired. Open your certificate in the tool again for a new one.", 410
        ) from exc
    except BadSignature as exc:
        raise HandoffRefused("This is not a wallet link issued by this tool.", 404) from exc
    if not isinstance(number, str):
        raise HandoffRefused("This is not a wallet link issued by this tool.", 404)
    return number

"""Public endpoints, no login: certificate verification, the issuer profile and keys, status lists and
achievement descriptions. Everything they show is public by design (see record.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

from lti_tool.credentials import content, issuer, share, status_list
from lti_tool.credentials.issuance import award_by_number, credential_for
from lti_tool.credentials.models import IssuedCredential
from lti_tool.credentials.record import page_record, public_record
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.store.db import db
from lti_tool.web.errors import NotFound

bp = Blueprint("verify", __name__)

JSON_FORMATS = ("application/vc+ld+json", "application/vc", "application/ld+json", "application/json")
# The first is the default for "*/*" and for clients that say nothing: the VC-JWT, as before.
STATUS_FORMATS = ["application/vc+jwt", "application/jwt", *JSON_FORMATS]

UNKNOWN = "No certificate with this number was issued here."
UNKNOWN_HINT = (
    "Check the number printed on the certificate (letters, digits and dashes). If it is right, the "
    "certificate was not issued by this body: treat it as not verified."
)


def _json(body: Any, status: int = 200, max_age: int = 0) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-store"
    # Verifiers on other sites (wallets, employer tools) read these documents from the browser.
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.route("/verify")
def lookup() -> Any:
    number = (request.args.get("number") or "").strip()
    if number:
        return redirect(url_for("verify.certificate", number=number), code=303)
    return render_template("credentials/verify_lookup.html")


@bp.route("/verify/<number>")
def certificate(number: str) -> Any:
    award = award_by_number(number)
    if award is None:
        resp = Response(
            render_template("credentials/verify_unknown.html", number=number[:80], message=UNKNOWN, hint=UNKNOWN_HINT),
            status=404,
        )
    else:
        resp = Response(render_template("credentials/verify.html", record=page_record(award)))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/verify/<number>.json")
def certificate_json(number: str) -> Response:
    award = award_by_number(number)
    if award is None:
        return _json(
            {"certificate_number": number[:80], "status": "unknown", "message": UNKNOWN, "hint": UNKNOWN_HINT},
            status=404,
        )
    return _json(public_record(award))


@bp.route("/credentials/issuer")
def issuer_profile() -> Response:
    # Lists the Ed25519 verification methods (assertionMethod) and the JWKS of the VC-JWT keys (jwks_uri).
    return _json(issuer.issuer_profile_document(), max_age=300)


@bp.route("/credentials/issuer/jwks.json")
def issuer_jwks() -> Response:
    return _json(issuer.issuer_jwks(), max_age=300)


@bp.route("/credentials/issuer/keys/<kid>")
def issuer_key(kid: str) -> Response:
    for key in issuer.issuer_key_store().active_keys():
        if key.kid == kid:
            return _json(issuer.public_jwk(key), max_age=3600)
    for ed_key in issuer.ed25519_keys():
        if ed_key.multibase == kid:  # a verification method of the embedded proofs
            return _json(issuer.multikey_document(ed_key), max_age=3600)
    raise NotFound("The issuer has no key with this id.")


@bp.route("/credentials/status/<int:list_no>")
def status(list_no: int) -> Response:
    highest = db.session.scalar(select(func.max(IssuedCredential.status_list))) or 0
    if not 1 <= list_no <= highest:
        raise NotFound("There is no status list with this number.")
    # VC-JWT unless JSON is asked for: Data Integrity verifiers load the list as a JSON-LD document.
    wanted = request.accept_mimetypes.best_match(STATUS_FORMATS, default="application/vc+jwt")
    if wanted in JSON_FORMATS:
        resp = _json(status_list.proofed_status_list(list_no))
    else:
        resp = Response(status_list.signed_status_list(list_no), mimetype="application/vc+jwt")
    # Short: a revocation must reach verifiers quickly.
    resp.headers["Cache-Control"] = "public, max-age=60"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Vary"] = "Accept"
    return resp


@bp.route("/credentials/achievements/<code>/v<int:version>")
def achievement(code: str, version: int) -> Response:
    cert = db.session.scalar(select(Certification).where(Certification.code == code, Certification.version == version))
    if cert is None:
        raise NotFound("There is no certification with this code and version.")
    return _json({"@context": list(content.CONTEXT), **content.achievement(cert)}, max_age=3600)


@bp.route("/credentials/achievements/<code>/v<int:version>/units/<unit_code>")
def unit_achievement(code: str, version: int, unit_code: str) -> Response:
    cert = db.session.scalar(select(Certification).where(Certification.code == code, Certification.version == version))
    unit = next((u for u in cert.units if u.code == unit_code), None) if cert is not None else None
    if cert is None or unit is None:
        raise NotFound("There is no unit with this code in a certification with this code and version.")
    return _json({"@context": list(content.CONTEXT), **content.unit_achievement(cert, unit)}, max_age=3600)


@bp.route("/credentials/wallet/<token>")
def wallet_credential(token: str) -> Response:
    """The wallet hand-off: the credential with its embedded proof, for the wallet app that opened the link
    (the signed, expiring token in the link is the permission; see share.py)."""
    try:
        number = share.number_from_token(token)
    except share.HandoffRefused as exc:
        return _json({"error": exc.message}, status=exc.status)
    award = award_by_number(number)
    issued = credential_for(award) if award is not None else None
    if award is None or issued is None or issued.proofed is None:
        return _json({"error": "This certificate has no credential with an embedded proof to hand over."}, 404)
    if award.revoked_at is not None:
        return _json({"error": "This certificate has been revoked; it cannot be added to a wallet."}, 410)
    return _json(issued.proofed)

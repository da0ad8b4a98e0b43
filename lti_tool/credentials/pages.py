"""Signed-in pages: a learner's certificates and downloads, and revocation by tool administrators."""

from __future__ import annotations

import json
from typing import Any

import segno
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy import select

from lti_tool.credentials import access, content, data_integrity, issuer, revocation, share
from lti_tool.credentials import certificate as printed
from lti_tool.credentials.issuance import credential_for, ensure_embedded_proof, get_award, issue_for_award
from lti_tool.credentials.models import IssuedCredential
from lti_tool.identity.access import require_tool_admin
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import deny, login_required, require_session
from lti_tool.portfolio.catalogue.models import HOURS_PER_CREDIT
from lti_tool.portfolio.models import Portfolio
from lti_tool.portfolio.review.assessment_models import Award
from lti_tool.store.db import db
from lti_tool.web.errors import UserError

bp = Blueprint("credentials", __name__)
ADMIN_LIST_LIMIT = 200


def _award_for_download(number: str) -> tuple[Award, IssuedCredential]:
    sess = require_session()
    award = get_award(number)
    if not access.can_download(sess, award):
        raise deny("Only the learner who holds this certificate (and tool administrators) can download it.")
    issued = credential_for(award)
    if issued is None:
        # Awards made before credentials existed get theirs on first download (idempotent, audited).
        issued = issue_for_award(award)
        db.session.commit()
    elif issued.proofed is None and award.revoked_at is None:
        # Credentials issued before embedded proofs get one on first view (wallets need it; audited).
        try:
            ensure_embedded_proof(issued)
        except data_integrity.ProofError:
            db.session.rollback()  # not strict JSON-LD even with today's contexts: offer the .jwt only
        else:
            db.session.commit()
    return award, issued


def _attachment(body: str, mimetype: str, filename: str) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _file_stem(number: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in number)
    return f"certificate-{safe}"


@bp.route("/awards")
@login_required
def mine() -> str:
    sess = require_session()
    awards = list(
        db.session.scalars(
            select(Award)
            .join(Portfolio, Portfolio.id == Award.portfolio_id)
            .where(Portfolio.user_id == sess.user_id)
            .order_by(Award.awarded_on.desc())
        )
    )
    return render_template("credentials/mine.html", awards=awards, sess=sess)


@bp.route("/awards/<number>")
@login_required
def award_page(number: str) -> str:
    """One award and what its holder can do with it: share, add to LinkedIn, download, hand to a wallet."""
    award, issued = _award_for_download(number)
    verify_url = issuer.verify_url(award.certificate_number)
    wallet_url = share.handoff_url(award.certificate_number) if issued.proofed and not award.revoked_at else None
    return render_template(
        "credentials/award.html",
        award=award,
        cert=award.portfolio.certification,
        issued=issued,
        verify_url=verify_url,
        linkedin_url=share.linkedin_url(award),
        wallet_url=wallet_url,
        wallet_qr=qr_svg(wallet_url, "QR code of the wallet link") if wallet_url else None,
        wallet_minutes=share.HANDOFF_SECONDS // 60,
    )


@bp.route("/awards/<number>/credential.json")
@login_required
def download_json(number: str) -> Response:
    """For wallets: the credential with its embedded proof (without one for credentials issued before)."""
    award, issued = _award_for_download(number)
    body = json.dumps(issued.proofed or issued.credential, indent=2, ensure_ascii=False)
    return _attachment(body, "application/json", _file_stem(award.certificate_number) + ".json")


@bp.route("/awards/<number>/credential.jwt")
@login_required
def download_jwt(number: str) -> Response:
    award, issued = _award_for_download(number)
    # Open Badges 3.0 (document formats): a VC-JWT served as a web resource SHOULD be text/plain.
    return _attachment(issued.jwt, "text/plain", _file_stem(award.certificate_number) + ".jwt")


def qr_svg(url: str, title: str = "QR code of the verification address") -> Markup:
    """An inline SVG QR code (segno escapes the title; the SVG is our own markup)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, title=title)
    return Markup(svg)


@bp.route("/awards/<number>/certificate")
@login_required
def certificate(number: str) -> str:
    award, issued = _award_for_download(number)
    cert = award.portfolio.certification
    verify_url = issuer.verify_url(award.certificate_number)
    return render_template(
        "credentials/certificate.html",
        award=award,
        cert=cert,
        issued=issued,
        learner_name=issued.learner_name or content.learner_name(award.portfolio.user),
        notional_hours=award.credits * HOURS_PER_CREDIT,
        verify_url=verify_url,
        qr=qr_svg(verify_url),
        credit_note=content.page_credit_note(),
        units=printed.awarded_units(award),
        logo=printed.logo_data_uri(current_app.config),
        signatory=printed.signatory(current_app.config),
    )


def _require_admin() -> ToolSession:
    return require_tool_admin("Only tool administrators can manage certificates.")


@bp.route("/admin/credentials")
@login_required
def admin_list() -> Any:
    _require_admin()
    number = (request.args.get("number") or "").strip()
    if number:
        return redirect(url_for("credentials.admin_award", number=number), code=303)
    awards = list(db.session.scalars(select(Award).order_by(Award.id.desc()).limit(ADMIN_LIST_LIMIT)))
    return render_template("credentials/admin_list.html", awards=awards, limit=ADMIN_LIST_LIMIT)


@bp.route("/admin/credentials/<number>", methods=["GET", "POST"])
@login_required
def admin_award(number: str) -> Any:
    """The certificate; revoking it takes two steps: the reason, then a confirmation showing what will happen
    (revocation is final). Only a post carrying confirm=revoke, sent by the confirmation step, revokes."""
    sess = _require_admin()
    award = get_award(number)
    error, confirming = None, False
    if request.method == "POST":
        try:
            if request.form.get("confirm") != "revoke":
                revocation.clean_reason(request.form.get("reason"))  # a bad reason is said before confirming
                if award.revoked_at is not None:
                    raise revocation.RevocationRefused(
                        gettext("Certificate %(number)s is already revoked.", number=award.certificate_number)
                    )
                confirming = True
            else:
                revocation.revoke(award, request.form.get("reason"), actor=sess.user)
        except UserError as exc:
            db.session.rollback()
            error = exc
        else:
            if not confirming:
                db.session.commit()
                flash(
                    gettext(
                        "Certificate %(number)s is revoked. Verifiers see it from now on.",
                        number=award.certificate_number,
                    ),
                    "success",
                )
                return redirect(url_for("credentials.admin_award", number=award.certificate_number), code=303)
    page = render_template(
        "credentials/admin_award.html",
        award=award,
        issued=credential_for(award),
        learner_name=content.learner_name(award.portfolio.user),
        verify_url=issuer.verify_url(award.certificate_number),
        error=error,
        confirming=confirming,
        reason=request.form.get("reason", ""),
    )
    return (page, error.status) if error else page

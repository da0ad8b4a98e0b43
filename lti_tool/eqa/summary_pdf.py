"""The pack's PDF summary of one portfolio (ReportLab): learner, certification and version, units, each
criterion with the evidence mapped and every judgement and its feedback, each verification step (who, when,
why), appeals, the award and its credential, and the audit chain's head at the time of the pack.

Text is set in Bitstream Vera (shipped with ReportLab, embedded in the PDF), so names outside Latin-1 print and
the text can be copied or searched out of the file.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Table, TableStyle

from lti_tool.eqa.record import PortfolioRecord, when
from lti_tool.portfolio import workflow
from lti_tool.portfolio.models import EVIDENCE_KINDS, ROUTES

FONT, BOLD = "EqaVera", "EqaVera-Bold"


def _fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9, leading=12)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=BOLD, fontSize=16, leading=20),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=BOLD, fontSize=12, leading=15, spaceBefore=10),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=BOLD, fontSize=10, leading=13, spaceBefore=6),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")).replace("\n", "<br/>"), style)


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
    table.setStyle(TableStyle(style))
    return table


def build(
    record: PortfolioRecord,
    *,
    file_paths: dict[str, str],
    made_at: dt.datetime,
    chain_head: dict[str, Any],
    events: int,
    events_path: str,
) -> bytes:
    """The summary as PDF bytes (a few hundred kB at most: text only). `file_paths` maps a file's sha256 to
    where the pack holds it."""
    _fonts()
    s = _styles()
    p = record.portfolio
    cert = p.certification
    out: list[Flowable] = [_p(f"Portfolio record: {record.learner}", s["title"])]

    def fact(label: str, value: Any) -> list[Any]:
        return [_p(label, s["cell"]), _p(value, s["cell"])]

    facts = [
        fact("Learner", f"{record.learner}" + (f" <{p.user.email}>" if getattr(p.user, "email", "") else "")),
        fact("Certification", f"{cert.code} version {cert.version}: {cert.title}"),
        fact("Partner", p.partner.name if p.partner else "none"),
        fact("Route", ROUTES.get(p.route, p.route)),
        fact("State", workflow.STATE_LABELS.get(p.state, p.state)),
        fact("Portfolio", f"#{p.id}, started {when(p.created_at)}"),
        fact("Pack made", when(made_at)),
    ]
    out.append(_table(facts, [35 * mm, 135 * mm], header=False))

    for attempt in record.attempts:
        sub = attempt.submission
        out.append(_p(f"Attempt {sub.attempt}: submitted {when(sub.created_at)}", s["h2"]))
        if sub.learner_note:
            out.append(_p(f"Learner's note: {sub.learner_note}", s["body"]))
        shot = attempt.snapshot.get("certification", {})
        out.append(
            _p(f"Held to {shot.get('code', cert.code)} version {shot.get('version', cert.version)}.", s["small"])
        )
        for d in attempt.decisions:
            a = d.assessment
            line = f"Decision: {d.label}, by {a.assessor.display_name()}, {when(a.decided_at)}."
            out.append(_p(line, s["h3"]))
            if a.summary:
                out.append(_p(f"Feedback to the learner: {a.summary}", s["body"]))
            if d.sampling is not None:
                picked = "sampled for internal verification" if d.sampling.sampled else "not sampled"
                reasons = "; ".join(d.sampling.reasons or [])
                out.append(_p(f"Sampling: {picked}" + (f" ({reasons})" if reasons else "") + ".", s["small"]))
        for unit in attempt.units():
            out.append(_p(f"Unit {unit['code']}: {unit['title']}", s["h3"]))
            rows: list[list[Any]] = [[_p(h, s["cell"]) for h in ("Criterion", "Evidence mapped", "Judgement")]]
            for c in unit["criteria"]:
                evidence = (
                    "\n".join(
                        f"{e['title']} ({EVIDENCE_KINDS.get(e['kind'], e['kind'])})"
                        + "".join(f"\n  file: {file_paths.get(f['sha256'], f['filename'])}" for f in e.get("files", []))
                        for e in c["evidence"]
                    )
                    or "none"
                )
                judged = (
                    "\n".join(
                        f"{'Met' if met else 'Not yet met'} ({d.assessment.assessor.display_name()}, "
                        f"{when(d.assessment.decided_at)})" + (f": {feedback}" if feedback else "")
                        for d, (met, feedback) in c["judged"]
                    )
                    or "not judged"
                )
                rows.append([_p(f"{c['code']} {c['text']}", s["cell"]), _p(evidence, s["cell"]), _p(judged, s["cell"])])
            out.append(_table(rows, [60 * mm, 55 * mm, 55 * mm]))
        if attempt.verifications:
            out.append(_p("Verification", s["h3"]))
            rows = [[_p(h, s["cell"]) for h in ("Step", "Outcome", "Who", "When", "Why")]]
            for r in attempt.verifications:
                rows.append(
                    [
                        _p(f"{r.step}: {'internal' if r.step == 1 else 'independent'}", s["cell"]),
                        _p(r.outcome_label, s["cell"]),
                        _p(r.verifier.display_name() if r.verifier else "system (sampling)", s["cell"]),
                        _p(when(r.created_at), s["cell"]),
                        _p(r.rationale or "—", s["cell"]),
                    ]
                )
            out.append(_table(rows, [27 * mm, 30 * mm, 30 * mm, 27 * mm, 56 * mm]))
    if not record.attempts:
        out.append(_p("Not submitted yet: there is no decision to show.", s["body"]))

    out.append(_p("Appeals", s["h2"]))
    if record.appeals:
        for ap in record.appeals:
            decided = (
                f"{ap.status_label} by {ap.decided_by.display_name() if ap.decided_by else '?'}, "
                f"{when(ap.decided_at)}: {ap.outcome_rationale}"
                if ap.decided_at
                else ap.status_label
            )
            out.append(
                KeepTogether(
                    [_p(f"Lodged {when(ap.lodged_at)}: {ap.grounds}", s["body"]), _p(f"Outcome: {decided}", s["body"])]
                )
            )
    else:
        out.append(_p("None.", s["body"]))

    out.append(_p("Award and credential", s["h2"]))
    if record.award is not None:
        aw = record.award
        lines = [
            f"Certificate {aw.certificate_number}, awarded {when(aw.awarded_on)}: "
            f"{aw.credits} credits, {aw.cpd_points} CPD points."
        ]
        if aw.revoked_at:
            lines.append(f"Revoked {when(aw.revoked_at)}: {aw.revocation_reason}")
        if record.credential is not None:
            cr = record.credential
            lines.append(f"Credential {cr.credential_id}, issued {when(cr.issued_at)}, signed by key {cr.kid}.")
        out.extend(_p(line, s["body"]) for line in lines)
    else:
        out.append(_p("No award.", s["body"]))

    out.append(_p("Audit trail", s["h2"]))
    out.append(
        _p(
            f"{events} audit events about this portfolio are in {events_path}, each with its hash. When the pack "
            f"was made the head of the tool's audit chain was event {chain_head.get('id')} with hash "
            f"{chain_head.get('hash') or '(empty trail)'}.",
            s["body"],
        )
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Portfolio record: {record.learner}",
        author="Accreditation portfolio",
        invariant=1,  # no random document id: the same record gives the same bytes
    )
    doc.build(out, onFirstPage=_footer(record), onLaterPages=_footer(record))
    return buffer.getvalue()


def _footer(record: PortfolioRecord) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(20 * mm, 10 * mm, f"Portfolio #{record.portfolio.id}: {record.learner}. Page {doc.page}.")
        canvas.restoreState()

    return draw

"""The pack's PDF summary of one portfolio (ReportLab): learner, certification and version, units, each
criterion with the evidence mapped and every judgement and its feedback, each verification step (who, when,
why), appeals, the award and its credential, and the audit chain's head at the time of the pack.

Text is set in Bitstream Vera (shipped with ReportLab, embedded in the PDF), so names outside Latin-1 print and
the text can be copied or searched out of the file.

Written in the current locale: the pack's, which jobs.build sets to the language of the person who asked for it
(English for an operator's pack). Dates are Babel's for that language, in UTC, as the pack's data are.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import gettext as _
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
from lti_tool.portfolio.review.sampling import reason_words

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
    title = _("Portfolio record: %(learner)s", learner=record.learner)
    out: list[Flowable] = [_p(title, s["title"])]

    def fact(label: str, value: Any) -> list[Any]:
        return [_p(label, s["cell"]), _p(value, s["cell"])]

    facts = [
        fact(_("Learner"), f"{record.learner}" + (f" <{p.user.email}>" if getattr(p.user, "email", "") else "")),
        fact(
            _("Certification"),
            _("%(code)s version %(version)s: %(title)s", code=cert.code, version=cert.version, title=cert.title),
        ),
        fact(_("Partner"), p.partner.name if p.partner else _("none")),
        fact(_("Route"), _word(ROUTES, p.route)),
        fact(_("State"), workflow.state_words(p.state)),
        fact(_("Portfolio"), _("#%(id)s, started %(date)s", id=p.id, date=when(p.created_at))),
        fact(_("Pack made"), when(made_at)),
    ]
    out.append(_table(facts, [35 * mm, 135 * mm], header=False))

    for attempt in record.attempts:
        sub = attempt.submission
        out.append(_p(_("Attempt %(n)s: submitted %(date)s", n=sub.attempt, date=when(sub.created_at)), s["h2"]))
        if sub.learner_note:
            out.append(_p(_("Learner's note: %(note)s", note=sub.learner_note), s["body"]))
        shot = attempt.snapshot.get("certification", {})
        held = _(
            "Held to %(code)s version %(version)s.",
            code=shot.get("code", cert.code),
            version=shot.get("version", cert.version),
        )
        out.append(_p(held, s["small"]))
        for d in attempt.decisions:
            a = d.assessment
            line = _(
                "Decision: %(decision)s, by %(assessor)s, %(date)s.",
                decision=_(d.label),
                assessor=a.assessor.display_name(),
                date=when(a.decided_at),
            )
            out.append(_p(line, s["h3"]))
            if a.summary:
                out.append(_p(_("Feedback to the learner: %(feedback)s", feedback=a.summary), s["body"]))
            if d.sampling is not None:
                reasons = "; ".join(reason_words(r) for r in d.sampling.reasons or [])
                if d.sampling.sampled:
                    picked = _("Sampling: sampled for internal verification")
                else:
                    picked = _("Sampling: not sampled")
                out.append(_p(picked + (f" ({reasons})" if reasons else "") + ".", s["small"]))
        for unit in attempt.units():
            out.append(_p(_("Unit %(code)s: %(title)s", code=unit["code"], title=unit["title"]), s["h3"]))
            headings = (_("Criterion"), _("Evidence mapped"), _("Judgement"))
            rows: list[list[Any]] = [[_p(h, s["cell"]) for h in headings]]
            for c in unit["criteria"]:
                evidence = "\n".join(
                    f"{e['title']} ({_word(EVIDENCE_KINDS, e['kind'])})"
                    + "".join(
                        "\n  " + _("file: %(path)s", path=file_paths.get(f["sha256"], f["filename"]))
                        for f in e.get("files", [])
                    )
                    for e in c["evidence"]
                ) or _("none")
                judged = "\n".join(
                    _(
                        "%(judgement)s (%(assessor)s, %(date)s)",
                        judgement=_("Met") if met else _("Not yet met"),
                        assessor=d.assessment.assessor.display_name(),
                        date=when(d.assessment.decided_at),
                    )
                    + (f": {feedback}" if feedback else "")
                    for d, (met, feedback) in c["judged"]
                ) or _("not judged")
                rows.append([_p(f"{c['code']} {c['text']}", s["cell"]), _p(evidence, s["cell"]), _p(judged, s["cell"])])
            out.append(_table(rows, [60 * mm, 55 * mm, 55 * mm]))
        if attempt.verifications:
            out.append(_p(_("Verification"), s["h3"]))
            rows = [[_p(h, s["cell"]) for h in (_("Step"), _("Outcome"), _("Who"), _("When"), _("Why"))]]
            for r in attempt.verifications:
                rows.append(
                    [
                        _p(_("1: internal") if r.step == 1 else _("2: independent"), s["cell"]),
                        _p(_(r.outcome_label), s["cell"]),
                        _p(r.verifier.display_name() if r.verifier else _("system (sampling)"), s["cell"]),
                        _p(when(r.created_at), s["cell"]),
                        _p(r.rationale or "—", s["cell"]),
                    ]
                )
            out.append(_table(rows, [27 * mm, 30 * mm, 30 * mm, 27 * mm, 56 * mm]))
    if not record.attempts:
        out.append(_p(_("Not submitted yet: there is no decision to show."), s["body"]))

    out.append(_p(_("Appeals"), s["h2"]))
    if record.appeals:
        for ap in record.appeals:
            decided = (
                _(
                    "%(status)s by %(who)s, %(date)s: %(rationale)s",
                    status=_(ap.status_label),
                    who=ap.decided_by.display_name() if ap.decided_by else "?",
                    date=when(ap.decided_at),
                    rationale=ap.outcome_rationale,
                )
                if ap.decided_at
                else _(ap.status_label)
            )
            out.append(
                KeepTogether(
                    [
                        _p(_("Lodged %(date)s: %(grounds)s", date=when(ap.lodged_at), grounds=ap.grounds), s["body"]),
                        _p(_("Outcome: %(outcome)s", outcome=decided), s["body"]),
                    ]
                )
            )
    else:
        out.append(_p(_("None."), s["body"]))

    out.append(_p(_("Award and credential"), s["h2"]))
    if record.award is not None:
        aw = record.award
        lines = [
            _(
                "Certificate %(number)s, awarded %(date)s: %(credits)s credits, %(cpd)s CPD points.",
                number=aw.certificate_number,
                date=when(aw.awarded_on),
                credits=aw.credits,
                cpd=aw.cpd_points,
            )
        ]
        if aw.revoked_at:
            lines.append(_("Revoked %(date)s: %(reason)s", date=when(aw.revoked_at), reason=aw.revocation_reason))
        if record.credential is not None:
            cr = record.credential
            lines.append(
                _(
                    "Credential %(id)s, issued %(date)s, signed by key %(kid)s.",
                    id=cr.credential_id,
                    date=when(cr.issued_at),
                    kid=cr.kid,
                )
            )
        out.extend(_p(line, s["body"]) for line in lines)
    else:
        out.append(_p(_("No award."), s["body"]))

    out.append(_p(_("Audit trail"), s["h2"]))
    out.append(
        _p(
            _(
                "%(events)s audit events about this portfolio are in %(path)s, each with its hash. When the pack was "
                "made the head of the tool's audit chain was event %(head)s with hash %(hash)s.",
                events=events,
                path=events_path,
                head=chain_head.get("id"),
                hash=chain_head.get("hash") or _("(empty trail)"),
            ),
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
        title=title,
        author=_("Accreditation portfolio"),
        invariant=1,  # no random document id: the same record gives the same bytes
    )
    doc.build(out, onFirstPage=_footer(record), onLaterPages=_footer(record))
    return buffer.getvalue()


def _word(table: dict[str, str], key: str) -> str:
    """A code table's label (routes, evidence kinds) in the pack's language; an unknown key as it is."""
    return _(table[key]) if key in table else key


def _footer(record: PortfolioRecord) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        line = _(
            "Portfolio #%(id)s: %(learner)s. Page %(page)s.",
            id=record.portfolio.id,
            learner=record.learner,
            page=doc.page,
        )
        canvas.drawString(20 * mm, 10 * mm, line)
        canvas.restoreState()

    return draw

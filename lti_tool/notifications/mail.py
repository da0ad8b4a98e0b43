"""The e-mails: words around a notice in the person's language, a plain-text and an HTML part, and the headers
mail systems expect of automatic mail (Message-ID fixed when queued, Auto-Submitted, List-Unsubscribe with
one-click unsubscribe, RFC 8058)."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from flask import Flask, current_app
from markupsafe import Markup, escape

from lti_tool.launch.tool_urls import TOOL_NAME
from lti_tool.notifications import links
from lti_tool.notifications.messages import Text, chrome

MAX_SUBJECT = 250


class BadAddress(ValueError):
    """Not an address a message can be sent to."""


def parse_address(value: str) -> Address:
    """The address as a header part; BadAddress when it is not one (no '@', line breaks, spaces...)."""
    value = (value or "").strip()
    if not value or any(c in value for c in '\r\n\t <>,;"') or value.count("@") != 1:
        raise BadAddress(value)
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError) as exc:
        raise BadAddress(value) from exc
    if not address.username or "." not in address.domain:
        raise BadAddress(value)
    return address


def usable_address(value: str) -> bool:
    try:
        parse_address(value)
    except BadAddress:
        return False
    return True


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """A header value: no line breaks (they would start a header of the sender's choosing), not too long."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Entry:
    """One notice in a message: its words and where its link leads."""

    text: Text
    url: str
    through_lms: bool  # the link opens the activity in the LMS (else the tool's page for the notice)


def _link_line(entry: Entry, words: dict[str, str]) -> str:
    template = words["open_in_course"] if entry.through_lms else words["open_in_tool"]
    return template.format(action=entry.text.action, url=entry.url)


def _paragraphs(text: str) -> Markup:
    parts = [p for p in text.split("\n\n") if p.strip()]
    return Markup("").join(
        Markup('<p style="margin:0 0 12px">{}</p>').format(Markup("<br>").join(escape(line) for line in p.split("\n")))
        for p in parts
    )


def _button(entry: Entry) -> Markup:
    return Markup(
        '<p style="margin:16px 0"><a href="{url}" style="display:inline-block;padding:10px 16px;'
        'background:#0969da;color:#ffffff;text-decoration:none;border-radius:4px">{action}</a></p>'
    ).format(url=entry.url, action=entry.text.action)


def compose(
    *, name: str, language: str, subject: str, intro: str, entries: list[Entry], unsubscribe_url: str
) -> Composed:
    """A message to one person: greeting, `intro` (may be empty), each notice with its link, and the footer
    with the unsubscribe link."""
    words = chrome(language)
    greeting = words["greeting"].format(name=name) if name else words["greeting"].replace(" {name}", "")
    footer_text = ["-- ", words["why"].format(tool=TOOL_NAME)]
    if unsubscribe_url:
        footer_text.append(f"{words['unsubscribe']}: {unsubscribe_url}")
    footer_text.append(words["settings"])
    text_parts = [greeting, ""]
    if intro:
        text_parts += [intro, ""]
    for entry in entries:
        if len(entries) > 1:
            text_parts += [f"* {entry.text.title}", ""]
        text_parts += [entry.text.body, "", _link_line(entry, words), ""]
    text = "\n".join(text_parts + footer_text) + "\n"

    html_entries = Markup("").join(
        (
            Markup('<h2 style="font-size:17px;margin:20px 0 8px">{}</h2>').format(e.text.title)
            if len(entries) > 1
            else ""
        )
        + _paragraphs(e.text.body)
        + _button(e)
        for e in entries
    )
    html = Markup(
        '<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{subject}</title></head>'
        '<body style="margin:0;padding:16px;font:16px/1.5 -apple-system,Segoe UI,Roboto,sans-serif;color:#1f2328">'
        '<div style="max-width:40rem">'
        '<p style="margin:0 0 12px">{greeting}</p>{intro}{entries}'
        '<hr style="border:0;border-top:1px solid #d0d7de;margin:24px 0 12px">'
        '<p style="font-size:13px;color:#59636e;margin:0 0 6px">{why}</p>'
        "{unsubscribe}"
        '<p style="font-size:13px;color:#59636e;margin:0">{settings}</p>'
        "</div></body></html>"
    ).format(
        lang=language,
        subject=subject,
        greeting=greeting,
        intro=_paragraphs(intro) if intro else "",
        entries=html_entries,
        why=words["why"].format(tool=TOOL_NAME),
        unsubscribe=Markup('<p style="font-size:13px;margin:0 0 6px"><a href="{}">{}</a></p>').format(
            unsubscribe_url, words["unsubscribe"]
        )
        if unsubscribe_url
        else "",
        settings=words["settings"],
    )
    composed = Composed(one_line(subject), text, str(html))
    links.check_no_session_token(composed.text + composed.html)
    return composed


def sender(app: Flask | None = None) -> str:
    configured = str((app or current_app).config.get("MAIL_FROM") or "")
    if configured:
        return configured
    return str(Address(display_name=TOOL_NAME, username="no-reply", domain=links.mail_domain(app)))


def new_message_id(app: Flask | None = None) -> str:
    return email.utils.make_msgid(domain=links.mail_domain(app))


@dataclass(frozen=True)
class Outgoing:
    """What a queued row says, as plain values (the worker reads it once, outside any transaction)."""

    id: int
    to_address: str
    to_name: str
    subject: str
    text: str
    html: str
    language: str
    message_id: str
    unsubscribe_url: str
    attempts: int


def build_message(row: Outgoing, from_address: str) -> EmailMessage:
    """The message as sent: plain text first, then the HTML alternative. BadAddress for an unusable address."""
    msg = EmailMessage()
    msg["Subject"] = one_line(row.subject)
    msg["From"] = from_address
    address = parse_address(row.to_address)
    msg["To"] = Address(display_name=one_line(row.to_name, 200), username=address.username, domain=address.domain)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = row.message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to this
    msg["Content-Language"] = row.language
    if row.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(row.text)
    msg.add_alternative(row.html, subtype="html")
    return msg

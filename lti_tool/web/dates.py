"""One way to write a date or a moment on every page: the `when` template filter.

Written by Babel the way the page's language writes dates ("12 May 2025, 14:03 UTC", "12 de mayo de 2025,
14:03 UTC"), in the person's time zone (the one their browser told the language switch; UTC until then),
the zone always named, inside a <time> element carrying the exact instant. static/local_time.js rewrites it in
the browser's own zone and the page's language. Outside a request (mail, PDFs) it is English and UTC.
"""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, format_datetime
from flask import Flask, has_request_context
from flask_babel import get_locale, get_timezone
from markupsafe import Markup, escape


def _locale_and_zone() -> tuple[str, dt.tzinfo]:
    if not has_request_context():
        return "en_GB", dt.UTC
    locale, zone = get_locale(), get_timezone()
    return (str(locale) if locale is not None else "en_GB"), (zone or dt.UTC)


def text(value: dt.datetime | dt.date, *, time: bool = True) -> str:
    """The words `when` shows, without the element: for places that are not HTML."""
    locale, zone = _locale_and_zone()
    if not isinstance(value, dt.datetime):
        return format_date(value, format="long", locale=locale)
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    local = utc.astimezone(zone)
    day = format_date(local.date(), format="long", locale=locale)
    if not time:
        return day
    clock = format_datetime(local, "HH:mm", tzinfo=zone, locale=locale)
    return f"{day}, {clock} {_zone_name(zone)}"


def _zone_name(zone: dt.tzinfo) -> str:
    """The zone by its place name ("Europe/Madrid"), the same in every language; UTC as UTC."""
    key = getattr(zone, "key", None) or getattr(zone, "zone", None) or str(zone)
    return "UTC" if key in ("UTC", "Etc/UTC") else key.replace("_", " ")


def when(value: dt.datetime | dt.date | str | None, *, time: bool = True) -> Markup:
    """A date, or a moment (naive datetimes are UTC, as the database stores them), as a <time> element. Text is
    a calendar date as stored in JSON (a submission's snapshot keeps an evidence date as "2026-11-20")."""
    if value is None or value == "":
        return Markup("")
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return Markup(escape(value))  # not a date after all: shown as it is rather than failing the page
    if not isinstance(value, dt.datetime):
        # A calendar date (an evidence date, an award date) is the same day everywhere: no zone.
        return Markup(f'<time datetime="{value.isoformat()}">{escape(text(value))}</time>')
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    kind = "moment" if time else "day"
    instant = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup(f'<time datetime="{instant}" data-local="{kind}">{escape(text(utc, time=time))}</time>')


def install(app: Flask) -> None:
    app.add_template_filter(when, "when")

"""One way to write a date or a moment on every page: the `when` template filter.

The server writes UTC with the zone named ("12 May 2025, 14:03 UTC") inside a <time> element carrying the
exact instant; static/local_time.js rewrites it in the browser's own time zone, naming that zone. A
cookie could not carry the zone: inside the LMS iframe the browser blocks the tool's cookies. Without
JavaScript the UTC text stays, and says it is UTC.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask
from markupsafe import Markup, escape

DATE_FORMAT = "%-d %B %Y"
TIME_FORMAT = "%H:%M"


def when(value: dt.datetime | dt.date | None, *, time: bool = True) -> Markup:
    """A date, or a moment (naive datetimes are UTC, as the database stores them), as a <time> element."""
    if value is None:
        return Markup("")
    if not isinstance(value, dt.datetime):
        # A calendar date (an evidence date, an award date) is the same day everywhere: no zone.
        return Markup(f'<time datetime="{value.isoformat()}">{escape(value.strftime(DATE_FORMAT))}</time>')
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    text = utc.strftime(DATE_FORMAT + (", " + TIME_FORMAT + " UTC" if time else ""))
    kind = "moment" if time else "day"
    return Markup(f'<time datetime="{utc.strftime("%Y-%m-%dT%H:%M:%SZ")}" data-local="{kind}">{escape(text)}</time>')


def install(app: Flask) -> None:
    app.add_template_filter(when, "when")

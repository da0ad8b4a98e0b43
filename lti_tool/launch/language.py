"""Which language and time zone a request is served in, and the switch a person changes them with.

The language, first match wins:
1. the one the person chose with the switch, kept with their tool session (Flask's session, which
   page_messages.py keeps server-side under the tool session, so it works without cookies);
2. the launch's `locale` claim (launch_presentation.locale, recorded on the person at every launch);
3. the browser's Accept-Language;
4. English.
A locale the tool has no pages in ("fr-FR" today) is passed over for the next. The time zone is the one the
browser told the switch (static/local_time.js fills it in), else UTC, always named on the page.

The right-to-left pseudo-locale (PSEUDO, generated from the catalogue by `make translations`) is offered only
when LTI_TOOL_PSEUDO_LOCALE is on (by default with the demo platform): it shows untranslated or broken layout.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request, session
from flask_babel import Babel, get_locale, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from werkzeug.wrappers import Response

from lti_tool.launch.session import current_session, login_required
from lti_tool.web.errors import UserError

# The tool's English is British (dates as "12 May 2025"): its words are the catalogue's message ids.
ENGLISH = "en_GB"
# Babel's identifier for the pseudo-locale: Arabic's script direction and plural rules, the catalogue under
# translations/ar@pseudo; pages name it ar-XB (the pseudo-locale convention for mirrored right-to-left text).
PSEUDO = "ar@pseudo"
PSEUDO_TAG = "ar-XB"
# The languages the pages are written in, by Babel identifier, with the name each calls itself.
PAGE_LANGUAGES = {ENGLISH: "English", "es": "Español"}
PRIMARY = {identifier.split("_", 1)[0]: identifier for identifier in PAGE_LANGUAGES}
PSEUDO_NAME = "Pseudo (RTL)"
# Compiled by `make translations` (pybabel compile) from the .po files beside them.
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
SESSION_KEY = "language"
TIMEZONE_KEY = "timezone"

bp = Blueprint("language", __name__)


def languages() -> dict[str, str]:
    """Identifier -> own name of every language a person may choose here."""
    if current_app.config.get("PSEUDO_LOCALE"):
        return {**PAGE_LANGUAGES, PSEUDO: PSEUDO_NAME}
    return dict(PAGE_LANGUAGES)


def match(tag: str | None) -> str | None:
    """The page language for a locale tag ("es-MX", "es_ES", "ar-XB"), or None when the tool has none."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if tag.lower() == PSEUDO_TAG.lower() or tag == PSEUDO:
        return PSEUDO if PSEUDO in languages() else None
    return PRIMARY.get(tag.split("-", 1)[0].lower())


def select_locale() -> str:
    """Flask-Babel's locale selector: the order in this module's docstring (outside a request, as in the
    command line and the workers, English)."""
    if not has_request_context():
        return ENGLISH
    chosen = session.get(SESSION_KEY) if current_session() is not None else None
    if isinstance(chosen, str) and chosen in languages():
        return chosen
    sess = current_session()
    claimed = match(sess.user.locale) if sess is not None else None
    if claimed:
        return claimed
    for tag, _quality in request.accept_languages:
        found = match(tag)
        if found:
            return found
    return ENGLISH


def select_timezone() -> str:
    if not has_request_context():
        return "UTC"
    zone = session.get(TIMEZONE_KEY) if current_session() is not None else None
    return zone if isinstance(zone, str) and valid_timezone(zone) else "UTC"


def valid_timezone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def html_lang() -> str:
    """The page's `lang` attribute (BCP 47)."""
    return language_tag(current_language())


def language_tag(identifier: str) -> str:
    """BCP 47 for a Babel identifier ("pt_BR" -> "pt-BR"; the pseudo-locale -> ar-XB)."""
    return PSEUDO_TAG if identifier == PSEUDO else identifier.replace("_", "-")


def current_language() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else ENGLISH


def text_direction() -> str:
    locale = get_locale()
    return "rtl" if locale is not None and locale.character_order == "right-to-left" else "ltr"


@bp.post("/language")
@login_required
def switch() -> Response:
    """The language switch in every page's footer: kept with the tool session, then back to the page."""
    chosen = request.form.get("language", "")
    if chosen not in languages():
        raise UserError("That language is not offered here.", status=400, title="Unknown language")
    session[SESSION_KEY] = chosen
    zone = request.form.get("timezone", "")
    if valid_timezone(zone):
        session[TIMEZONE_KEY] = zone
    return redirect(_same_site_page(request.form.get("next", "")), code=303)


def _same_site_page(target: str) -> str:
    """Back to the page the switch was on: only a path on this site (never another site's address)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return request.script_root + "/"


def translated(text: str) -> str:
    """A page message (flash) in the page's language when the catalogue has its words: flash() is called with
    plain English, which tools/babel_extract.py finds; one built with values stays as it is."""
    return _(text) if isinstance(text, str) and text else text


def requested_notice(notices: Mapping[str, str]) -> str | None:
    """The confirmation a redirect asked for (`?notice=key`, a key of `notices`: nothing from the request is
    echoed), in the page's language."""
    notice = notices.get(request.args.get("notice", ""))
    return translated(notice) if notice else None


def page_catalogue() -> NullTranslations:
    """The request's catalogue for the templates' words, looked up once per locale and request.

    Flask-Babel's own template callables look the catalogue up again for every string (about ten context
    lookups each, a fifth of a portfolio page's time); this keeps it beside Flask-Babel's locale, and looks
    again when the locale changes (`force_locale`, with which mails are written in their reader's language).
    """
    state = g.get("_flask_babel")
    if state is not None:
        kept = getattr(state, "page_catalogue", None)
        if kept is not None and kept[0] is getattr(state, "babel_locale", None):
            return kept[1]
    catalogue = get_translations()
    state = g.get("_flask_babel")  # made by get_translations when it was not there
    if state is not None:
        state.page_catalogue = (getattr(state, "babel_locale", None), catalogue)
    return catalogue


@pass_context
def _template_gettext(context: Context, message: str, /, **variables: Any) -> str:
    """`_()`, `gettext()` and `{% trans %}` in templates: Jinja's newstyle gettext (the words escaped as the
    template is, then formatted with the escaped variables), calling the catalogue directly. Jinja's own reaches
    it through three context calls (`_` resolves `gettext`, which calls the installed callable), and a portfolio
    page says some seventy things."""
    text = page_catalogue().ugettext(message)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, count: int, /, **variables: Any) -> str:
    variables.setdefault("num", count)
    text = page_catalogue().ungettext(singular, plural, count)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


def _forget_choice(_exc: BaseException | None = None) -> None:
    g.pop("_flask_babel", None)


def install(app: Flask) -> None:
    """Flask-Babel on the app with this module's selectors, and what the base layout needs to say the page's
    language and direction and to offer the switch."""
    Babel(
        app,
        default_locale=ENGLISH,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(TRANSLATIONS),
    )
    # Flask-Babel keeps the chosen locale on `g`, which outlives a request when an app context is shared
    # (tests, CLI): each request chooses again.
    app.teardown_request(_forget_choice)
    # {% trans %} blocks collapse their whitespace, as babel.cfg extracts them (trimmed = true).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: page_catalogue().ugettext(s),
        ngettext=lambda s, p, n: page_catalogue().ungettext(s, p, n),
        pgettext=lambda c, s: page_catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_catalogue().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext)
    app.add_template_global(html_lang)
    app.add_template_global(text_direction)
    app.add_template_global(current_language)
    app.add_template_global(language_tag)
    app.add_template_global(translated)
    app.add_template_global(languages, "page_languages")

"""The words of the portfolio page's criteria map in the page's language: each unit's and outcome's heading,
each criterion's text and link texts, and the criterion states.

The map shows every criterion of the certification (44 for CMIACR). Looking up each one's words in the
catalogue's translations and the message catalogue at every page was most of the page's time, and they depend
only on the certification version, the criteria's own texts and the language: so they are built once and kept
in this process. The key holds every criterion's id and text, so a partner's criterion added, removed or
reworded (in any process) is a new key, never a stale one.

The map's HTML itself is kept too, keyed by everything it shows (those words, each criterion's state, evidence
count, feedback and supporting items' ids and titles, whether the learner may change it, the focused unit):
the macro that writes it reads nothing else but the language, so a learner coming back to an unchanged
portfolio, and every fresh portfolio of a certification, is shown it without rendering it again. Its links
depend on the portfolio and the session (a session token may ride in them), so the kept HTML holds slots that
each page fills with its own URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import get_template_attribute
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from lti_tool.launch.language import translated
from lti_tool.portfolio.catalogue.models import Certification, Criterion, Outcome, Unit
from lti_tool.portfolio.catalogue.translations import localized
from lti_tool.portfolio.coverage import STATE_LABELS, Coverage
from lti_tool.store.memo import Memo


@dataclass(frozen=True)
class CriterionWords:
    text: str
    heads: dict[str, Markup]  # state -> the criterion's summary line (code, state badge) and text, as HTML
    open_label: str  # the link to the criterion's page, when its evidence cannot be changed
    link_label: str  # the same link while the learner can link or unlink evidence
    record_label: str  # the link to record new evidence for it


@dataclass(frozen=True)
class MapWords:
    units: dict[str, str]  # unit code -> "Unit U1: title"
    outcomes: dict[tuple[str, str], str]  # (unit code, outcome code) -> "Outcome 1.1: text"
    criteria: dict[int, CriterionWords]
    states: dict[str, str]  # criterion state -> its label


_kept: Memo[MapWords] = Memo("criteria_map_words", (Certification, Unit, Outcome, Criterion), None, max_entries=512)


def map_words(coverage: Coverage, cert: Certification) -> MapWords:
    """The map's words for this coverage of `cert`, in the request's language."""
    return _kept.get(_words_key(coverage, cert), lambda: _build(coverage, cert))


def _words_key(coverage: Coverage, cert: Certification) -> Hashable:
    texts = tuple((c.id, c.code, c.text, c.partner_specific) for unit in coverage.units for c in unit.criteria)
    return (cert.id, cert.content_hash, str(get_locale()), texts)


class ShownItem(Protocol):
    """What the map shows of an evidence item supporting a criterion."""

    @property
    def id(self) -> int: ...

    @property
    def title(self) -> str: ...


@dataclass(frozen=True)
class MapHtml:
    progress: Markup  # the page's progress by unit (its "By unit" list)
    units: Markup  # the criteria map's units, outcomes and criteria


# ~10-40 KB each: a bound of some megabytes per process.
_html: Memo[tuple[str, str]] = Memo("criteria_map_html", (), None, max_entries=256)
_SLOT = re.compile(r"<@([cr])(\d+)@>")


def map_html(
    coverage: Coverage,
    cert: Certification,
    supporting: Mapping[int, Collection[ShownItem]],
    *,
    editable: bool,
    can_link: bool,
    focus_code: str | None,
    criterion_url: Callable[[int], str],
    record_url: Callable[[int], str],
) -> MapHtml:
    """The progress by unit, and the criteria map's units, outcomes and criteria, as HTML: each criterion
    links to `criterion_url(id)` and (while `editable`) to `record_url(id)`."""
    words_key = _words_key(coverage, cert)
    shown = tuple(
        (
            unit.code,
            tuple(
                (
                    outcome.code,
                    tuple(
                        (
                            c.id,
                            c.state,
                            c.evidence_count,
                            c.feedback,
                            tuple((i.id, i.title) for i in supporting.get(c.id, ())),
                        )
                        for c in outcome.criteria
                    ),
                )
                for outcome in unit.outcomes
            ),
        )
        for unit in coverage.units
    )
    key = (words_key, shown, coverage.assessed, editable, can_link, focus_code)

    def render() -> tuple[str, str]:
        words = _kept.get(words_key, lambda: _build(coverage, cert))
        progress = get_template_attribute("portfolio/_criteria_map.html", "unit_progress")
        units = get_template_attribute("portfolio/_criteria_map.html", "criteria_map")
        return (
            str(progress(coverage.units, words, coverage.assessed)),
            str(units(coverage.units, words, supporting, editable, can_link, focus_code)),
        )

    progress, units = _html.get(key, render)
    links = {"c": criterion_url, "r": record_url}
    return MapHtml(
        progress=Markup(progress),
        units=Markup(_SLOT.sub(lambda slot: str(escape(links[slot[1]](int(slot[2])))), units)),
    )


def _build(coverage: Coverage, cert: Certification) -> MapWords:
    units: dict[str, str] = {}
    outcomes: dict[tuple[str, str], str] = {}
    criteria: dict[int, CriterionWords] = {}
    states = {state: translated(label) for state, label in STATE_LABELS.items()}
    head = get_template_attribute("portfolio/_macros.html", "criterion_head")
    company_specific = _("Company-specific")
    for unit in coverage.units:
        units[unit.code] = _("Unit %(code)s: %(title)s", code=unit.code, title=localized(unit, cert=cert))
        for outcome in unit.outcomes:
            text = localized(outcome, cert=cert)
            outcomes[unit.code, outcome.code] = _("Outcome %(code)s: %(text)s", code=outcome.code, text=text)
            for c in outcome.criteria:
                said = localized(c, cert=cert)
                own = company_specific if c.partner_specific else ""
                criteria[c.id] = CriterionWords(
                    text=said,
                    heads={state: Markup(head(c.code, state, label, said, own)) for state, label in states.items()},
                    open_label=_("Open %(code)s", code=c.code),
                    link_label=_("Link or unlink evidence for %(code)s", code=c.code),
                    record_label=_("Record new evidence for %(code)s", code=c.code),
                )
    return MapWords(units=units, outcomes=outcomes, criteria=criteria, states=states)

"""The portfolio state machine: the one place that says which state may follow which, and who moves it.

Every transition writes an audit event and notifies listeners (grade sync) in the same transaction,
so the LMS learns about exactly the changes that were committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext

from lti_tool.audit import trail as audit
from lti_tool.store.db import utcnow
from lti_tool.web.errors import N_, UserError

DRAFT = "draft"
SUBMITTED = "submitted"  # awaiting assessment
ASSESSED = "assessed"  # judged competent, verification sampling not yet decided
VERIFICATION_1 = "verification_1"  # internal verification (sampled)
VERIFICATION_2 = "verification_2"  # independent verification
SENT_BACK = "sent_back"  # a verifier sent the decision back to the assessor
REFERRED = "referred"  # not yet competent: the learner improves and resubmits
AWARDED = "awarded"
APPEALED = "appealed"

STATE_LABELS: dict[str, str] = {
    DRAFT: "Draft",
    SUBMITTED: "Submitted, awaiting assessment",
    ASSESSED: "Assessed",
    VERIFICATION_1: "In internal verification",
    VERIFICATION_2: "In independent verification",
    SENT_BACK: "Sent back to the assessor",
    REFERRED: "Referred: more evidence needed",
    AWARDED: "Awarded",
    APPEALED: "Under appeal",
}

# (from, to) -> the duty allowed to make the move
TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, SUBMITTED): "learner",
    (REFERRED, SUBMITTED): "learner",
    (SUBMITTED, ASSESSED): "assessor",
    (SUBMITTED, REFERRED): "assessor",
    (SENT_BACK, ASSESSED): "assessor",
    (SENT_BACK, REFERRED): "assessor",
    (ASSESSED, VERIFICATION_1): "system",
    (ASSESSED, VERIFICATION_2): "system",
    (VERIFICATION_1, VERIFICATION_2): "internal_verifier",
    (VERIFICATION_1, SENT_BACK): "internal_verifier",
    (VERIFICATION_2, AWARDED): "independent_verifier",
    (VERIFICATION_2, SENT_BACK): "independent_verifier",
    (REFERRED, APPEALED): "learner",
    (APPEALED, SUBMITTED): "appeal_panel",  # appeal upheld: assessed afresh by someone else
    (APPEALED, REFERRED): "appeal_panel",  # appeal dismissed
}

# Who may make a step, as the refusal says it to someone else.
DUTY_REFUSALS = {
    "learner": N_("Only the learner can make this step."),
    "assessor": N_("Only the assessor can make this step."),
    "system": N_("Only the tool itself can make this step."),
    "internal_verifier": N_("Only the internal verifier can make this step."),
    "independent_verifier": N_("Only the independent verifier can make this step."),
    "appeal_panel": N_("Only the person deciding the appeal can make this step."),
}

# States a learner may edit evidence in.
EDITABLE = frozenset({DRAFT, REFERRED})


class TransitionRefused(UserError):
    status = 409
    title = "That step is not possible now"


def allowed(from_state: str, to_state: str, duty: str) -> bool:
    return TRANSITIONS.get((from_state, to_state)) == duty


def check(from_state: str, to_state: str, duty: str) -> None:
    needed = TRANSITIONS.get((from_state, to_state))
    if needed is None:
        raise TransitionRefused(
            gettext(
                "A portfolio that is '%(from_state)s' cannot become '%(to_state)s'.",
                from_state=state_words(from_state),
                to_state=state_words(to_state),
            )
        )
    if needed != duty:
        raise TransitionRefused(gettext(DUTY_REFUSALS[needed]), status=403)


def state_words(state: str) -> str:
    """A state's label in the page's language (English on the command line), for inside a sentence."""
    return gettext(STATE_LABELS[state]) if state in STATE_LABELS else state


Listener = Callable[[Any, str, str], None]
LISTENERS = "lti_tool.transition_listeners"


def add_listener(app: Flask, listener: Listener) -> None:
    """Have listener(portfolio, from_state, to_state) called inside the transaction of every transition.
    `create_app` registers the app's listeners (grade sync, credentials); nothing registers on import."""
    listeners: list[Listener] = app.extensions.setdefault(LISTENERS, [])
    if listener not in listeners:
        listeners.append(listener)


def remove_listener(app: Flask, listener: Listener) -> None:
    app.extensions.get(LISTENERS, []).remove(listener)


def transition(
    portfolio: Any,
    to_state: str,
    *,
    duty: str,
    actor: Any = None,
    rationale: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Move the portfolio, audit it, and tell listeners; the caller commits."""
    from_state = portfolio.state
    check(from_state, to_state, duty)
    portfolio.state = to_state
    portfolio.state_changed_at = utcnow()
    audit.record(
        f"portfolio.{to_state}",
        actor=actor,
        role=duty,
        subject=portfolio,
        before={"state": from_state},
        after={"state": to_state, **(details or {})},
        rationale=rationale,
    )
    _notify(portfolio, from_state, to_state)


def created(portfolio: Any) -> None:
    """A new portfolio: listeners hear it as a move from no state ("") to its first (the gradebook then
    shows the learner has started), in the transaction that creates it."""
    _notify(portfolio, "", portfolio.state)


def _notify(portfolio: Any, from_state: str, to_state: str) -> None:
    for listener in list(current_app.extensions.get(LISTENERS, ())):
        listener(portfolio, from_state, to_state)


PlacementListener = Callable[[Any, Any], None]
PLACEMENT_LISTENERS = "lti_tool.placement_listeners"


def add_placement_listener(app: Flask, listener: PlacementListener) -> None:
    """Have listener(portfolio, resource_link) called inside the transaction that records another placement
    opening the portfolio (`placed`); `create_app` registers grade sync (the placement's column learns the
    portfolio's state at once)."""
    listeners: list[PlacementListener] = app.extensions.setdefault(PLACEMENT_LISTENERS, [])
    if listener not in listeners:
        listeners.append(listener)


def placed(portfolio: Any, link: Any) -> None:
    """Placement `link` opens `portfolio` from now on (it was started from another one): no state changes."""
    for listener in list(current_app.extensions.get(PLACEMENT_LISTENERS, ())):
        listener(portfolio, link)

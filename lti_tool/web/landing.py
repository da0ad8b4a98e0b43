"""Where a launch lands: sends each person to the page for what they came to do.

`start` is a dispatcher: each area registers a landing with `@landing(order)`; the first landing that
returns a response wins (lower order first), and the welcome page is the fallback. A landing takes
the ToolSession and returns a response, or None to let the next one decide.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import ToolSession
from lti_tool.web.auth import current_session, login_required, require_session

bp = Blueprint("home", __name__)

Landing = Callable[[ToolSession], ResponseReturnValue | None]
_landings: list[tuple[int, Landing]] = []


def landing(order: int = 100) -> Callable[[Landing], Landing]:
    """Register a landing. Suggested orders: 10 placement problems, 20 deep linking, 30 staff work,
    40 instructors, 50 learners."""

    def register(fn: Landing) -> Landing:
        key = (fn.__module__, fn.__qualname__)
        _landings[:] = [(o, f) for o, f in _landings if (f.__module__, f.__qualname__) != key]
        _landings.append((order, fn))
        _landings.sort(key=lambda pair: pair[0])
        return fn

    return register


def landing_location(sess: ToolSession) -> str | None:
    """Where `start` would send this session when that is a redirect, or None when it shows a page.

    The launch asks so that it can send the browser there at once: every launch would otherwise spend a
    whole request on /start only to be redirected. Landings only read, so asking twice is harmless.
    """
    for _, handler in list(_landings):
        response = handler(sess)
        if response is not None:
            is_redirect = isinstance(response, Response) and response.status_code in (302, 303)
            return response.location if is_redirect else None
    return None


@bp.route("/")
def index() -> str:
    return render_template("index.html", sess=current_session())


@bp.route("/start")
@login_required
def start() -> ResponseReturnValue:
    sess = require_session()
    for _, handler in list(_landings):
        response = handler(sess)
        if response is not None:
            return response
    return render_template(
        "start.html",
        sess=sess,
        role_names=lti_roles.describe(sess.roles),
        is_learner=lti_roles.is_learner(sess.roles),
        is_instructor=lti_roles.is_instructor(sess.roles),
    )

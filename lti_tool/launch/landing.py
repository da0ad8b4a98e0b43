"""Where a launch lands: sends each person to the page for what they came to do.

`start` is a dispatcher over the landings `create_app` declares, in that order: the first landing that
returns a response wins, and the welcome page is the fallback. A landing takes the ToolSession and
returns a response, or None to let the next one decide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Blueprint, Flask, current_app, render_template
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from lti_tool.launch import roles as lti_roles
from lti_tool.launch.models import ToolSession
from lti_tool.launch.session import current_session, login_required, require_session

bp = Blueprint("home", __name__)

Landing = Callable[[ToolSession], ResponseReturnValue | None]
LANDINGS = "lti_tool.landings"


def set_landings(app: Flask, landings: Sequence[Landing]) -> None:
    """Declare where launches land, in order: `create_app` calls this once with the whole sequence."""
    app.extensions[LANDINGS] = tuple(landings)


def _landings() -> Sequence[Landing]:
    return current_app.extensions.get(LANDINGS, ())


def landing_location(sess: ToolSession) -> str | None:
    """Where `start` would send this session when that is a redirect, or None when it shows a page.

    The launch asks so that it can send the browser there at once: every launch would otherwise spend a
    whole request on /start only to be redirected. Landings only read, so asking twice is harmless.
    """
    for handler in _landings():
        response = handler(sess)
        if response is not None:
            if isinstance(response, Response) and response.status_code in (302, 303):
                return response.location
            return None
    return None


@bp.route("/")
def index() -> str:
    return render_template("index.html", sess=current_session())


@bp.route("/start")
@login_required
def start() -> ResponseReturnValue:
    sess = require_session()
    for handler in _landings():
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

"""Errors a person can understand: every refusal is a 4xx page (or JSON) saying what to do next."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from lti_tool.store.db import db

log = logging.getLogger(__name__)
DATABASE_RETRY_AFTER = 5  # seconds


def N_(text: str) -> str:
    """Marks words for the catalogue (pybabel extracts N_) that are translated later, when shown."""
    return text


def _translated(text: str | None) -> str | None:
    """The words in the page's language when the catalogue has them (refusals are written in English where
    they are raised: translations/babel_extract.py finds them); words built with values stay as they are."""
    return gettext(text) if text else text


class UserError(Exception):
    """A refusal caused by the request: shown to the person with a hint, never a traceback."""

    status = 400
    title = "Request refused"

    action_url: str | None = None
    action_label: str | None = None
    retry_after: int | None = None  # seconds; sent as Retry-After when trying again later may succeed

    def __init__(
        self, message: str, *, status: int | None = None, title: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.hint = hint


class NotAllowed(UserError):
    status = 403
    title = "Not allowed"


class NotFound(UserError):
    status = 404
    title = "Not found"


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith("/api/") or (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(
    status: int, title: str, message: str, hint: str | None = None, action: tuple[str, str] | None = None
) -> Response:
    title, message = _translated(title) or title, _translated(message) or message
    hint = _translated(hint)
    if action is not None:
        action = (action[0], _translated(action[1]) or action[1])
    if _wants_json():
        body = {"error": title, "message": message}
        if hint:
            body["hint"] = hint
        resp = jsonify(body)
    else:
        resp = Response(render_template("error.html", title=title, message=message, hint=hint, action=action))
    resp.status_code = status
    return resp


def _recover_session(always: bool = False) -> None:
    """Make the database session usable again before an error page is rendered.

    After a failed flush (a row another request changed or removed meanwhile) the session refuses every
    query until it is rolled back, and the error page's layout reads the person's session: rendering it
    then raised PendingRollbackError inside the error handler, and the person got a bare 500. A refusal
    (`always=False`) rolls back only such a failed transaction; an unexpected error rolls back in any case.
    Nothing is lost: no handler commits after an error, so the transaction was to be discarded anyway.
    """
    try:
        if always or not db.session.is_active:
            db.session.rollback()
    except SQLAlchemyError:
        log.warning("rollback before an error page failed", exc_info=True)
        request.environ["lti_tool.session"] = None  # the page must render without asking the database


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StaleDataError)
    def _changed_meanwhile(exc: StaleDataError) -> Response:
        # Two requests changed or removed the same row at once (two tabs, a double click): the later one
        # finds it gone. Nothing of this request was saved; the person reloads and sees the current state.
        log.info("conflict on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
        _recover_session(always=True)
        return error_response(
            409,
            "Changed meanwhile",
            "This was changed or removed by another request at the same moment, so nothing was saved here.",
            hint="Reload the page to see the current state, then try again if you still need to.",
        )

    @app.errorhandler(UserError)
    def _user_error(exc: UserError) -> Response:
        _recover_session()
        log.info("refused %s %s: %s (%s)", request.method, request.path, exc.message, exc.status)
        action = (exc.action_url, exc.action_label or "Continue") if exc.action_url else None
        resp = error_response(exc.status, exc.title, exc.message, exc.hint, action)
        if exc.retry_after is not None:
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        messages = {
            400: N_("The request was malformed or incomplete."),
            404: N_("There is nothing at this address."),
            405: N_("This address does not accept that kind of request."),
            413: gettext(
                "The upload is too large: the limit is %(mb)s MB a request.",
                mb=app.config["MAX_CONTENT_LENGTH"] // 2**20 - 1,
            ),
            429: N_("Too many requests came from your network in a short time. Please wait a minute and try again."),
        }
        # Werkzeug's names of the statuses ("Not Found") are not in the catalogue: the person's words are.
        titles = {
            400: N_("The request could not be read"),
            404: N_("Page not found"),
            405: N_("Not possible at this address"),
            413: N_("Upload too large"),
            429: N_("Too many requests"),
        }
        code = exc.code or 400
        _recover_session()
        return error_response(code, titles.get(code, exc.name), messages.get(code, exc.description or exc.name))

    @app.errorhandler(OperationalError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Response:
        # The database restarted, failed over or is overloaded: the transaction is rolled back whole, so
        # nothing is half-written, and the person is asked to try again instead of shown a failure.
        log.error("database unavailable on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
        try:
            db.session.rollback()
        except SQLAlchemyError:
            # invalidate() is a Session method that the scoped_session proxy does not forward: call it on
            # the request's Session itself.
            db.session().invalidate()
        request.environ["lti_tool.session"] = None  # the page must render without asking the database
        resp = error_response(
            503,
            "Please try again in a moment",
            "The tool could not reach its database just now. Nothing was half-saved.",
            hint="Wait a few seconds and try again. If you were opening the tool from your "
            "course, open the activity again from the course page.",
        )
        resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Last resort: logged with the traceback for us, a calm page for the person.
        log.exception("unexpected error on %s %s", request.method, request.path)
        _recover_session(always=True)
        return error_response(
            500,
            "Something went wrong on our side",
            "The error has been logged. Nothing you saved was lost; please try again.",
        )

"""Form bodies that do not arrive whole: the browser disconnected mid-upload, or a proxy cut the body short.

Werkzeug then quietly hands the application an empty form, which surfaced as "This form has expired", a
message that sends the person looking for the wrong problem. The request class here notes the failure, and
the CSRF check and the upload pages report it as an interrupted upload. The form stays empty, so nothing
of a partial body is ever used.
"""

from __future__ import annotations

from typing import IO, Any

from flask import Flask, Request, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.formparser import FormDataParser
from werkzeug.routing import IntegerConverter

from lti_tool.web.errors import UserError

INCOMPLETE_MESSAGE = (
    "The form did not arrive complete: the connection was interrupted, or the upload was cut "
    "short on its way. Nothing was saved."
)
INCOMPLETE_HINT = "Check your connection, choose your files again and send the form once more."


class IncompleteForm(UserError):
    status = 400
    title = "Upload interrupted"

    def __init__(self) -> None:
        super().__init__(INCOMPLETE_MESSAGE, hint=INCOMPLETE_HINT)


class _NotingParser:
    """Werkzeug's parser, made to raise, with the failure noted on the request and an empty form returned."""

    def __init__(self, parser: FormDataParser, owner: ToolRequest) -> None:
        parser.silent = False
        self._parser, self._owner = parser, owner

    def parse(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str] | None = None
    ) -> Any:
        try:
            return self._parser.parse(stream, mimetype, content_length, options)
        except (ValueError, ClientDisconnected):
            self._owner.form_incomplete = True
            empty = self._owner.parameter_storage_class
            return stream, empty(), empty()


class ToolRequest(Request):
    form_incomplete: bool = False

    def make_form_data_parser(self) -> FormDataParser:
        return _NotingParser(super().make_form_data_parser(), self)  # type: ignore[return-value]


def check_form_complete() -> None:
    """Raises IncompleteForm when this request's form body was cut short."""
    request.form  # noqa: B018  (parsing is what finds out)
    if getattr(request, "form_incomplete", False):
        raise IncompleteForm()


# Row ids are PostgreSQL `integer` columns: no row has an id beyond this, and a larger number sent to the
# database is an overflow error there (or in SQLite beyond 64 bits), not "not found".
MAX_ID = 2**31 - 1


def whole_number(raw: object, *, maximum: int = MAX_ID) -> int | None:
    """The whole number `raw` spells in ASCII digits, from 0 to `maximum`; None for anything else.

    The one way request data becomes a number that may reach the database: str.isdigit() accepts '²' and
    '١' (int() refuses the first), int() accepts '-1', ' 1', '1_000' and 4,000-digit numbers, none of which
    a page of the tool sends.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > len(str(maximum)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= maximum else None


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` in routes, up to MAX_ID: a larger number in a URL is a 404 like any other missing row."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Before any route is added: the routes' int converter is the bounded one."""
    app.request_class = ToolRequest
    app.url_map.converters["int"] = BoundedIntConverter

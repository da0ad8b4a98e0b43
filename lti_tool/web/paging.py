"""The page number a list page was asked for (`?page=`), the one way both the roster and the staff queues read it."""

from __future__ import annotations

from flask import request

# Far past any real list, far below what an SQL OFFSET can hold: `?page=99999999999999999999` is a page
# past the end (shown as the last or an empty page), never an integer overflow in the database.
MAX_PAGE = 100_000


def page_number() -> int:
    """1 for a missing or malformed value; at most MAX_PAGE."""
    value = request.args.get("page", "")
    return min(int(value), MAX_PAGE) if value.isdigit() and value.isascii() else 1

"""Refuses, before any handler runs, requests that no page of the tool and no LTI platform sends: multipart
parts without a name (a TypeError in any code expecting a name) and NUL characters in the path or in
parameters (PostgreSQL cannot store or even compare such text): without this, each was a 500, not a clear 400."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from lti_tool.web.errors import UserError


def _has_nul(pairs: object) -> bool:
    return any("\x00" in (key or "") or "\x00" in value for key, value in pairs)  # type: ignore[attr-defined]


def _nameless(*multidicts: Any) -> bool:
    """A multipart part without `name=`: werkzeug keeps it under the key None, which no handler can expect."""
    return any(not isinstance(key, str) for md in multidicts for key in md.keys())


def install_request_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_characters() -> None:
        with_body = request.method in ("POST", "PUT", "PATCH")
        if with_body and _nameless(request.form, request.files):
            raise UserError(
                "The form contains a part without a name, which no page of the tool sends.",
                status=400,
                title="Malformed request",
                hint="Reload the page and send the form again.",
            )
        form_pairs = request.form.items(multi=True) if with_body else ()
        if "\x00" in request.path or _has_nul(request.args.items(multi=True)) or _has_nul(form_pairs):
            raise UserError(
                "The request contains a NUL character, which no page of the tool or learning platform sends.",
                status=400,
                title="Malformed request",
            )

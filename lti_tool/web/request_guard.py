"""Refuses, before any handler runs, requests that no page of the tool and no LTI platform sends: NUL
characters in the path or in parameters. PostgreSQL cannot store or even compare such text, so without this
a stray %00 would reach the database as a 500 instead of a clear 400."""

from __future__ import annotations

from flask import Flask, request

from lti_tool.web.errors import UserError


def _has_nul(pairs: object) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)  # type: ignore[attr-defined]


def install_request_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_characters() -> None:
        form_pairs = request.form.items(multi=True) if request.method in ("POST", "PUT", "PATCH") else ()
        if "\x00" in request.path or _has_nul(request.args.items(multi=True)) or _has_nul(form_pairs):
            raise UserError(
                "The request contains a NUL character, which no page of the tool or learning platform sends.",
                status=400,
                title="Malformed request",
            )

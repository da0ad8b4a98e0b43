"""The confirmation step before an irreversible administrative action (revoking a staff role or a
registration invite, cancelling a pending role): the first post shows what will happen; only a post carrying
confirm=yes does it."""

from __future__ import annotations

from flask import render_template, request


def confirmed() -> bool:
    return request.form.get("confirm") == "yes"


def confirm_page(
    heading: str,
    facts: list[str],
    action_url: str,
    button: str,
    cancel_url: str,
    fields: dict[str, str] | None = None,
    section: str = "",
) -> str:
    """The page asking for confirmation; it posts `fields` back to `action_url` with confirm=yes."""
    return render_template(
        "admin/confirm_action.html",
        heading=heading,
        facts=facts,
        action_url=action_url,
        button=button,
        cancel_url=cancel_url,
        fields=fields or {},
        section=section,
    )

"""The tool administration console under /admin: reached by an LTI launch, for tool administrators only."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from lti_tool.admin import access, invites, keys, partners, registrations  # noqa: E402,F401  (routes)

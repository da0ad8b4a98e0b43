"""The tool administrators' side: the console under /admin (registrations, deployments, partners, keys,
invites, staff roles), the health endpoint, and the administrators' command lines (`lti-tool registration`,
`deployment`, `keys`, `partner`, `staff`). Reached by an LTI launch; every page checks
identity.access.require_tool_admin; every change is audited.

Owns no rules of its own: it calls the domain modules that hold them (launch.registrations,
identity.partners, identity.grants, ...).

May import: every domain package (store, web, audit, launch, identity, portfolio.*, grading).
Imported by: nothing but lti_tool.app and lti_tool.commands.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from lti_tool.admin import access, invites, keys, partners, registrations  # noqa: E402,F401  (routes)

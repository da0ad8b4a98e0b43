"""The refusal every upload check raises (its own module so the checks can share it without cycles)."""

from __future__ import annotations

from lti_tool.web.errors import UserError


class UploadRefused(UserError):
    status = 400
    title = "File not accepted"

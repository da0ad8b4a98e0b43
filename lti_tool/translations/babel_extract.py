"""pybabel's extractor for the tool's Python code (babel.cfg beside it; `make messages` runs pybabel as `python -m`,
and the tool is installed, so `lti_tool.translations.babel_extract` is importable).

Besides gettext calls (_, gettext, ngettext, lazy_gettext, _l), the words of refusals and page messages are
extracted where they are written, in plain English, so the code that raises them needs no marker:
- the message, title= and hint= of UserError, NotAllowed, NotFound, deny and the other UserError classes
  (REFUSALS);
- the message of flash();
- a UserError subclass's own `title = "..."`;
- the title, body and action of a notice's Template (notifications/messages.py), a notice kind's label;
- the words of a module's `..._LABELS`, `..._KINDS`, `..._CHANNELS`, `..._ROLES`, `ROUTES`, `NOTICES`, `SORTS`
  and `..._FILTERS` tables (states, outcomes, evidence kinds, staff roles, learning routes, the confirmations
  shown after a redirect, sort orders and filters), which are shown through `translated()`.
web/errors.py and base.html translate them when the page is rendered; one built with an f-string cannot be
found in the catalogue, and stays English until it is written with gettext and named placeholders.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from babel.messages.extract import extract_python

# UserError and every subclass of it (tests/test_refusal_words.py keeps this list whole), and deny(); a class
# whose name ends in "Error" is taken for one too.
REFUSALS = {
    "UserError",
    "NotAllowed",
    "NotFound",
    "deny",
    "ArchiveRefused",
    "CatalogueInvalid",
    "ClaimTaken",
    "EvidenceStorageFull",
    "EvidenceStorageUnavailable",
    "InUse",
    "IncompleteDecision",
    "IncompleteForm",
    "ItemGone",
    "NothingToSubmit",
    "OutboundBusy",
    "RetryRefused",
    "RevocationRefused",
    "SessionExpiredLaunch",
    "StaleSubmitForm",
    "TransitionRefused",
    "UploadRefused",
}
WORDS = ("title", "hint")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value else None


def extract(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple]:
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    tree = ast.parse(source.decode("utf-8") if isinstance(source, bytes) else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            found: list[str | None] = []
            if name in REFUSALS or name.endswith("Error") and name[:1].isupper():
                found.append(_text(node.args[0]) if node.args else None)
                found += [_text(k.value) for k in node.keywords if k.arg in WORDS]
            elif name == "flash" and node.args:
                found.append(_text(node.args[0]))
            elif name == "Template":  # notifications/messages.py: (title, body, action)
                found += [_text(a) for a in node.args]
            elif name == "Kind" and len(node.args) >= 3:  # notifications/kinds.py: (name, audience, label)
                found.append(_text(node.args[2]))
            elif name == "NavItem" and len(node.args) >= 2:  # admin/nav.py: (section, label, endpoints)
                found.append(_text(node.args[1]))
            elif name == "error_response":  # (status, title, message, hint=)
                found += [_text(a) for a in node.args[1:4]] + [_text(k.value) for k in node.keywords if k.arg in WORDS]
            for text in found:
                if text and (" " in text.strip() or name in ("Kind", "NavItem")):
                    yield node.lineno, None, text, []
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [getattr(t, "id", "") for t in targets]
            if any(
                n.endswith(("LABELS", "KINDS", "CHANNELS", "ROLES", "ROUTES", "NOTICES", "SORTS", "FILTERS"))
                for n in names
            ):
                for value in node.value.values:
                    text = _text(value)
                    if text:
                        yield node.lineno, None, text, []
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and [getattr(t, "id", "") for t in stmt.targets] == ["title"]
                    and _text(stmt.value)
                ):
                    yield stmt.lineno, None, _text(stmt.value), []

"""Refusals and page messages can be found in the catalogue (issue 21): their words are written where they are
raised, and `make messages` extracts them (lti_tool/translations/babel_extract.py) for web/errors.py and
base.html to show in the page's language. A message built with an f-string, `.format()`, `%` or `+` has no
fixed words to look up, so it stays English on a Spanish page: such a message must be written with gettext and
named placeholders instead, `UserError(gettext("No partner '%(slug)s'.", slug=slug))`.

Read from the source (ast), like the template literal check: every call of UserError or one of its subclasses
(found from the class definitions), deny(), flash(), error_response() and confirm_page() in lti_tool, except the
demo LMS (another product, English only), with its message, title= and hint= (a confirmation page's heading,
facts and button). A name assigned such a string earlier in the same function counts as the string itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from lti_tool.translations.babel_extract import REFUSALS

ROOT = Path(__file__).resolve().parent.parent / "lti_tool"
EXCLUDED = ("demo_platform",)  # the demo LMS stands for another product: English only

# Where the words are, by what is called: positions of the arguments, and keywords.
PAGE_WORDS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "deny": ((0,), ()),
    "flash": ((0,), ()),
    "error_response": ((1, 2, 3), ("hint",)),
    "confirm_page": ((0, 1, 3), ()),  # heading, facts, button
}
REFUSAL_WORDS = ((0,), ("message", "title", "hint"))


def _sources() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(ROOT.rglob("*.py"))
        if not any(part in EXCLUDED for part in path.relative_to(ROOT).parts) and "migrations" not in path.parts
    ]


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def refusal_classes(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """UserError and every class that derives from it, however deep."""
    found = {"UserError"}
    classes = [node for _, tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for node in classes:
            if node.name not in found and any(_name(base) in found for base in node.bases):
                found.add(node.name)
                grew = True
    return found


def _built(node: ast.expr) -> str | None:
    """How a string is built from values, or None for fixed words (or a call, a name, ...)."""
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        if isinstance(node.func.value, ast.Constant | ast.JoinedStr):
            return "str.format()"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = (node.left, node.right)
        if any(isinstance(p, ast.Constant) and isinstance(p.value, str) or _built(p) for p in parts):
            return "+ joining words and values"
    if isinstance(node, ast.IfExp):
        return _built(node.body) or _built(node.orelse)
    return None


def _scopes(tree: ast.Module) -> Iterator[ast.AST]:
    yield tree
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def problems(tree: ast.Module, refusals: set[str], where: str = "") -> list[str]:
    """Each call in `tree` that gives a refusal or page message words built from values."""
    out: set[str] = set()
    for scope in _scopes(tree):
        body = scope.body if isinstance(scope, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef) else [scope]
        nodes = [n for stmt in body for n in ast.walk(stmt)]
        assigned = {
            target.id: how
            for n in nodes
            if isinstance(n, ast.Assign) and (how := _built(n.value))
            for target in n.targets
            if isinstance(target, ast.Name)
        }
        for call in (n for n in nodes if isinstance(n, ast.Call)):
            called = _name(call.func)
            if called in PAGE_WORDS:
                positions, keywords = PAGE_WORDS[called]
            elif called in refusals:
                positions, keywords = REFUSAL_WORDS
            else:
                continue
            given = [call.args[i] for i in positions if i < len(call.args)]
            given += [k.value for k in call.keywords if k.arg in keywords]
            given += [e for g in given if isinstance(g, ast.List | ast.Tuple) for e in g.elts]
            for arg in given:
                how = _built(arg) or (assigned.get(arg.id) if isinstance(arg, ast.Name) else None)
                if how:
                    out.add(f"{where}:{call.lineno}: {called}() is given {how}")
    return sorted(out)


def test_refusals_and_page_messages_are_not_built_from_values():
    trees = _sources()
    refusals = refusal_classes(trees)
    found = [p for path, tree in trees for p in problems(tree, refusals, str(path.relative_to(ROOT.parent)))]
    assert not found, (
        "Write these with gettext and named placeholders, e.g. UserError(gettext(\"No partner '%(slug)s'.\", "
        "slug=slug)), so that the catalogue has their words:\n" + "\n".join(found)
    )


def test_the_check_finds_what_it_looks_for():
    """The checker itself: each way of building a message from values is caught, gettext is not."""
    source = """
def view(slug, n):
    raise UserError(f"No partner {slug}.")
def view2(slug):
    flash("Saved {}.".format(slug), "info")
def view3(slug):
    raise workflow.TransitionRefused("Cannot: %s" % slug)
def view4(slug):
    text = f"Revoked {slug}."
    flash(text, "info")
def view5(slug):
    raise NotFound("No partner", hint="See " + slug)
def view6(slug):
    return confirm_page(gettext("Sure?"), [f"{slug} goes."], "/x", "Yes")
def fine(slug):
    raise UserError(gettext("No partner '%(slug)s'.", slug=slug), hint="Check the name.")
def fine2(message):
    flash(message, "error")
"""
    tree = ast.parse(source)
    classes = ast.parse("class NotFound(UserError): pass\nclass TransitionRefused(UserError): pass")
    found = problems(tree, refusal_classes([(Path("x.py"), classes)]))
    assert sorted(int(line.split(":")[1]) for line in found) == [3, 5, 7, 10, 12, 14], found


def test_the_extractor_knows_every_refusal_class():
    """babel_extract.py finds plain-English refusals by the class raised: each UserError subclass must be in its
    REFUSALS (or be named ...Error, which it also takes), or its refusals never reach the catalogue."""
    missing = sorted(c for c in refusal_classes(_sources()) if c not in REFUSALS and not c.endswith("Error"))
    assert not missing, f"add these to REFUSALS in lti_tool/translations/babel_extract.py: {missing}"

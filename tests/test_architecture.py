"""The package map in ARCHITECTURE.md holds: packages import only the layers below them, no import cycle
between packages, imports inside functions only where a cycle is unavoidable, and importing a module has no
side effect on the app. Read from the source (ast), so it fails on the commit that breaks the rule."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "lti_tool"
SUBPACKAGES = {"catalogue", "evidence", "review", "views"}

# Bottom to top: a package may import the ones before it (ARCHITECTURE.md, "What may import what").
LAYERS = [
    "translations",  # catalogues and their build helpers: import nothing of the tool
    "store",
    "web",
    "audit",
    "launch",
    "identity",
    "portfolio.catalogue",
    "portfolio",
    "portfolio.evidence",
    "portfolio.review",
    "grading",
    "credentials",
    "notifications",
    "portfolio.views",
    "eqa",
    "admin",
    "demo_platform",
    "root",  # app, cli, commands, config, models, housekeeping, wsgi: the wiring
]

# Imports inside functions that are allowed, each with the reason written beside it in the code.
FUNCTION_IMPORTS_ALLOWED = {
    ("portfolio/evidence/storage.py", "lti_tool.portfolio.evidence.storage_s3"),
}


def package_of(module: str) -> str:
    parts = module.split(".")[1:]
    if len(parts) >= 2 and parts[0] == "portfolio" and parts[1] in SUBPACKAGES:
        return f"portfolio.{parts[1]}"
    if len(parts) >= 2 or (parts and (ROOT / parts[0]).is_dir()):
        return parts[0]
    return "root"


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        dotted = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        out.append((path, dotted.removesuffix(".__init__")))
    return out


def _target(node: ast.ImportFrom, name: str) -> str:
    """The module an `from X import name` names: X.name when that is a module or package, else X."""
    assert node.module is not None
    candidate = f"{node.module}.{name}"
    rel = Path(*candidate.split(".")[1:])
    if (ROOT / rel).is_dir() or (ROOT / rel).with_suffix(".py").exists():
        return candidate
    return node.module


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module, *, top_level: bool) -> list[tuple[int, str]]:
    """(line, module) of lti_tool imports: at module level (outside `if TYPE_CHECKING`), or inside functions."""
    found: list[tuple[int, str]] = []

    def visit(nodes: list[ast.stmt], in_function: bool) -> None:
        for node in nodes:
            if _is_type_checking(node):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, True)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, in_function)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lti_tool"):
                if in_function != top_level:
                    found.extend((node.lineno, _target(node, a.name)) for a in node.names)
            elif isinstance(node, ast.Import):
                if in_function != top_level:
                    found.extend((node.lineno, a.name) for a in node.names if a.name.startswith("lti_tool"))
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        visit([n for n in inner if isinstance(n, ast.stmt | ast.ExceptHandler)], in_function)
                if isinstance(node, ast.ExceptHandler):
                    visit(node.body, in_function)

    visit(tree.body, False)
    return found


def _package_edges() -> dict[str, dict[str, set[str]]]:
    edges: dict[str, dict[str, set[str]]] = {}
    for path, module in _modules():
        source = package_of(module + ".__init__" if path.name == "__init__.py" else module)
        if path.name == "__init__.py" and module.count(".") == 1 and module != "lti_tool":
            source = module.split(".")[1]
        for line, target in _imports(ast.parse(path.read_text()), top_level=True):
            dest = package_of(target)
            if dest != source:
                edges.setdefault(source, {}).setdefault(dest, set()).add(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_every_package_is_in_the_layer_map():
    packages = {package_of(m + ".x") if p.name == "__init__.py" else package_of(m) for p, m in _modules()}
    assert packages <= set(LAYERS), f"add {packages - set(LAYERS)} to LAYERS and to ARCHITECTURE.md"


def test_packages_import_only_layers_below_them():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = [
        f"{source} -> {dest} ({', '.join(sorted(where))})"
        for source, dests in _package_edges().items()
        for dest, where in dests.items()
        if rank[dest] > rank[source]
    ]
    assert not upward, "imports against the layer order (ARCHITECTURE.md):\n" + "\n".join(upward)


def test_imports_inside_functions_only_where_a_cycle_is_unavoidable():
    found = {
        (str(path.relative_to(ROOT)), target)
        for path, _ in _modules()
        for _, target in _imports(ast.parse(path.read_text()), top_level=False)
    }
    assert found == FUNCTION_IMPORTS_ALLOWED


@pytest.mark.parametrize("package", [p for p in LAYERS if p != "root"])
def test_each_package_says_what_it_owns_and_may_import(package):
    init = ROOT.joinpath(*package.split(".")) / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert "May import:" in doc and len(doc.split("May import:")[0].strip()) > 40, init


def test_importing_the_package_wires_nothing():
    """No import-time side effects: `import lti_tool` loads no module, and importing a domain module loads
    no blueprint registration, landing or listener into an app (create_app does that)."""
    code = (
        "import sys, lti_tool; "
        "assert [m for m in sys.modules if m.startswith('lti_tool.')] == [], sys.modules; "
        "import lti_tool.portfolio.workflow as w, lti_tool.launch.landing as l; "
        "assert not [k for m in (w, l) for k, v in vars(m).items() "
        "if isinstance(v, (list, dict)) and not k.startswith('__') and not k.isupper()]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent)


def test_templates_are_pages_not_accidents():
    """Each template is one page or fragment: a botched edit once repeated verify.html 2,118 times (5.5 MB),
    and every test that rendered it paid 46 s to compile it."""
    templates = ROOT / "templates"
    too_big = [
        f"{p.relative_to(templates)}: {p.stat().st_size} bytes"
        for p in templates.rglob("*.html")
        if p.stat().st_size > 30_000
    ]
    assert not too_big
    for path in templates.rglob("*.html"):
        text = path.read_text()
        if "{% extends" in text:
            assert text.count("{% extends") == 1 and text.lstrip().startswith("{% extends"), path

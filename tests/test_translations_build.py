"""A clean clone compiles its catalogues: `make translations` builds every language's .mo and the generated
right-to-left pseudo-locale from what git holds (the .mo files themselves are not committed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.support import Translations

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_translations_compiles_what_git_holds(tmp_path):
    tracked = subprocess.run(
        ["git", "ls-files", "Makefile", "lti_tool/translations"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "lti_tool/translations/es/LC_MESSAGES/messages.po" in tracked
    assert not [name for name in tracked if name.endswith(".mo")], "compiled catalogues are built, not committed"
    for name in tracked:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    stamp = VENV / ".installed"
    # The virtualenv is this one (installed already): -o keeps make from installing it again.
    result = subprocess.run(
        ["make", "-o", str(stamp), f"VENV={VENV}", "translations"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = tmp_path / "lti_tool" / "translations"
    spanish = Translations.load(str(built), ["es"])
    assert spanish.gettext("Skip to content") == "Saltar al contenido"
    assert spanish.ngettext("unread notice", "unread notices", 2) == "avisos sin leer"
    pseudo = Translations.load(str(built), ["ar@pseudo"])
    assert pseudo.gettext("Skip to content").startswith("\u202e")
    assert pseudo.gettext("Signed in as <strong>%(name)s</strong>").count("%(name)s") == 1
    # Run again: nothing left to do.
    again = subprocess.run(
        ["make", "-o", str(stamp), f"VENV={VENV}", "-q", "translations"], cwd=tmp_path, capture_output=True
    )
    assert again.returncode == 0

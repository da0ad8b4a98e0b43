"""A small, valid catalogue file for tests, and ways to write variants of it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

SAMPLE = '''
code = "TESTCM"
title = "Test Central Monitor"
description = """
First paragraph
of the description.

Second paragraph.
"""
isced_level = "ED6"
isced_field = "0988"
framework = "JTF Core Competency Framework for Clinical Research Professionals, version 3.1"
credits = 3

[[units]]
code = "U1"
title = "Risk-based quality management"
credits = 2
framework_refs = ["JTF 4: Clinical Study Operations (GCPs)"]

  [[units.outcomes]]
  code = "U1.1"
  text = "Identify critical-to-quality factors."

    [[units.outcomes.criteria]]
    code = "U1.1.1"
    text = "The learner can identify the critical-to-quality factors of a protocol."

    [[units.outcomes.criteria]]
    code = "U1.1.2"
    text = "The learner can contribute to a risk assessment."

  [[units.outcomes]]
  code = "U1.2"
  text = "Define quality tolerance limits."

    [[units.outcomes.criteria]]
    code = "U1.2.1"
    text = "The learner can propose quality tolerance limits with a rationale."

[[units]]
code = "U2"
title = "Communicating findings"
credits = 1

  [[units.outcomes]]
  code = "U2.1"
  text = "Escalate findings."

    [[units.outcomes.criteria]]
    code = "U2.1.1"
    text = "The learner can escalate a finding within the defined timelines."
'''


def sample_raw() -> dict[str, Any]:
    return tomllib.loads(SAMPLE)


def write_sample(
    directory: Path, replacements: dict[str, str] | None = None, name: str = "testcm.toml", text: str = SAMPLE
) -> Path:
    """Write the sample into `directory`, with each `old: new` text replacement applied."""
    for old, new in (replacements or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path

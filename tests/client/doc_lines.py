"""The lines the docs tell users to add, read from trainer_client/README.md, so the tests run exactly those."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["README", "doc_lines"]

README = Path(__file__).resolve().parents[2] / "trainer_client" / "README.md"
MAX_LINES = 5  # what the docs promise per framework


def doc_lines(name: str) -> list[str]:
    """The non-blank lines of the fenced block after `<!-- lines: name -->` in the client README."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- lines: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", text, re.S)
    if match is None:
        raise AssertionError(f"{README} has no block marked <!-- lines: {name} -->")
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert 0 < len(lines) <= MAX_LINES, f"the {name} block has {len(lines)} lines; the docs promise at most 5"
    return lines

"""Paths and tools for the deploy tests; the monitoring lab lives in scripts/promlab.py (shared with the picture)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# scripts/promlab.py (the monitoring lab) is shared with scripts/dashboard_picture.py.
sys.path.insert(0, str(ROOT / "scripts"))


def tool(name: str) -> str:
    """A CLI the deploy tests need: from the venv (hadolint, kubernetes-validate) or the system (promtool)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: run scripts/setup.sh and scripts/install-ci-tools.sh")
    return found

"""Running a conformance script under a framework's released code, in a subprocess (so a framework version, or the
Ray stand-in, never leaks into the rest of the test session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def run_script(
    script: str,
    args: list[str],
    path: list[Path],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 240,
) -> dict[str, Any]:
    """Run `tests/client/conformance/<script>` with `path` first on PYTHONPATH; return the JSON its last line
    prints."""
    pythonpath = os.pathsep.join([*(str(p) for p in path), str(REPO)])
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": pythonpath, "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])

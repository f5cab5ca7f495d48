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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve_reward(line: str, judge_url: str) -> tuple[subprocess.Popen[str], int, str]:
    """Run a documented `python -m trainer_client serve-reward ...` line as a user would, with `--url` and `--port`
    pointed at this test's judge and a free port; returns (process, port, its first line) once it listens."""
    words = line.split()
    assert words[:4] == ["python", "-m", "trainer_client", "serve-reward"], line
    args, port = words[4:], free_port()
    args[args.index("--url") + 1] = judge_url
    args[args.index("--port") + 1] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer_client", "serve-reward", *args], stdout=subprocess.PIPE, text=True
    )
    banner = proc.stdout.readline() if proc.stdout is not None else ""
    assert "reward server on" in banner, banner
    return proc, port, banner

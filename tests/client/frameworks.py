"""The RL frameworks' released code, for the conformance tests: installed from PyPI without their heavy dependencies.

Each framework is installed once per machine, `--no-deps`, into its own folder of a cache
(`~/.cache/agent-rrm/frameworks/<name>`, or `$RRM_FRAMEWORK_CACHE`), with the few light packages the modules under
test import; a test puts that folder first on `sys.path` (or a subprocess's `PYTHONPATH`) and imports only the
modules on the path it exercises. Ray is not installed: verl's reward path imports its name but never calls it
there, so `ray_stub/` stands in for it (its decorators are no-ops, anything else raises).

The pins below are what the tests name; moving a pin is how a new framework release is checked.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["FRAMEWORKS", "RAY_STUB", "install"]

# name → (what the tests say they check, pip requirements installed --no-deps)
FRAMEWORKS: dict[str, tuple[str, list[str]]] = {
    # The oldest TRL trainer_client allows (trainer_client/pyproject.toml); the newest is the one `make setup`
    # installs into .venv.
    "trl-floor": ("trl 1.15.0", ["trl==1.15.0"]),
    "verl": (
        "verl 0.9.1",
        [
            "verl==0.9.1",
            "tensordict==0.10.0",
            "pyvers==0.1.0",
            "omegaconf==2.3.0",
            "antlr4-python3-runtime==4.9.3",
            "cloudpickle==3.1.3",
            "orjson==3.13.0",
        ],
    ),
    "openrlhf": ("openrlhf 0.11.2", ["openrlhf==0.11.2", "pylatexenc==2.10"]),
}

RAY_STUB = Path(__file__).resolve().parent / "ray_stub"
CACHE = Path(os.environ.get("RRM_FRAMEWORK_CACHE", Path.home() / ".cache" / "agent-rrm" / "frameworks"))


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    # scripts/setup.sh installs uv into the interpreter that made .venv.
    probe = subprocess.run(
        ["python3", "-c", "import uv; print(uv.find_uv_bin())"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0 and probe.stdout.strip():
        return [probe.stdout.strip()]
    raise RuntimeError("the conformance tests install frameworks with uv: run `make setup` (it installs uv)")


def install(name: str) -> Path:
    """The folder holding framework `name` (a key of `FRAMEWORKS`), installed on first use.

    Raises:
        RuntimeError: The install failed (no registry reachable, a pin gone); the message has uv's output.
    """
    _, requirements = FRAMEWORKS[name]
    target = CACHE / name
    stamp = target / ".installed"
    wanted = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions share the cache
        if stamp.exists() and stamp.read_text() == wanted:
            return target
        shutil.rmtree(target, ignore_errors=True)
        cmd = [*_uv(), "pip", "install", "-q", "--no-deps", "--target", str(target), "--python", sys.executable]
        result = subprocess.run([*cmd, *requirements], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"installing {requirements} failed:\n{result.stdout}\n{result.stderr}")
        stamp.write_text(wanted)
    return target

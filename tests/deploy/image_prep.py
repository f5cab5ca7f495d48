"""The cpu image's slow preparation (start a Docker engine, make the base image, build), begun as soon as pytest has
collected `tests/deploy/test_image.py`, in a background thread, so that its minutes of downloading and unpacking
overlap the tests that run before that module instead of adding to the suite's time.

`tests/conftest.py` calls `start()` after collection and `finish()` at the end of the session; test_image's
fixtures take the result with `result()` and hand the engine back with `finish()` at the end of their module.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.docker_engine import Docker, base_image, build_cpu_image, running_engine

__all__ = ["Prepared", "finish", "result", "start"]

ROOT = Path(__file__).resolve().parents[2]
TAG = "agent-rrm:cpu-test"


@dataclass
class Prepared:
    docker: Docker
    tag: str
    stop: contextlib.ExitStack  # closing it removes the test's containers and stops its dockerd


_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-prep")
_future: concurrent.futures.Future[Prepared] | None = None
_logs: Path | None = None


def _prepare(logs: Path) -> Prepared:
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        docker = stack.enter_context(running_engine(logs / "dockerd.log"))
        started = time.monotonic()
        base = base_image(docker, logs / "base.log")
        based = time.monotonic() - started
        built = build_cpu_image(docker, ROOT, base, TAG, logs / "build.log")
        (logs / "timings.json").write_text(json.dumps({"base_s": round(based, 1), "build_s": round(built, 1)}))
        return Prepared(docker, TAG, stack.pop_all())
    raise AssertionError("unreachable")  # for mypy: the with block returns or raises


def start(logs: Path) -> None:
    """Begin preparing (once)."""
    global _future, _logs
    if _future is None:
        _logs = logs
        _future = _pool.submit(_prepare, logs)


def result(logs: Path, timeout: float = 2400) -> Prepared:
    """The prepared engine and image (preparing now if nothing started it); raises what preparing raised."""
    start(logs)
    assert _future is not None
    return _future.result(timeout)


def finish() -> None:
    """Stop the engine (waiting for a preparation still running); safe to call more than once."""
    global _future
    future, _future = _future, None
    if future is None:
        return
    with contextlib.suppress(Exception):
        future.result(2400).stop.close()

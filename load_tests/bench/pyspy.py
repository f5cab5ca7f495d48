"""Profile a process tree with py-spy while it works, and say where its CPU time went.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;… count``), one line per distinct stack of a
non-idle thread; `summarize` turns them into shares of samples per process, per function of the project's own code
(inclusive) and per leaf function (where the CPU actually was).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProfileSummary", "find_py_spy", "record", "summarize"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def find_py_spy() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def record(pid: int, out: Path, *, rate: int = 50) -> Iterator[None]:
    """Sample `pid` and its children into `out` (collapsed stacks) for the duration of the block."""
    exe = find_py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", str(rate)]
    argv += ["--nolineno", "--nonblocking", "--output", str(out)]
    with out.with_suffix(".log").open("w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class ProfileSummary:
    """Shares (0..1) of the samples of one process."""

    process: str
    samples: int
    processes: dict[str, int]  # samples per process of the tree
    own_inclusive: list[tuple[str, float]]  # project functions, time spent in them or below
    leaves: list[tuple[str, float]]  # functions where the CPU was


def _parse(line: str) -> tuple[list[str], int] | None:
    stack, _, count = line.rpartition(" ")
    if not stack or not count.isdigit():
        return None
    return stack.split(";"), int(count)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match.group("file").split("site-packages/", 1)[-1]  # py-spy already shortens most paths
    return f"{match.group('func')} ({file})"


def summarize(
    raw: Path, *, pid: int | None = None, own_prefixes: tuple[str, ...] = ("service/",), top: int = 15
) -> ProfileSummary:
    """Where one process of a py-spy raw profile spent its samples.

    Args:
        raw: py-spy ``--format raw`` output recorded with ``--subprocesses``.
        pid: The process to look into (default: the one with the most samples).
        own_prefixes: Module paths (as py-spy names them) that count as the project's own code.
        top: How many functions to list.

    Returns:
        The summary of that process, and the samples of every process of the tree.
    """
    per_process: Counter[str] = Counter()
    stacks: list[tuple[str, list[str], int]] = []
    for line in raw.read_text("utf-8", errors="replace").splitlines():
        parsed = _parse(line)
        if parsed is None:
            continue
        frames, count = parsed
        # A child's stacks start with its ancestors' process frames, then its own: the last one names it.
        depth = next((i for i, f in enumerate(frames) if not f.startswith("process ")), len(frames))
        process = frames[depth - 1] if depth else "process ?"
        body = frames[depth:]
        per_process[process] += count
        stacks.append((process, body, count))
    if not per_process:
        return ProfileSummary("none", 0, {}, [], [])
    chosen = [p for p in per_process if pid is not None and p.startswith(f"process {pid}:")]
    busiest, total = (chosen[0], per_process[chosen[0]]) if chosen else per_process.most_common(1)[0]
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for process, frames, count in stacks:
        if process != busiest:
            continue
        names = [_short(f) for f in frames if not f.startswith("thread ")]
        if names:
            leaves[names[-1]] += count
        for name in set(names):
            if any(f"({prefix}" in name for prefix in own_prefixes):
                inclusive[name] += count
    return ProfileSummary(
        process=busiest,
        samples=total,
        processes=dict(per_process.most_common()),
        own_inclusive=[(name, n / total) for name, n in inclusive.most_common(top)],
        leaves=[(name, n / total) for name, n in leaves.most_common(top)],
    )

"""A one-line progress display on a stream (stderr), redrawn in place on a terminal, appended otherwise."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TextIO

from load_tests.results import RequestResult

__all__ = ["format_progress", "progress_loop"]


def format_progress(
    results: Sequence[RequestResult], *, total: int, in_flight: int, elapsed_s: float, mode: str
) -> str:
    """The progress line: requests done, outcomes so far, judgments/s, elapsed time.

    Args:
        results: Results so far.
        total: Requests planned.
        in_flight: Requests sent and not yet answered.
        elapsed_s: Seconds since the run started.
        mode: ``open`` or ``closed``, shown first.

    Returns:
        One line without a newline.

    Example:
        >>> format_progress([], total=10, in_flight=2, elapsed_s=1.0, mode="closed")
        '[closed] 0/10 done, 2 in flight | ok 0  429 0  5xx 0  err 0 | 0.0 judgments/s | 1.0 s'
    """
    counts = Counter(r.outcome for r in results)
    judgments = sum(r.judgments for r in results)
    errors = len(results) - counts["ok"] - counts["http_429"] - counts["http_5xx"]
    rate = judgments / elapsed_s if elapsed_s > 0 else 0.0
    return (
        f"[{mode}] {len(results)}/{total} done, {in_flight} in flight | ok {counts['ok']}  "
        f"429 {counts['http_429']}  5xx {counts['http_5xx']}  err {errors} | {rate:.1f} judgments/s | "
        f"{elapsed_s:.1f} s"
    )


async def progress_loop(stream: TextIO, render: Callable[[], str], stop: asyncio.Event) -> None:
    """Write `render()` to `stream` until `stop` is set, then once more and a newline.

    On a terminal the line is redrawn every 0.5 s with a carriage return; otherwise (a log file, CI) a full
    line is appended every 5 s so the log stays readable.

    Args:
        stream: Where to write (the CLI passes stderr).
        render: Makes the current line.
        stop: Set when the run is over.
    """
    tty = stream.isatty()
    interval = 0.5 if tty else 5.0
    width = 0
    while True:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        line = render()
        if tty:
            stream.write("\r" + line.ljust(width))
            width = max(width, len(line))
        else:
            stream.write(line + "\n")
        if stop.is_set():
            if tty:
                stream.write("\n")
            stream.flush()
            return
        stream.flush()

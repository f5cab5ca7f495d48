"""The end-of-run summary of the `judge` command: count, failures by reason, score distribution. Pure."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Summary", "format_summary", "summarize"]

_BINS = 5


@dataclass
class Summary:
    count: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def summarize(records: Iterable[Mapping[str, Any]]) -> Summary:
    """Tally judgment records (dicts as written by the `judge` command).

    Example:
        >>> s = summarize([{"status": "ok", "score": 0.5}, {"status": "failed", "reason": "timeout"}])
        >>> s.count, s.ok, dict(s.failures)
        (2, 1, {'timeout': 1})
    """
    summary = Summary()
    for record in records:
        summary.count += 1
        if record.get("status") == "ok" and record.get("score") is not None:
            summary.ok += 1
            summary.scores.append(float(record["score"]))
        else:
            summary.failures[str(record.get("reason") or "unknown")] += 1
    return summary


def _histogram(scores: list[float]) -> list[str]:
    counts = [0] * _BINS
    for s in scores:
        counts[min(int(s * _BINS), _BINS - 1)] += 1
    top = max(counts) or 1
    lines = []
    for i, n in enumerate(counts):
        lo, hi = i / _BINS, (i + 1) / _BINS
        bracket = "]" if i == _BINS - 1 else ")"
        lines.append(f"  [{lo:.1f}, {hi:.1f}{bracket} {'#' * round(30 * n / top):<30} {n}")
    return lines


def format_summary(summary: Summary) -> str:
    """Human-readable summary.

    Example:
        >>> print(format_summary(summarize([{"status": "ok", "score": 1.0}])).splitlines()[0])
        judged 1: 1 ok, 0 failed
    """
    lines = [f"judged {summary.count}: {summary.ok} ok, {summary.failed} failed"]
    if summary.failures:
        lines.append("failures: " + ", ".join(f"{r} {n}" for r, n in summary.failures.most_common()))
    if summary.scores:
        s = summary.scores
        lines.append(
            f"scores: mean {statistics.fmean(s):.3f}, median {statistics.median(s):.3f}, "
            f"min {min(s):.3f}, max {max(s):.3f}"
        )
        lines.extend(_histogram(s))
    return "\n".join(lines)

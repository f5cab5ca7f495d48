"""Latency statistics: percentiles by linear interpolation (numpy's default method), mean and max."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LatencyStats", "latency_stats", "percentile"]


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile of ascending values, interpolating linearly between the two nearest ranks.

    Matches ``numpy.percentile(values, q)`` (method "linear"): rank ``(n - 1) * q / 100``.

    Args:
        sorted_values: Values in ascending order; not empty.
        q: Percentile in [0, 100].

    Returns:
        The interpolated value.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of a set of durations in seconds; all None when there were none."""

    n: int
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


def latency_stats(values: Iterable[float]) -> LatencyStats:
    """Summarise durations.

    Args:
        values: Durations in seconds, in any order.

    Returns:
        Count, mean, p50/p95/p99 and max (None fields when `values` is empty).

    Example:
        >>> latency_stats([0.1, 0.2, 0.3]).p50
        0.2
    """
    xs = sorted(values)
    if not xs:
        return LatencyStats(n=0)
    return LatencyStats(
        n=len(xs),
        mean=math.fsum(xs) / len(xs),
        p50=percentile(xs, 50),
        p95=percentile(xs, 95),
        p99=percentile(xs, 99),
        max=xs[-1],
    )

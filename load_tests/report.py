"""A load run's report: counts, rates and latencies computed from the per-request results.

Rates divide by the run's elapsed wall time (start to the last response). Latency is measured per request
(send to full response, 200s only) and per item: every judgment of a 200 response counts its request's latency
once, so ``latency_item`` weights a request of 8 items 8 times — what a trainer waiting on each judgment
experiences.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from load_tests.results import OUTCOMES, Outcome, RequestResult
from load_tests.stats import LatencyStats, latency_stats

__all__ = ["Report", "StopReason", "build_report", "format_summary"]

StopReason = Literal["requests", "duration"]
_OTHER_ERRORS: tuple[Outcome, ...] = ("http_error", "bad_response", "timeout", "transport_error")


@dataclass(frozen=True)
class Report:
    """Everything a load run measured; `to_dict()` is its machine-readable form."""

    config: dict[str, Any]
    elapsed_s: float
    stopped_by: StopReason
    requests_planned: int
    requests_sent: int
    requests_skipped: int
    outcomes: dict[str, int]
    requests_ok: int
    requests_429: int
    requests_5xx: int
    requests_other_errors: int
    requests_cancelled: int
    items_sent: int
    judgments: int
    judgments_ok: int
    judgments_failed: int
    failed_by_reason: dict[str, int]
    cached: int
    prompt_tokens: int
    completion_tokens: int
    requests_per_s: float
    judgments_per_s: float
    ok_judgments_per_s: float
    prompt_tokens_per_s: float
    completion_tokens_per_s: float
    latency_request: LatencyStats
    latency_item: LatencyStats
    send_lag: LatencyStats
    error_types: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def build_report(
    results: Sequence[RequestResult],
    *,
    config: dict[str, Any],
    elapsed_s: float,
    planned: int,
    skipped: int = 0,
    stopped_by: StopReason = "requests",
) -> Report:
    """Aggregate per-request results into a `Report`.

    Args:
        results: One result per request sent.
        config: The run's settings, copied into the report (no secrets).
        elapsed_s: Wall time of the run, for the rates.
        planned: Requests the run meant to send.
        skipped: Open loop: requests not sent because too many were in flight.
        stopped_by: Whether the request count or the duration ended the run.

    Returns:
        The report.

    Example:
        >>> from load_tests.results import RequestResult
        >>> r = RequestResult(index=0, n_items=2, sent_at=0.0, latency_s=0.5, outcome="ok", judgments_ok=2)
        >>> build_report([r], config={}, elapsed_s=1.0, planned=1).judgments_per_s
        2.0
    """
    outcomes = Counter(r.outcome for r in results)
    ok = [r for r in results if r.outcome == "ok"]
    reasons: Counter[str] = Counter()
    for r in ok:
        reasons.update(r.failed_reasons)
    judgments_ok = sum(r.judgments_ok for r in ok)
    judgments = judgments_ok + sum(reasons.values())
    prompt_tokens = sum(r.prompt_tokens for r in ok)
    completion_tokens = sum(r.completion_tokens for r in ok)
    per_s = 1.0 / elapsed_s if elapsed_s > 0 else 0.0
    return Report(
        config=config,
        elapsed_s=elapsed_s,
        stopped_by=stopped_by,
        requests_planned=planned,
        requests_sent=len(results),
        requests_skipped=skipped,
        outcomes={name: outcomes.get(name, 0) for name in OUTCOMES},
        requests_ok=len(ok),
        requests_429=outcomes["http_429"],
        requests_5xx=outcomes["http_5xx"],
        requests_other_errors=sum(outcomes[name] for name in _OTHER_ERRORS),
        requests_cancelled=outcomes["cancelled"],
        items_sent=sum(r.n_items for r in results),
        judgments=judgments,
        judgments_ok=judgments_ok,
        judgments_failed=judgments - judgments_ok,
        failed_by_reason=dict(sorted(reasons.items())),
        cached=sum(r.cached for r in ok),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        requests_per_s=len(ok) * per_s,
        judgments_per_s=judgments * per_s,
        ok_judgments_per_s=judgments_ok * per_s,
        prompt_tokens_per_s=prompt_tokens * per_s,
        completion_tokens_per_s=completion_tokens * per_s,
        latency_request=latency_stats(r.latency_s for r in ok),
        latency_item=latency_stats(r.latency_s for r in ok for _ in range(r.judgments)),
        send_lag=latency_stats(r.sent_at - r.scheduled_at for r in results if r.scheduled_at is not None),
        error_types=dict(sorted(Counter(r.error_type for r in results if r.error_type).items())),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _latency_line(name: str, s: LatencyStats) -> str:
    quantiles = "  ".join(f"{label} {_ms(v):>9}" for label, v in (("p50", s.p50), ("p95", s.p95), ("p99", s.p99)))
    return f"{name:<18} n={s.n:<6} {quantiles}  max {_ms(s.max):>9}"


def format_summary(report: Report) -> str:
    """A few lines for a person: what was sent, what came back, how fast, how long it took.

    Example:
        >>> print(format_summary(build_report([], config={}, elapsed_s=1.0, planned=0)).splitlines()[0])
        requests: 0 sent of 0 planned (0 skipped), stopped by requests after 1.0 s
    """
    r = report
    errors = ", ".join(f"{k} {v}" for k, v in r.outcomes.items() if v and k != "ok") or "none"
    reasons = ", ".join(f"{k} {v}" for k, v in r.failed_by_reason.items()) or "none"
    lines = [
        f"requests: {r.requests_sent} sent of {r.requests_planned} planned ({r.requests_skipped} skipped), "
        f"stopped by {r.stopped_by} after {r.elapsed_s:.1f} s",
        f"responses: {r.requests_ok} ok; errors: {errors}",
        f"judgments: {r.judgments} ({r.judgments_ok} ok, {r.judgments_failed} failed: {reasons}; {r.cached} cached)",
        f"throughput: {r.judgments_per_s:.2f} judgments/s ({r.ok_judgments_per_s:.2f} ok), "
        f"{r.requests_per_s:.2f} requests/s, {r.prompt_tokens_per_s:.0f} prompt tok/s, "
        f"{r.completion_tokens_per_s:.0f} output tok/s",
        _latency_line("latency / request", r.latency_request),
        _latency_line("latency / item", r.latency_item),
    ]
    if r.send_lag.n:
        lines.append(_latency_line("send lag (open)", r.send_lag))
    if r.error_types:
        lines.append("error types: " + ", ".join(f"{k} {v}" for k, v in r.error_types.items()))
    return "\n".join(lines)

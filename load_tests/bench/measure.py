"""The benchmark's numbers: one `WayRun` per measured run, a `ShapeResult` per traffic shape, and the targets.

Throughput is judgments per second over every item sent — repeats of a GRPO group included, whether the engine
judged them (ceiling, paper's way) or the service answered them from its cache — divided by the run's wall time
from the first send to the last answer. Token rates count the tokens of every judgment delivered (a cached
judgment counts its original's tokens). Latency is per item: send to answer of the request that carried it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from load_tests.bench.pyspy import ProfileSummary
from load_tests.report import Report
from load_tests.stats import LatencyStats

__all__ = ["TARGETS", "ShapeResult", "Target", "WayRun", "evaluate_targets", "from_report"]

Way = Literal["ceiling", "service", "service-open", "paper"]


@dataclass(frozen=True)
class WayRun:
    """One measured run of one way."""

    way: Way
    label: str  # e.g. "c=8 x 32 items"
    items: int  # items sent (= judgments expected)
    judgments: int  # judgments that came back (ok or failed)
    judgments_ok: int  # ok by the way's own rule: the service's status, the paper's regex, the parser for the ceiling
    elapsed_s: float
    prompt_tokens: int
    completion_tokens: int
    in_flight: int  # items in flight (closed loop), or the offered rate's items (open loop: 0)
    latency: LatencyStats = field(default_factory=lambda: LatencyStats(n=0))
    engine_requests: int | None = None  # requests the engine saw, when it can be told
    errors: int = 0  # requests or items that failed outright (HTTP errors, timeouts)
    offered_rate: float | None = None  # open loop: judgments/s offered
    service_cpu_s: float | None = None  # CPU time of the service's own process (not vLLM's engine core) in the run

    @property
    def cpu_us_per_item(self) -> float | None:
        """Service-process CPU per item judged, in microseconds (None when not measured)."""
        return None if self.service_cpu_s is None or not self.items else self.service_cpu_s / self.items * 1e6

    @property
    def cpu_us_per_1k_tokens(self) -> float | None:
        """Service-process CPU per 1,000 prompt tokens delivered, in microseconds."""
        if self.service_cpu_s is None or not self.prompt_tokens:
            return None
        return self.service_cpu_s / self.prompt_tokens * 1e9

    @property
    def judgments_per_s(self) -> float:
        return self.judgments / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def completion_tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(
            judgments_per_s=self.judgments_per_s,
            prompt_tokens_per_s=self.prompt_tokens_per_s,
            completion_tokens_per_s=self.completion_tokens_per_s,
        )
        return data


def from_report(
    report: Report,
    *,
    way: Way,
    label: str,
    in_flight: int,
    engine_requests: int | None = None,
    offered_rate: float | None = None,
    service_cpu_s: float | None = None,
) -> WayRun:
    """A `WayRun` from a load-driver report of the service."""
    return WayRun(
        way=way,
        label=label,
        items=report.items_sent,
        judgments=report.judgments,
        judgments_ok=report.judgments_ok,
        elapsed_s=report.elapsed_s,
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        in_flight=in_flight,
        latency=report.latency_item,
        engine_requests=engine_requests,
        errors=report.requests_sent - report.requests_ok,
        offered_rate=offered_rate,
        service_cpu_s=service_cpu_s,
    )


@dataclass
class ShapeResult:
    """Everything measured for one traffic shape."""

    shape: str
    items_per_request: int
    ceiling: WayRun | None = None
    sweep: list[WayRun] = field(default_factory=list)
    open_loop: WayRun | None = None  # Poisson arrivals at 70 % of saturation
    open_loop_even: WayRun | None = None  # evenly spaced arrivals at the same rate
    paper: WayRun | None = None
    repeats: int = 0  # items of the reference set that exactly repeat an earlier one
    checks: dict[str, Any] = field(default_factory=dict)  # prompt-token identity, engine requests, truncations
    startup_s: dict[str, float] = field(default_factory=dict)
    load_avg: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    profile: ProfileSummary | None = None  # py-spy on the service at its top level, when asked for

    @property
    def saturation(self) -> WayRun | None:
        """The service's best closed-loop level."""
        return max(self.sweep, key=lambda r: r.judgments_per_s, default=None)

    def to_dict(self) -> dict[str, Any]:
        runs = {
            "ceiling": self.ceiling,
            "open_loop": self.open_loop,
            "open_loop_even": self.open_loop_even,
            "paper": self.paper,
        }
        return {
            "shape": self.shape,
            "items_per_request": self.items_per_request,
            **{k: (v.to_dict() if v else None) for k, v in runs.items()},
            "sweep": [r.to_dict() for r in self.sweep],
            "saturation": self.saturation.label if self.saturation else None,
            "repeats": self.repeats,
            "checks": self.checks,
            "startup_s": self.startup_s,
            "load_avg": self.load_avg,
            "profile": dataclasses.asdict(self.profile) if self.profile else None,
        }


@dataclass(frozen=True)
class Target:
    """One target of the issue, evaluated on one shape."""

    name: str
    shape: str
    value: float | None
    goal: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.met]


# (shape, name, goal, higher is better): service / ceiling at saturation; service / paper's way; p99 / p50 at 70 %
# of saturation, Poisson arrivals (the target) and evenly spaced ones (reported beside it).
TARGETS: tuple[tuple[str | None, str, float, bool], ...] = (
    (None, "service / ceiling", 0.95, True),
    ("uniform", "service / paper's way", 1.25, True),
    ("long", "service / paper's way", 1.25, True),
    ("grpo", "service / paper's way", 2.0, True),
    (None, "p99 / p50 at 70% load", 2.0, False),
    (None, "p99 / p50 at 70% load, even", 2.0, False),
)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def evaluate_targets(result: ShapeResult) -> list[Target]:
    """The issue's targets that apply to `result`'s shape, with their measured values."""
    sat = result.saturation
    sat_jps = sat.judgments_per_s if sat else None
    values = {
        "service / ceiling": _ratio(sat_jps, result.ceiling.judgments_per_s if result.ceiling else None),
        "service / paper's way": _ratio(sat_jps, result.paper.judgments_per_s if result.paper else None),
        "p99 / p50 at 70% load": _tail(result.open_loop),
        "p99 / p50 at 70% load, even": _tail(result.open_loop_even),
    }
    open_loops = {"p99 / p50 at 70% load": result.open_loop, "p99 / p50 at 70% load, even": result.open_loop_even}
    return [
        Target(name, result.shape, values[name], goal, higher)
        for shape, name, goal, higher in TARGETS
        if shape in (None, result.shape) and (name not in open_loops or open_loops[name] is not None)
    ]


def _tail(run: WayRun | None) -> float | None:
    return _ratio(run.latency.p99, run.latency.p50) if run is not None else None

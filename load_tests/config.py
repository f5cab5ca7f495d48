"""Settings of a load run, and the open loop's arrival times."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from load_tests.workload import Preset

__all__ = ["LoadConfig", "arrival_offsets"]


@dataclass(frozen=True)
class LoadConfig:
    """Settings of one load run (everything but the API key is copied into the report).

    Attributes:
        url: Base URL of the service; loopback only unless `allow_remote`.
        preset: Workload preset (a name in `load_tests.workload.PRESETS`, or a `Preset`), used when no
            payloads are handed in.
        mode: ``closed`` (fixed concurrency) or ``open`` (fixed arrival rate).
        requests: Most requests to send.
        duration_s: No request is sent after this many seconds.
        grace_s: Requests still in flight this long after `duration_s` are cancelled.
        concurrency: Closed loop: requests in flight.
        rate: Open loop: requests per second (required there).
        arrival: Open loop: ``poisson`` (exponential gaps) or ``constant`` gaps.
        max_in_flight: Open loop: cap on outstanding requests (and the connection pool size).
        items_per_request: Items per request (default: the preset's).
        seed: Seed of the workload and of the arrival times.
        options: The request's ``options`` object (max_tokens, temperature, seed, return_reasoning,
            timeout_s).
        http_timeout_s: Client-side timeout per request (read/write/pool; connect is at most 10 s).
        path: Endpoint path.
        api_key: Sent as ``Authorization: Bearer``; never reported.
        allow_remote: Allow non-loopback targets.
    """

    url: str = "http://127.0.0.1:8000"
    preset: str | Preset = "short"
    mode: Literal["closed", "open"] = "closed"
    requests: int = 50
    duration_s: float = 120.0
    grace_s: float = 30.0
    concurrency: int = 8
    rate: float | None = None
    arrival: Literal["poisson", "constant"] = "poisson"
    max_in_flight: int = 256
    items_per_request: int | None = None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    http_timeout_s: float = 300.0
    path: str = "/judge"
    api_key: str | None = field(default=None, repr=False)
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("closed", "open") or self.arrival not in ("poisson", "constant"):
            raise ValueError(f"unknown mode {self.mode!r} or arrival {self.arrival!r}")
        if self.mode == "open" and (self.rate is None or self.rate <= 0):
            raise ValueError("open loop needs a rate > 0 (requests per second)")
        if min(self.requests, self.concurrency, self.max_in_flight) < 1:
            raise ValueError("requests, concurrency and max_in_flight must be >= 1")
        if min(self.duration_s, self.http_timeout_s) <= 0 or self.grace_s < 0:
            raise ValueError("duration_s and http_timeout_s must be > 0, grace_s >= 0")

    def public_dict(self) -> dict[str, Any]:
        """The settings without the API key, for reports."""
        data = dataclasses.asdict(self)
        data["api_key"] = "***" if self.api_key else None
        data["options"] = dict(self.options)
        return data


def arrival_offsets(n: int, rate: float, *, process: Literal["poisson", "constant"], seed: int) -> list[float]:
    """Departure times (seconds from the start) of `n` open-loop requests; the first departs at 0.

    Args:
        n: Number of requests.
        rate: Mean requests per second.
        process: ``poisson``: exponential gaps with mean 1/rate; ``constant``: gaps of exactly 1/rate.
        seed: Seeds the Poisson gaps (same seed, same times).

    Returns:
        Non-decreasing offsets.

    Example:
        >>> arrival_offsets(3, 2.0, process="constant", seed=0)
        [0.0, 0.5, 1.0]
    """
    if process == "constant":
        return [i / rate for i in range(n)]
    rng = random.Random(f"arrivals/{seed}")
    offsets, t = [], 0.0
    for _ in range(n):
        offsets.append(t)
        t += rng.expovariate(rate)
    return offsets

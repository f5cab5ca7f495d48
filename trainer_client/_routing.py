"""Least-outstanding-requests routing over several judge replicas, with passive failover.

The paper put a least-connections proxy in front of four `vllm serve` processes; this does that job inside the
client. Each request goes to the healthy endpoint with the fewest requests in flight (ties rotate). An
endpoint that fails (no answer, 429, 5xx) is avoided for a cooldown that doubles with each consecutive
failure, and comes back on its first success. When every endpoint is cooling down, the one that recovers
soonest is tried anyway, so the pool never refuses to route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._constants import ENDPOINT_COOLDOWN_INITIAL, ENDPOINT_COOLDOWN_MAX

__all__ = ["Endpoint", "EndpointPool", "normalize_base_url"]


def normalize_base_url(url: str) -> str:
    """`http://host:8000/` → `http://host:8000`; a URL without a scheme gets `http://`."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


@dataclass
class Endpoint:
    """One replica's routing state."""

    url: str
    outstanding: int = 0
    consecutive_failures: int = 0
    down_until: float = 0.0
    requests: int = 0
    failures: int = 0

    def healthy(self, now: float) -> bool:
        return now >= self.down_until


class EndpointPool:
    """Thread-safe routing state shared by every request of one client.

    Args:
        urls: Base URLs of the replicas (at least one).
        clock: Monotonic clock, for tests.

    Example:
        >>> pool = EndpointPool(["http://a:8000", "http://b:8000"])
        >>> first = pool.acquire(); second = pool.acquire()
        >>> first.url != second.url
        True
    """

    def __init__(self, urls: Sequence[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("at least one judge URL is needed")
        self.endpoints = [Endpoint(normalize_base_url(u)) for u in urls]
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = 0

    def acquire(self, *, avoid: str | None = None) -> Endpoint:
        """Pick an endpoint for one request and count it as outstanding; `avoid` skips a just-failed URL if
        any other healthy endpoint exists."""
        with self._lock:
            now = self._clock()
            healthy = [e for e in self.endpoints if e.healthy(now)]
            if avoid is not None and any(e.url != avoid for e in healthy):
                healthy = [e for e in healthy if e.url != avoid]
            if healthy:
                n = len(self.endpoints)
                order = {e.url: (i - self._turn) % n for i, e in enumerate(self.endpoints)}
                chosen = min(healthy, key=lambda e: (e.outstanding, order[e.url]))
            else:
                chosen = min(self.endpoints, key=lambda e: e.down_until)
            self._turn += 1
            chosen.outstanding += 1
            chosen.requests += 1
            return chosen

    def release(self, endpoint: Endpoint) -> None:
        """The request sent to `endpoint` has finished (whatever its outcome)."""
        with self._lock:
            endpoint.outstanding -= 1

    def record(self, endpoint: Endpoint, *, ok: bool, cooldown: float | None = None) -> None:
        """Update health: `ok=False` starts (or lengthens) a cooldown, `cooldown` seconds if given."""
        with self._lock:
            if ok:
                endpoint.consecutive_failures = 0
                endpoint.down_until = 0.0
                return
            endpoint.consecutive_failures += 1
            endpoint.failures += 1
            if cooldown is None:
                exponent = min(endpoint.consecutive_failures - 1, 16)
                cooldown = min(ENDPOINT_COOLDOWN_INITIAL * 2.0**exponent, ENDPOINT_COOLDOWN_MAX)
            endpoint.down_until = self._clock() + cooldown

    def has_healthy_alternative(self, url: str) -> bool:
        """Whether another endpoint than `url` could take a request right now (then a retry need not wait)."""
        with self._lock:
            now = self._clock()
            return any(e.url != url and e.healthy(now) for e in self.endpoints)

    def snapshot(self) -> list[dict[str, object]]:
        """Per-endpoint counters, for logs and tests."""
        with self._lock:
            now = self._clock()
            return [
                {
                    "url": e.url,
                    "healthy": e.healthy(now),
                    "outstanding": e.outstanding,
                    "requests": e.requests,
                    "failures": e.failures,
                }
                for e in self.endpoints
            ]

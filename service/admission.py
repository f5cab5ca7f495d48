"""Admission control: a bounded number of pending items (and optionally prompt tokens); past it, 429 at once.

Bounding what is admitted bounds memory and queueing delay: an overloaded judge answers "retry later" immediately
instead of letting a queue grow until every request times out. Retry-After is estimated from how fast items are
currently finishing.
"""

from __future__ import annotations

import math
import time
from collections import deque

from service.metrics import Metrics

__all__ = ["Admission", "Overloaded"]

_RATE_WINDOW_S = 10.0
_RETRY_AFTER_MIN_S, _RETRY_AFTER_MAX_S = 1, 30


class Overloaded(Exception):
    """Admitting this request would exceed a limit (429)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Admission:
    def __init__(self, max_items: int, max_prompt_tokens: int | None, metrics: Metrics) -> None:
        self.max_items = max_items
        self.max_prompt_tokens = max_prompt_tokens
        self.items = 0
        self.prompt_tokens = 0
        self._metrics = metrics
        self._finished: deque[float] = deque(maxlen=8192)
        metrics.items_pending_limit.set(max_items)

    def admit_items(self, n: int) -> None:
        if self.items + n > self.max_items:
            self._reject(
                "items", f"{self.items} items pending; admitting {n} more would pass the limit of {self.max_items}"
            )
        self.items += n
        self._metrics.items_pending.set(self.items)

    def admit_prompt_tokens(self, n: int) -> None:
        if self.max_prompt_tokens is not None and self.prompt_tokens + n > self.max_prompt_tokens:
            self._reject(
                "prompt_tokens",
                f"{self.prompt_tokens} prompt tokens pending; admitting {n} more would "
                f"pass the limit of {self.max_prompt_tokens}",
            )
        self.prompt_tokens += n

    def release(self, items: int, prompt_tokens: int = 0) -> None:
        self.items -= items
        self.prompt_tokens -= prompt_tokens
        self._metrics.items_pending.set(self.items)

    def finished(self) -> None:
        self._finished.append(time.monotonic())

    def retry_after_s(self) -> int:
        """Seconds until roughly the current backlog has drained, at the recent finishing rate."""
        now = time.monotonic()
        recent = sum(1 for t in self._finished if now - t <= _RATE_WINDOW_S)
        rate = recent / _RATE_WINDOW_S
        if rate <= 0:
            return _RETRY_AFTER_MAX_S if self.items else _RETRY_AFTER_MIN_S
        return max(_RETRY_AFTER_MIN_S, min(_RETRY_AFTER_MAX_S, math.ceil(self.items / rate)))

    def _reject(self, reason: str, message: str) -> None:
        self._metrics.admission_rejections.labels(reason=reason).inc()
        raise Overloaded(message, self.retry_after_s())

"""The service's life cycle, owned here and nowhere else: loading → ready → draining, and failed from any of them.

Handlers, the judge service, the watchdog and the server ask this object; whoever finds the service cannot serve
calls `fail`, and everything that must react (refusing work, ending work in flight, stopping the server) has
registered with `on_failure`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from service.metrics import Metrics

__all__ = ["Lifecycle", "Phase"]

log = logging.getLogger("service.lifecycle")

Phase = Literal["loading", "ready", "draining", "failed"]


class Lifecycle:
    """Where the service is in its life, and why it failed if it did."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.phase: Phase = "loading"
        self.failure: str | None = None  # why the service cannot serve, once it cannot
        self._on_failure: list[Callable[[str], None]] = []

    @property
    def accepting(self) -> bool:
        return self.phase == "ready"

    def on_failure(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` once, when the service fails."""
        self._on_failure.append(callback)

    def set_ready(self) -> None:
        if self.phase == "loading":
            self.phase = "ready"
            self.metrics.ready.set(1)

    def start_draining(self) -> bool:
        """Stop taking work; False if the service is already draining or failed."""
        if self.phase in ("draining", "failed"):
            return False
        self.phase = "draining"
        self.metrics.draining.set(1)
        self.metrics.ready.set(0)
        return True

    def fail(self, reason: str) -> None:
        """The process cannot serve: log why, refuse and end all work, stop the server (it exits non-zero)."""
        if self.failure is not None:
            return
        log.error("fatal: %s", reason)
        self.failure = reason
        self.phase = "failed"
        self.metrics.ready.set(0)
        for callback in self._on_failure:
            callback(reason)

    def supervise(self, task: asyncio.Task[None], name: str) -> None:
        """A background task that ends with an exception fails the service, at once, with the reason logged."""

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or (exc := task.exception()) is None:
                return
            log.error("background task %s failed", name, exc_info=exc)
            self.fail(f"background task {name} failed: {type(exc).__name__}: {exc}")

        task.add_done_callback(done)

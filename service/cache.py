"""A bounded LRU of finished results plus deduplication of identical work in flight.

Identical items judged deterministically (temperature 0, or a fixed seed) give identical output, so the second one
need not reach the engine: it is answered from the cache, or joins the computation already running. A computation
runs as its own task, shared by everyone waiting for it; when the last waiter goes away (disconnect, deadline) it is
cancelled, which aborts its engine request.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["ResultCache", "cache_key"]

V = TypeVar("V")


def cache_key(*parts: object) -> str:
    """A digest of everything that determines a result (model, template, sampling, prompt tokens)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class _Flight(Generic[V]):
    task: asyncio.Task[V]
    waiters: int = 0


class ResultCache(Generic[V]):
    """LRU of up to `capacity` results, and one shared task per key in flight."""

    def __init__(self, capacity: int, keep: Callable[[V], bool] = lambda _: True) -> None:
        self.capacity = capacity
        self._keep = keep
        self._done: OrderedDict[str, V] = OrderedDict()
        self._flying: dict[str, _Flight[V]] = {}

    def __len__(self) -> int:
        return len(self._done)

    async def get_or_run(self, key: str, compute: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """The result for `key` and whether it came without new work (a cache hit, or joining work in flight)."""
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key], True
        flight = self._flying.get(key)
        joined = flight is not None
        if flight is None:
            flight = _Flight(asyncio.ensure_future(compute()))
            self._flying[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, task))
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task), joined
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()  # nobody wants it any more: stop the engine work

    def _landed(self, key: str, task: asyncio.Task[V]) -> None:
        self._flying.pop(key, None)
        if task.cancelled() or task.exception() is not None or self.capacity == 0:
            return
        result = task.result()
        if self._keep(result):
            self._done[key] = result
            self._done.move_to_end(key)
            while len(self._done) > self.capacity:
                self._done.popitem(last=False)

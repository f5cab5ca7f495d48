"""A fake judge service behind an httpx mock transport: the judge's wire shape, no model.

For the driver's tests, and for measuring the driver's own ceiling (how many judgments/s it can push and parse
when the service costs nothing) before blaming the service for a number.

Its answers are a pure function of the request: the request's index comes from its first item's id
(``r{i}.…``, as `load_tests.workload` makes them) and each item's slot from the last part of its id, so a test
can compute the expected counts exactly. Slot % 4 == 1 fails with ``parse_error``, == 3 fails with ``length``,
== 2 is a cache hit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["COMPLETION_TOKENS_PER_ITEM", "PROMPT_TOKENS_PER_ITEM", "FakeJudge", "judge_body"]

PROMPT_TOKENS_PER_ITEM = 100
COMPLETION_TOKENS_PER_ITEM = 10


def _request_index(body: dict[str, Any]) -> int:
    return int(str(body["items"][0]["id"]).split(".")[0][1:])


def _judgment(position: int, item: dict[str, Any]) -> dict[str, Any]:
    slot = int(str(item["id"]).rsplit(".", 1)[-1][1:])
    usage = {"prompt_tokens": PROMPT_TOKENS_PER_ITEM, "completion_tokens": COMPLETION_TOKENS_PER_ITEM}
    base = {"index": position, "id": item["id"], "usage": usage, "truncated": False, "critique": "fake"}
    if slot % 4 in (1, 3):
        reason = "parse_error" if slot % 4 == 1 else "length"
        return {**base, "status": "failed", "reason": reason, "score": None, "cached": False}
    return {**base, "status": "ok", "reason": None, "score": 0.5, "cached": slot % 4 == 2}


def judge_body(body: dict[str, Any]) -> dict[str, Any]:
    """The fake's 200 response to a judge request body.

    Args:
        body: A ``POST /judge`` body whose item ids look like ``r{request}.i{slot}``.

    Returns:
        A judge response: one judgment per item, usage summed.

    Example:
        >>> judge_body({"items": [{"id": "r0.i1"}]})["judgments"][0]["reason"]
        'parse_error'
    """
    judgments = [_judgment(i, item) for i, item in enumerate(body["items"])]
    n = len(judgments)
    usage = {"prompt_tokens": n * PROMPT_TOKENS_PER_ITEM, "completion_tokens": n * COMPLETION_TOKENS_PER_ITEM}
    return {"id": "fake", "model": "fake", "template_id": "fake", "judgments": judgments, "usage": usage}


def _error(status: int) -> httpx.Response:
    kind = {429: "overloaded", 503: "not_ready", 400: "invalid_request"}.get(status, "internal")
    headers = {"retry-after": "2"} if status == 429 else {}
    return httpx.Response(status, json={"error": {"type": kind, "message": "fake", "code": status}}, headers=headers)


@dataclass
class FakeJudge:
    """An async mock-transport handler for ``POST /judge`` that records what it saw.

    Attributes:
        latency_s: Seconds each request takes, or a function of the request index.
        status_for: HTTP status by request index (200: a judge response; else the error shape).
        arrivals: `time.perf_counter()` at each request's arrival.
        requests_seen: Each request body, parsed.
        urls: Each request's URL.
        max_in_flight: Most requests it held at once.
    """

    latency_s: float | Callable[[int], float] = 0.0
    status_for: Callable[[int], int] = field(default=lambda index: 200)
    arrivals: list[float] = field(default_factory=list)
    requests_seen: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the mock transport calls this)."""
        self.arrivals.append(time.perf_counter())
        self.urls.append(str(request.url))
        body = json.loads(request.content)
        self.requests_seen.append(body)
        index = _request_index(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s(index) if callable(self.latency_s) else self.latency_s)
        finally:
            self.in_flight -= 1
        status = self.status_for(index)
        return httpx.Response(200, json=judge_body(body)) if status == 200 else _error(status)

    def client(self) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose every request this fake answers (nothing touches the network)."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

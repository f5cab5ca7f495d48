"""The paper's way of judging: one ``/v1/chat/completions`` request per trajectory to vLLM's OpenAI-compatible
server, at most 32 in flight, the score read client-side with the paper's regex.

The messages are the service's own prompt (system template, user message) and the request carries the same
decoding settings — max_tokens, temperature, and the service's grammar as ``structured_outputs.regex`` — so the
engine does the same work per item; only the path around it differs. The paper's code retried a missing score and
then fell back to 0.0; with the grammar every output has a score, so nothing is retried here and an item without a
score is counted as not ok.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from load_tests.bench.measure import WayRun
from load_tests.bench.prompts import RenderedItem
from load_tests.stats import latency_stats
from load_tests.target import check_target

__all__ = ["PAPER_SCORE", "paper_score", "run_paper_way"]

PAPER_SCORE = re.compile(r"<score>\s*([\d.]+)\s*</score>")


def paper_score(text: str) -> float | None:
    """The paper's parse: the first ``<score>x</score>``, if x is a number in [0, 1] (else the paper retried).

    Example:
        >>> paper_score("<think>t</think><critique>c</critique><score>0.75</score>"), paper_score("none")
        (0.75, None)
    """
    match = PAPER_SCORE.search(text)
    if match is None:
        return None
    try:
        score = float(match.group(1))
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


@dataclass
class _Tally:
    latencies: list[float]
    ok: int = 0
    answered: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def chat_body(model: str, item: RenderedItem, *, max_tokens: int, temperature: float, regex: str | None) -> bytes:
    """One chat-completion request body for one trajectory."""
    body: dict[str, Any] = {
        "model": model,
        "messages": item.messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if regex:
        body["structured_outputs"] = {"regex": regex}
    return json.dumps(body).encode()


async def run_paper_way(
    base_url: str,
    model: str,
    items: Sequence[RenderedItem],
    *,
    max_tokens: int,
    temperature: float,
    regex: str | None,
    in_flight: int = 32,
    timeout_s: float = 600.0,
    label: str = "",
) -> WayRun:
    """Judge `items` the paper's way and measure it.

    Args:
        base_url: The OpenAI server (loopback only).
        model: Its served model name.
        items: Rendered items, sent in order.
        max_tokens: Same as the service's.
        temperature: Same as the service's.
        regex: The service's grammar, sent as ``structured_outputs.regex`` (None: free text).
        in_flight: Most requests in flight (the paper's trainer: 32).
        timeout_s: Client timeout per request.
        label: The run's label in the report.

    Returns:
        The measured run; latency is per item (one request each).
    """
    url = check_target(base_url) + "/v1/chat/completions"
    bodies = [chat_body(model, it, max_tokens=max_tokens, temperature=temperature, regex=regex) for it in items]
    tally = _Tally(latencies=[])
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:

        async def worker() -> None:
            for body in queue:
                await _one(client, url, body, tally)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(in_flight, len(bodies)))))
        elapsed = time.perf_counter() - started
    return WayRun(
        way="paper",
        label=label or f"{in_flight} in flight",
        items=len(bodies),
        judgments=tally.answered,
        judgments_ok=tally.ok,
        elapsed_s=elapsed,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        in_flight=in_flight,
        latency=latency_stats(tally.latencies),
        engine_requests=len(bodies),
        errors=tally.errors,
    )


async def _one(client: httpx.AsyncClient, url: str, body: bytes, tally: _Tally) -> None:
    sent = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers={"content-type": "application/json"})
    except httpx.HTTPError:
        tally.errors += 1
        return
    if response.status_code != 200:
        tally.errors += 1
        return
    data = response.json()
    tally.latencies.append(time.perf_counter() - sent)
    tally.answered += 1
    usage = data.get("usage") or {}
    tally.prompt_tokens += int(usage.get("prompt_tokens") or 0)
    tally.completion_tokens += int(usage.get("completion_tokens") or 0)
    text = data["choices"][0]["message"].get("content") or ""
    if paper_score(text) is not None:
        tally.ok += 1

"""The load driver: send a seeded workload to ``POST {url}/judge`` and measure what comes back.

Two ways to offer load:

- **closed loop** (``mode="closed"``): `concurrency` senders, each sending its next request as soon as the
  previous one is answered — measures throughput at a fixed number of requests in flight;
- **open loop** (``mode="open"``): requests depart at `rate` per second (Poisson or evenly spaced arrivals
  from the seed) whether or not earlier ones were answered — measures latency under an offered load, queueing
  included. At most `max_in_flight` are outstanding; a request due while that many are in flight is skipped
  and counted.

Every run is bounded: at most `requests` requests, none sent after `duration_s`, and whatever is still in
flight `grace_s` later is cancelled (counted as ``cancelled``). Targets must be loopback unless `allow_remote`
is set.

In-process use (a benchmark): ``report = await run_load(LoadConfig(url=..., mode="closed", concurrency=8))``.
Command line: see `load_tests.cli` (``python -m load_tests.driver --help``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import httpx

from load_tests.config import LoadConfig, arrival_offsets
from load_tests.progress import format_progress, progress_loop
from load_tests.report import Report, build_report
from load_tests.results import RequestResult, classify_response
from load_tests.target import check_target
from load_tests.workload import Item, build_requests

__all__ = ["LoadConfig", "Report", "arrival_offsets", "main", "run_load"]

_HEADERS = {"content-type": "application/json", "user-agent": "agent-rrm-load-driver/0.1"}


class _Run:
    """The mutable state of one run: the bodies to send, results so far, requests in flight."""

    def __init__(self, client: httpx.AsyncClient, url: str, bodies: Sequence[bytes], sizes: Sequence[int]) -> None:
        self.client, self.url, self.bodies, self.sizes = client, url, bodies, sizes
        self.t0 = time.perf_counter()
        self.results: list[RequestResult] = []
        self.in_flight = 0
        self.skipped = 0

    def now(self) -> float:
        return time.perf_counter() - self.t0

    async def send(self, index: int, scheduled_at: float | None = None) -> None:
        sent_at = self.now()
        self.in_flight += 1
        try:
            result = await self._exchange(index, sent_at, scheduled_at)
        except asyncio.CancelledError:
            latency = self.now() - sent_at
            self.results.append(
                RequestResult(index, self.sizes[index], sent_at, latency, "cancelled", scheduled_at=scheduled_at)
            )
            raise
        finally:
            self.in_flight -= 1
        self.results.append(result)

    async def _exchange(self, index: int, sent_at: float, scheduled_at: float | None) -> RequestResult:
        n_items = self.sizes[index]
        try:
            response = await self.client.post(self.url, content=self.bodies[index], headers=_HEADERS)
        except httpx.TimeoutException as exc:
            latency = self.now() - sent_at
            return RequestResult(index, n_items, sent_at, latency, "timeout", error_type=type(exc).__name__)
        except httpx.HTTPError as exc:
            latency = self.now() - sent_at
            return RequestResult(index, n_items, sent_at, latency, "transport_error", error_type=type(exc).__name__)
        return classify_response(
            index=index,
            n_items=n_items,
            sent_at=sent_at,
            latency_s=self.now() - sent_at,
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=response.content,
            scheduled_at=scheduled_at,
        )


async def _closed_loop(run: _Run, n: int, concurrency: int, stop_at: float) -> None:
    indices = iter(range(n))  # shared: each sender takes the next index

    async def sender() -> None:
        for index in indices:
            if run.now() >= stop_at:
                return
            await run.send(index)

    await asyncio.gather(*(sender() for _ in range(min(concurrency, n))))


async def _open_loop(run: _Run, offsets: Sequence[float], stop_at: float, max_in_flight: int) -> None:
    tasks: set[asyncio.Task[None]] = set()
    try:
        for index, due in enumerate(offsets):
            if due >= stop_at:
                break
            await asyncio.sleep(max(0.0, due - run.now()))
            if run.in_flight >= max_in_flight:
                run.skipped += 1
                continue
            task = asyncio.create_task(run.send(index, scheduled_at=due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:  # only when cancelled: take the outstanding requests down too
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def _bodies(payloads: Sequence[Sequence[Item]], options: Mapping[str, Any]) -> list[bytes]:
    opts = {k: v for k, v in options.items() if v is not None}
    return [json.dumps({"items": list(items), **({"options": opts} if opts else {})}).encode() for items in payloads]


async def run_load(
    config: LoadConfig,
    *,
    payloads: Sequence[Sequence[Item]] | None = None,
    client: httpx.AsyncClient | None = None,
    progress: TextIO | None = None,
) -> Report:
    """Run one bounded load test and report on it.

    Args:
        config: What to send, where, how fast and for how long.
        payloads: Items per request to send instead of generating `config.preset` (only the first
            `config.requests` are used).
        client: An HTTP client to use (tests hand in one with a mock transport); by default one is made with
            `config.http_timeout_s`, a pool as large as the concurrency, and proxies from the environment
            ignored.
        progress: A stream (stderr) for a live progress line; None for none.

    Returns:
        The `Report`: counts by outcome, judgments by status and reason, token and judgment rates, latencies.

    Raises:
        RemoteTargetError: `config.url` is not loopback and `config.allow_remote` is false.

    Example:
        >>> import asyncio
        >>> config = LoadConfig(url="http://127.0.0.1:8000", requests=10)
        >>> report = asyncio.run(run_load(config))  # doctest: +SKIP
        >>> report.judgments_per_s  # doctest: +SKIP
    """
    url = check_target(config.url, allow_remote=config.allow_remote) + config.path
    if payloads is None:
        payloads = build_requests(
            config.preset, seed=config.seed, n=config.requests, items_per_request=config.items_per_request
        )
    payloads = payloads[: config.requests]
    bodies, sizes = _bodies(payloads, config.options), [len(items) for items in payloads]
    pool = config.concurrency if config.mode == "closed" else config.max_in_flight
    own = client is None
    if client is None:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.http_timeout_s, connect=min(10.0, config.http_timeout_s)),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers={"authorization": f"Bearer {config.api_key}"} if config.api_key else None,
            trust_env=False,  # an HTTP(S)_PROXY from the environment must not reroute loopback load
        )
    try:
        run = _Run(client, url, bodies, sizes)
        cut_short = await _drive(run, config, progress)
        elapsed = run.now()
    finally:
        if own:
            await client.aclose()
    finished = not cut_short and len(run.results) + run.skipped >= len(bodies)
    return build_report(
        run.results,
        config=config.public_dict(),
        elapsed_s=elapsed,
        planned=len(bodies),
        skipped=run.skipped,
        stopped_by="requests" if finished else "duration",
    )


async def _drive(run: _Run, config: LoadConfig, progress: TextIO | None) -> bool:
    """Run the loop of `config.mode` under the time bound; True if it had to be cut short."""
    if config.mode == "closed":
        work = _closed_loop(run, len(run.bodies), config.concurrency, config.duration_s)
    else:
        assert config.rate is not None  # LoadConfig checks it
        offsets = arrival_offsets(len(run.bodies), config.rate, process=config.arrival, seed=config.seed)
        work = _open_loop(run, offsets, config.duration_s, config.max_in_flight)
    stop = asyncio.Event()
    shown: asyncio.Task[None] | None = None
    if progress is not None:
        total = len(run.bodies)

        def render() -> str:
            return format_progress(
                run.results, total=total, in_flight=run.in_flight, elapsed_s=run.now(), mode=config.mode
            )

        shown = asyncio.create_task(progress_loop(progress, render, stop))
    task = asyncio.create_task(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=config.duration_s + config.grace_s)
        if done:
            task.result()  # re-raise a bug in the loops rather than report on half a run
        return not done
    finally:
        if not task.done():  # out of time, or the caller cancelled us: take the requests in flight down
            task.cancel()
            await asyncio.wait({task})
        stop.set()
        if shown is not None:
            await shown


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m load_tests.driver``; see `load_tests.cli`."""
    from load_tests.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

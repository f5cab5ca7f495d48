"""Overload, engine faults, cache and auth, on real uvicorn servers around the real engine (faults injected at the
engine seam)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServeApp
from tests.faults import FaultyEngine
from tests.integration.test_judge_service import agent_messages
from tests.integration.test_lifecycle import engine_core_processes

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def faulty_server(serve_app: ServeApp, **settings: Any) -> AsyncIterator[tuple[str, FaultyEngine]]:
    """A real server whose engine is the shared real engine inside a fault-injecting wrapper."""
    wrapped: list[FaultyEngine] = []

    def wrap(real: Any) -> FaultyEngine:
        wrapped.append(FaultyEngine(real))
        return wrapped[0]

    async with serve_app(engine_wrapper=wrap, **settings) as url:
        yield url, wrapped[0]


async def readiness_until_down(client: httpx.AsyncClient) -> set[int]:
    """Poll /readyz until the server stops listening (`python -m service` would then exit non-zero); the statuses
    seen on the way."""
    seen: set[int] = set()
    while True:
        try:
            seen.add((await client.get("/readyz")).status_code)
        except httpx.TransportError:
            return seen
        await asyncio.sleep(0.05)


async def generated_tokens(client: httpx.AsyncClient) -> float:
    """The engine's own count of generated tokens (vLLM's metric), as /metrics shows it."""
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("vllm:generation_tokens_total"):
            return float(line.split()[-1])
    raise AssertionError("vllm:generation_tokens_total is not in /metrics")


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


async def test_overload_answers_200_or_429_at_once_and_nothing_is_lost(serve_app: ServeApp) -> None:
    async with (
        serve_app(max_pending_items=32, max_items_per_request=16) as url,
        httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=200)) as client,
    ):
        state_pending: list[int] = []  # the server's pending count, read through /metrics during the storm

        async def sample() -> None:
            while True:
                text = (await client.get("/metrics")).text
                for line in text.splitlines():
                    if line.startswith("rrm_items_pending "):
                        state_pending.append(int(float(line.split()[1])))
                await asyncio.sleep(0.02)

        async def one(i: int) -> httpx.Response:
            items = [
                {"id": f"{i}-{k}", "question": f"storm {i}", "messages": agent_messages(k % 4 + 1)} for k in range(16)
            ]
            return await asyncio.wait_for(client.post("/judge", json={"items": items}), 60)

        sampler = asyncio.create_task(sample())
        memory = []
        for wave in range(3):
            responses = await asyncio.gather(*(one(100 * wave + i) for i in range(48)))  # 768 items vs a limit of 32
            memory.append(rss_mib())
            codes = [r.status_code for r in responses]
            assert set(codes) <= {200, 429} and 200 in codes and 429 in codes, codes
            for r in responses:
                if r.status_code == 429:
                    assert 1 <= int(r.headers["retry-after"]) <= 30
                    assert r.json()["error"]["type"] == "overloaded"
                else:
                    assert len(r.json()["judgments"]) == 16
        sampler.cancel()
        metrics = (await client.get("/metrics")).text
    assert max(state_pending) <= 32  # admitted work never exceeded the limit
    assert 'rrm_admission_rejections_total{reason="items"}' in metrics
    assert memory[2] - memory[1] < 100, memory  # no growth from wave to wave: nothing queues up unbounded


async def test_a_dead_engine_means_503_at_once_not_ready_and_exit(serve_app: ServeApp) -> None:
    async with faulty_server(serve_app) as (url, faulty), httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.post("/judge", json={"items": [{"question": "q", "trajectory": "t"}]})).status_code == 200
        faulty.dead = True
        started = time.monotonic()
        fresh = [{"question": f"never seen {i}", "trajectory": "t"} for i in range(4)]  # not in the cache
        response = await client.post("/judge", json={"items": fresh})
        assert response.status_code == 503 and time.monotonic() - started < 2
        assert response.json()["error"]["type"] == "not_ready"
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 503  # liveness fails too: restart me
        again = await client.post("/judge", json={"items": [{"question": "q", "trajectory": "t"}]})
        assert again.status_code == 503


async def test_an_engine_that_stops_computing_is_detected_and_its_requests_fail_fast(
    serve_app: ServeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="service")
    async with (
        faulty_server(serve_app, engine_check_interval_s=0.2, engine_stall_timeout_s=1.5) as (url, faulty),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        faulty.hang = True
        started = time.monotonic()
        fresh = [{"question": f"hang {i}", "trajectory": "t"} for i in range(3)]
        response = await client.post("/judge", json={"items": fresh})
        waited = time.monotonic() - started
        assert response.status_code == 503 and waited < 5, (response.status_code, waited)
        assert "engine computed no tokens" in response.json()["error"]["message"]
        assert (await client.get("/readyz")).status_code == 503
    assert any("fatal: the engine computed no tokens" in r.getMessage() for r in caplog.records)


async def test_a_busy_engine_on_one_long_generation_is_not_taken_for_a_stalled_one(serve_app: ServeApp) -> None:
    stall_s = 1.0
    async with (
        faulty_server(
            serve_app, structured_output=False, engine_check_interval_s=0.1, engine_stall_timeout_s=stall_s
        ) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=120) as client,
    ):
        started = time.monotonic()
        long_one = {"items": [{"question": "long", "trajectory": "t " * 40}], "options": {"max_tokens": 1500}}
        response = await client.post("/judge", json=long_one)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        judgment = response.json()["judgments"][0]
        assert judgment["usage"]["completion_tokens"] > 1000, judgment
        assert took > 2 * stall_s, took  # one generation outlasted the stall timeout (~8 s on a 2-core host)
        assert (await client.get("/readyz")).status_code == 200


async def test_one_failing_item_does_not_fail_the_batch(serve_app: ServeApp) -> None:
    async with faulty_server(serve_app) as (url, faulty), httpx.AsyncClient(base_url=url, timeout=60) as client:
        faulty.fail_prompts_containing = "POISON"
        items = [
            {"question": "fine", "trajectory": "t"},
            {"question": "POISON", "trajectory": "t"},
            {"question": "also fine", "trajectory": "t"},
        ]
        response = await client.post("/judge", json={"items": items})
    assert response.status_code == 200
    statuses = [(j["status"], j["reason"]) for j in response.json()["judgments"]]
    assert statuses[1] == ("failed", "engine_error")
    assert statuses[0][1] != "engine_error" and statuses[2][1] != "engine_error"
    assert response.json()["judgments"][1]["score"] is None


async def test_repeated_items_are_served_from_the_cache_identically(serve_app: ServeApp) -> None:
    async with faulty_server(serve_app) as (url, faulty), httpx.AsyncClient(base_url=url, timeout=60) as client:
        items = [{"id": f"i{k}", "question": f"cache {k}", "messages": agent_messages(k + 1)} for k in range(4)]
        first = (await client.post("/judge", json={"items": items})).json()["judgments"]
        calls = faulty.calls
        second = (await client.post("/judge", json={"items": items})).json()["judgments"]
        assert faulty.calls == calls  # nothing new reached the engine
        assert [j["cached"] for j in first] == [False] * 4 and [j["cached"] for j in second] == [True] * 4
        strip = [{k: v for k, v in j.items() if k != "cached"} for j in first]
        assert strip == [{k: v for k, v in j.items() if k != "cached"} for j in second]
        metrics = (await client.get("/metrics")).text
    assert "rrm_cache_hits_total 4.0" in metrics and "rrm_cache_misses_total 4.0" in metrics


async def test_concurrent_duplicates_are_computed_once(serve_app: ServeApp) -> None:
    async with faulty_server(serve_app) as (url, faulty), httpx.AsyncClient(base_url=url, timeout=60) as client:
        faulty.delay_s = 0.3  # keep the first computation in flight while the duplicates arrive
        calls = faulty.calls
        item = {"question": "the same one", "messages": agent_messages(3)}
        responses = await asyncio.gather(*(client.post("/judge", json={"items": [item] * 8}) for _ in range(4)))
        judgments = [j for r in responses for j in r.json()["judgments"]]
        assert faulty.calls - calls == 1  # 32 identical items, one engine request
        assert len({(j["status"], j["score"], j["critique"]) for j in judgments}) == 1
        assert sum(not j["cached"] for j in judgments) == 1


async def test_sampling_without_a_seed_is_not_cached_but_with_one_it_is(serve_app: ServeApp) -> None:
    async with faulty_server(serve_app) as (url, faulty), httpx.AsyncClient(base_url=url, timeout=60) as client:
        item = {"question": "sampled", "trajectory": "t"}
        calls = faulty.calls
        for _ in range(2):
            await client.post("/judge", json={"items": [item], "options": {"temperature": 0.7}})
        assert faulty.calls - calls == 2
        for _ in range(2):
            r = await client.post("/judge", json={"items": [item], "options": {"temperature": 0.7, "seed": 7}})
        assert faulty.calls - calls == 3 and r.json()["judgments"][0]["cached"] is True


PROTECTED = [("POST", "/judge"), ("GET", "/info"), ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json")]


async def test_api_keys_guard_every_route_but_the_probes(
    serve_app: ServeApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# rotated monthly\nfile-key-2\n")
    body = {"items": [{"question": "q", "trajectory": "t"}]}
    caplog.set_level(logging.DEBUG)
    async with (
        serve_app(api_keys=["inline-key-1"], api_key_file=key_file) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        for method, path in PROTECTED:
            kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
            missing = await client.request(method, path, **kwargs)
            wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"}, **kwargs)
            right = await client.request(method, path, headers={"Authorization": "Bearer file-key-2"}, **kwargs)
            assert (missing.status_code, wrong.status_code, right.status_code) == (401, 403, 200), path
            assert missing.json()["error"]["type"] == "unauthorized" and missing.headers["www-authenticate"]
        inline = await client.post("/judge", json=body, headers={"Authorization": "Bearer inline-key-1"})
        assert inline.status_code == 200
        assert (await client.get("/healthz")).status_code == 200 and (await client.get("/readyz")).status_code == 200
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "inline-key-1" not in logged and "file-key-2" not in logged


async def test_metrics_can_be_left_open_for_a_scraper(serve_app: ServeApp) -> None:
    async with serve_app(api_keys=["k"], metrics_auth=False) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/info")).status_code == 401


async def test_a_really_stopped_engine_takes_the_server_down_with_the_reason(
    serve_app: ServeApp, caplog: pytest.LogCaptureFixture
) -> None:
    # No wrapper: the shared engine's core process is stopped (SIGSTOP) while it runs requests, and continued
    # once the server has given up, so that the session's engine lives on.
    cores = engine_core_processes(os.getpid())
    assert cores, "vLLM's engine core process was not found"
    caplog.set_level(logging.ERROR, logger="service")
    settings = {"structured_output": False, "engine_check_interval_s": 0.1, "engine_stall_timeout_s": 1.0}
    try:
        async with (
            serve_app(exit_on_failure=True, **settings) as url,
            httpx.AsyncClient(base_url=url, timeout=60) as client,
        ):
            items = [{"question": f"stopped {i}", "trajectory": "t " * 40} for i in range(2)]
            request = asyncio.create_task(client.post("/judge", json={"items": items, "options": {"max_tokens": 600}}))
            while "rrm_items_in_flight 2.0" not in (await client.get("/metrics")).text:
                await asyncio.sleep(0.05)
            # A few decode steps later, the watchdog's last idle probe (one token) has certainly come back: the
            # stall it sees is then the one with requests in the engine.
            tokens = await generated_tokens(client)
            while await generated_tokens(client) < tokens + 6:
                await asyncio.sleep(0.05)
            for pid in cores:
                os.kill(pid, signal.SIGSTOP)
            response = await request
            assert response.status_code == 503, response.text
            assert await readiness_until_down(client) <= {503}
    finally:
        for pid in cores:
            os.kill(pid, signal.SIGCONT)
    assert any("fatal: the engine computed no tokens for" in r.getMessage() for r in caplog.records)


async def test_a_failing_background_task_takes_the_server_down_with_the_reason(
    serve_app: ServeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="service")
    async with (
        faulty_server(serve_app, exit_on_failure=True, engine_check_interval_s=0.1) as (url, faulty),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        faulty.progress_bug = True  # the watchdog's task raises what it does not expect
        seen = await readiness_until_down(client)
    assert seen <= {200, 503}
    reason = "fatal: background task engine start and watchdog failed: RuntimeError: injected"
    assert any(reason in r.getMessage() for r in caplog.records)

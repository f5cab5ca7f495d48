"""Least-outstanding-requests routing over replicas, cooldowns, and failover when one replica is down."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from trainer_client import AsyncJudgeClient, JudgeClient
from trainer_client._routing import EndpointPool, normalize_base_url

from .fakes import FakeJudge

A, B, C = "http://a.test", "http://b.test", "http://c.test"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_normalize_base_url() -> None:
    assert normalize_base_url(" localhost:8000/ ") == "http://localhost:8000"
    assert normalize_base_url("https://x/y/") == "https://x/y"


def test_least_outstanding_wins_and_ties_rotate() -> None:
    pool = EndpointPool([A, B, C])
    held = [pool.acquire() for _ in range(3)]
    assert sorted(e.url for e in held) == [A, B, C]  # a tie spreads over all three
    pool.release(held[0])  # that one now has 0 outstanding, the others 1
    assert pool.acquire().url == held[0].url


def test_failed_endpoint_cools_down_then_returns() -> None:
    clock = Clock()
    pool = EndpointPool([A, B], clock=clock)
    a = pool.endpoints[0]
    pool.record(a, ok=False)  # 1 s cooldown
    assert all(pool.acquire().url == B for _ in range(5))
    clock.now += 1.01
    assert A in {pool.acquire().url for _ in range(2)}
    pool.record(a, ok=False)
    pool.record(a, ok=False)  # consecutive failures double the cooldown: 2 s
    clock.now += 1.5
    assert not a.healthy(clock.now)
    pool.record(a, ok=True)
    assert a.healthy(clock.now)


def test_cooldown_follows_retry_after() -> None:
    clock = Clock()
    pool = EndpointPool([A, B], clock=clock)
    pool.record(pool.endpoints[0], ok=False, cooldown=7.0)
    clock.now += 6.9
    assert not pool.endpoints[0].healthy(clock.now)
    clock.now += 0.2
    assert pool.endpoints[0].healthy(clock.now)


def test_all_down_still_routes_to_soonest_recovery() -> None:
    clock = Clock()
    pool = EndpointPool([A, B], clock=clock)
    pool.record(pool.endpoints[0], ok=False, cooldown=10)
    pool.record(pool.endpoints[1], ok=False, cooldown=3)
    assert pool.acquire().url == B


def test_avoid_skips_the_failed_url_when_possible() -> None:
    pool = EndpointPool([A, B])
    assert all(pool.acquire(avoid=A).url == B for _ in range(3))
    single = EndpointPool([A])
    assert single.acquire(avoid=A).url == A  # nothing else to go to


def test_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RRM_JUDGE_URL", raising=False)
    with pytest.raises(ValueError, match="RRM_JUDGE_URL"):
        JudgeClient()


def test_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRM_JUDGE_URL", "a.test:1, http://b.test:2/")
    with JudgeClient() as client:
        assert client.base_urls == ["http://a.test:1", "http://b.test:2"]


def _router(down: set[str], judge: FakeJudge, seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}"
        seen.append(base)
        if base in down:
            raise httpx.ConnectError("down", request=request)
        return judge(request)

    return httpx.MockTransport(handler)


def test_failover_when_one_replica_is_down(sleeps: list[float]) -> None:
    judge, seen = FakeJudge(), []
    transport = _router({B}, judge, seen)
    items = [{"question": f"q{i}", "trajectory": "t"} for i in range(40)]
    http = httpx.Client(transport=transport)
    with JudgeClient([A, B, C], chunk_size=4, max_concurrency=4, http_client=http) as client:
        result = client.judge(items)
        snapshot = {e["url"]: e for e in client.pool.snapshot()}
    assert len(result) == 40 and all(j.ok for j in result)
    assert [j.index for j in result] == list(range(40))
    assert sleeps == []  # failover to a healthy replica does not wait
    assert seen.count(B) <= 3  # tried by the first wave at most, marked down, then avoided
    assert snapshot[B]["healthy"] is False and snapshot[B]["failures"] >= 1
    assert snapshot[A]["requests"] >= 4 and snapshot[C]["requests"] >= 4


async def test_async_failover_and_spread(sleeps: list[float]) -> None:
    judge, seen = FakeJudge(), []
    transport = _router({A}, judge, seen)
    items = [{"question": f"q{i}", "trajectory": "t"} for i in range(30)]
    async with AsyncJudgeClient([A, B, C], chunk_size=3, http_client=httpx.AsyncClient(transport=transport)) as c:
        result = await c.judge(items)
    assert all(j.ok for j in result) and len(result) == 30
    assert {B, C} <= set(seen)
    assert result.retries_taken >= 1  # the chunk that met A was re-sent


async def test_async_concurrency_limit_is_respected() -> None:
    in_flight, peak = 0, 0
    judge = FakeJudge()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return judge(request)

    transport = httpx.MockTransport(handler)
    items = [{"question": f"q{i}", "trajectory": "t"} for i in range(50)]
    http = httpx.AsyncClient(transport=transport)
    async with AsyncJudgeClient(A, chunk_size=2, max_concurrency=3, http_client=http) as c:
        result = await c.judge(items)
    assert len(result) == 50 and len(judge.calls) == 25
    assert peak == 3

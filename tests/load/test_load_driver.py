"""The load driver against a fake judge (httpx mock transport): counts, bounds, arrival timing, safety."""

from __future__ import annotations

import io
import itertools
import json
import statistics
import time

import httpx
import pytest

from load_tests.driver import LoadConfig, arrival_offsets, run_load
from load_tests.fake_judge import COMPLETION_TOKENS_PER_ITEM, PROMPT_TOKENS_PER_ITEM, FakeJudge
from load_tests.target import RemoteTargetError, check_target, is_loopback_host
from load_tests.workload import build_requests, get_preset, with_lengths

URL = "http://127.0.0.1:8000"


def _statuses(index: int) -> int:
    return {4: 429, 9: 429, 7: 503}.get(index, 200)


async def test_closed_loop_counts_everything(fake_judge: FakeJudge) -> None:
    fake_judge.status_for = _statuses
    fake_judge.latency_s = lambda index: 0.01 if index % 2 else 0.03
    config = LoadConfig(url=URL, requests=12, concurrency=3, items_per_request=4, options={"max_tokens": 64})
    async with fake_judge.client() as client:
        report = await run_load(config, client=client)
    assert fake_judge.max_in_flight == 3
    assert fake_judge.urls[0] == URL + "/judge"
    assert all(body["options"] == {"max_tokens": 64} for body in fake_judge.requests_seen)
    assert (report.requests_sent, report.requests_ok, report.requests_429, report.requests_5xx) == (
        12,
        9,
        2,
        1,
    )
    assert report.requests_other_errors == 0 and report.stopped_by == "requests"
    # Items in slots 0..3 of each ok request: slot 1 parse_error, slot 3 length, slot 2 cached.
    assert (report.judgments, report.judgments_ok, report.cached) == (36, 18, 9)
    assert report.failed_by_reason == {"length": 9, "parse_error": 9}
    assert report.prompt_tokens == 36 * PROMPT_TOKENS_PER_ITEM
    assert report.completion_tokens == 36 * COMPLETION_TOKENS_PER_ITEM
    assert report.judgments_per_s == pytest.approx(36 / report.elapsed_s)
    assert report.error_types == {"not_ready": 1, "overloaded": 2}
    lat = report.latency_request
    assert lat.n == 9 and lat.p50 is not None and lat.p99 is not None and lat.max is not None
    assert 0.01 <= lat.p50 <= lat.p99 <= lat.max < 0.5
    assert report.latency_item.n == 36


async def test_payloads_and_request_bound(fake_judge: FakeJudge) -> None:
    payloads = build_requests("grpo", seed=1, n=10)
    async with fake_judge.client() as client:
        report = await run_load(LoadConfig(url=URL, requests=4, concurrency=2), payloads=payloads, client=client)
    assert len(fake_judge.requests_seen) == 4 == report.requests_planned
    seen = sorted(fake_judge.requests_seen, key=lambda body: body["items"][0]["id"])
    assert [body["items"] for body in seen] == payloads[:4]
    assert "options" not in fake_judge.requests_seen[0]
    assert report.items_sent == 32


async def test_a_custom_preset_object_is_used(fake_judge: FakeJudge) -> None:
    preset = with_lengths(get_preset("short"), median=200, low=150, high=250)
    async with fake_judge.client() as client:
        report = await run_load(LoadConfig(url=URL, preset=preset, requests=2, items_per_request=2), client=client)
    assert report.requests_ok == 2 and report.config["preset"]["shape"]["tokens"]["median"] == 200
    sizes = [len(json.dumps(item)) for body in fake_judge.requests_seen for item in body["items"]]
    assert max(sizes) < 2500


async def test_duration_bound_cancels_what_hangs(fake_judge: FakeJudge) -> None:
    fake_judge.latency_s = 30.0
    config = LoadConfig(url=URL, requests=100, concurrency=4, duration_s=0.2, grace_s=0.1, items_per_request=1)
    started = time.perf_counter()
    async with fake_judge.client() as client:
        report = await run_load(config, client=client)
    # Cancelled, not awaited: far sooner than the judge would have answered (a loose bound: machines are noisy).
    assert time.perf_counter() - started < fake_judge.latency_s / 2
    assert report.stopped_by == "duration"
    assert report.requests_sent == report.requests_cancelled == 4
    assert report.requests_ok == 0 and report.latency_request.n == 0


async def test_duration_bound_stops_sending(fake_judge: FakeJudge) -> None:
    fake_judge.latency_s = 0.05
    config = LoadConfig(url=URL, requests=200, concurrency=2, duration_s=0.3, grace_s=1.0, items_per_request=1)
    async with fake_judge.client() as client:
        report = await run_load(config, client=client)
    assert report.stopped_by == "duration" and report.requests_cancelled == 0
    assert 4 <= report.requests_sent <= 16 and report.requests_ok == report.requests_sent
    # Nothing was sent behind the report's back once the bound stopped the run.
    assert len(fake_judge.arrivals) == report.requests_sent


async def test_open_loop_departs_on_schedule(fake_judge: FakeJudge) -> None:
    fake_judge.latency_s = 0.02
    config = LoadConfig(url=URL, mode="open", rate=100.0, arrival="constant", requests=30, items_per_request=1)
    async with fake_judge.client() as client:
        started = time.perf_counter()
        report = await run_load(config, client=client)
    offsets = [t - started for t in fake_judge.arrivals]
    expected = arrival_offsets(30, 100.0, process="constant", seed=0)
    assert len(offsets) == 30
    assert statistics.mean(o - e for o, e in zip(offsets, expected, strict=True)) < 0.1
    assert 0.25 <= offsets[-1] - offsets[0] <= 0.6  # 29 gaps of 10 ms
    assert report.send_lag.n == 30 and report.send_lag.p50 is not None and report.send_lag.p50 < 0.1
    assert fake_judge.max_in_flight >= 2  # open loop overlaps: each takes 20 ms, one departs every 10 ms


async def test_open_loop_caps_in_flight_and_counts_skips(fake_judge: FakeJudge) -> None:
    fake_judge.latency_s = 0.2
    config = LoadConfig(
        url=URL,
        mode="open",
        rate=200.0,
        arrival="constant",
        requests=20,
        max_in_flight=3,
        items_per_request=1,
    )
    async with fake_judge.client() as client:
        report = await run_load(config, client=client)
    assert fake_judge.max_in_flight <= 3
    assert report.requests_sent + report.requests_skipped == 20 and report.requests_skipped > 0
    assert report.requests_sent == report.requests_ok


def test_poisson_arrivals_have_the_right_rate_and_are_seeded() -> None:
    offsets = arrival_offsets(4000, 50.0, process="poisson", seed=3)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert offsets[0] == 0.0 and all(g >= 0 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(1 / 50.0, rel=0.06)
    assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, abs=0.1)  # exponential: CV 1
    assert arrival_offsets(50, 50.0, process="poisson", seed=3) == offsets[:50]
    assert arrival_offsets(50, 50.0, process="poisson", seed=4) != offsets[:50]


async def test_transport_failures_are_counted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b'"r0.' in request.content:
            raise httpx.ConnectError("refused", request=request)
        if b'"r1.' in request.content:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, content=b"not json")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        report = await run_load(LoadConfig(url=URL, requests=3, concurrency=1), client=client)
    assert report.outcomes["transport_error"] == report.outcomes["timeout"] == report.outcomes["bad_response"] == 1
    assert report.requests_other_errors == 3 and report.error_types["ConnectError"] == 1


async def test_non_loopback_is_refused_before_any_request(fake_judge: FakeJudge) -> None:
    async with fake_judge.client() as client:
        for url in ("http://10.0.0.1:8000", "http://example.com", "http://0.0.0.0:8000"):
            with pytest.raises(RemoteTargetError):
                await run_load(LoadConfig(url=url, requests=1), client=client)
        assert fake_judge.requests_seen == []
        report = await run_load(LoadConfig(url="http://judge.internal", requests=1, allow_remote=True), client=client)
    assert report.requests_ok == 1


def test_target_rules() -> None:
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "LOCALHOST"))
    assert not any(is_loopback_host(h) for h in ("10.1.1.1", "example.com", "localhost.evil.com", "::"))
    assert check_target("http://[::1]:9/") == "http://[::1]:9"
    for bad in ("ftp://127.0.0.1", "127.0.0.1:8000", "http://"):
        with pytest.raises(ValueError):
            check_target(bad)


def test_config_rejects_unbounded_or_inconsistent_settings() -> None:
    for kwargs in ({"mode": "open"}, {"requests": 0}, {"concurrency": 0}, {"duration_s": 0}, {"grace_s": -1}):
        with pytest.raises(ValueError):
            LoadConfig(**kwargs)  # type: ignore[arg-type]
    assert "secret" not in str(LoadConfig(api_key="secret").public_dict())


async def test_progress_is_written(fake_judge: FakeJudge) -> None:
    stream = io.StringIO()
    async with fake_judge.client() as client:
        await run_load(LoadConfig(url=URL, requests=3, items_per_request=1), client=client, progress=stream)
    out = stream.getvalue()
    assert out.startswith("[closed] 3/3 done") and out.endswith("\n")

"""`serve-reward` under its frameworks' real load: one sample per request, many at once.

In-flight judgments are bounded by the judge's admission limit (read from its /info), not by a client default; each
request's judge deadline comes from its framework's own timeout; a request the framework hangs up on has its judgment
cancelled (its connection to the judge closed, which makes the judge drop the work). The judge is a fake speaking the
wire contract over real HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from trainer_client import AsyncJudgeClient
from trainer_client.adapters._admission import admission_limit
from trainer_client.adapters.server import DEADLINE_MARGIN_S, RewardServer, make_reward_server
from trainer_client.reagent_r import AsyncReagentRScorer

from .conformance.run import start_serve_reward
from .fakes import FakeJudge, fails_on_bad, serve_over_http

PROMPT = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"


class SlowJudge(FakeJudge):
    """Holds each request `delay` seconds, or until `gather` requests are held at once (then answers them all), and
    records the most it held at once."""

    def __init__(self, delay: float, gather: int = 0, **kwargs: Any) -> None:
        super().__init__(score=fails_on_bad, **kwargs)
        self.delay, self.gather, self.now, self.peak, self.finished = delay, gather, 0, 0, 0
        self.lock = threading.Condition()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/judge"):
            return super().__call__(request)
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.lock.notify_all()
            self.lock.wait_for(lambda: bool(self.gather) and self.peak >= self.gather, timeout=self.delay)
        try:
            return super().__call__(request)
        finally:
            with self.lock:
                self.now -= 1
                self.finished += 1


def _server(judge_url: str, in_flight: int) -> tuple[RewardServer, str]:
    client = AsyncJudgeClient(judge_url, max_concurrency=in_flight)
    server = make_reward_server(AsyncReagentRScorer(client), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def slow() -> Iterator[tuple[SlowJudge, str]]:
    judge = SlowJudge(0.3)
    http = serve_over_http(judge)
    yield judge, f"http://127.0.0.1:{http.server_address[1]}"
    http.shutdown()


def _openrlhf_body(k: int) -> dict[str, Any]:
    return {"query": [PROMPT + rf"\boxed{{4}} ({k})"], "prompts": [PROMPT], "labels": ["4"]}


def test_the_admission_limit_is_read_from_the_judges_info(slow: tuple[SlowJudge, str]) -> None:
    judge, url = slow
    assert admission_limit([url], None) == judge.max_pending_items
    assert admission_limit([url, url], None) == 2 * judge.max_pending_items  # replicas add up
    proc, _, banner = start_serve_reward(f"python -m trainer_client serve-reward --url {url} --port 1", url)
    proc.terminate()
    proc.wait(timeout=10)
    assert f"up to {judge.max_pending_items} judgments in flight" in banner


def test_many_single_sample_requests_are_judged_at_once(slow: tuple[SlowJudge, str]) -> None:
    """64 requests at once, as OpenRLHF sends them: all in flight at the judge together, not 8 at a time."""
    judge, url = slow
    judge.delay, judge.gather = 20.0, 64  # held until all 64 are in (or 20 s: then fewer got through at once)
    server, base = _server(url, in_flight=judge.max_pending_items)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=None)) as http:
            return list(
                await asyncio.gather(*(http.post(f"{base}/get_reward", json=_openrlhf_body(k)) for k in range(64)))
            )

    try:
        answers = asyncio.run(burst())
    finally:
        server.shutdown()
        server.server_close()
    assert all(a.status_code == 200 and a.json()["rewards"] == [pytest.approx(1.24)] for a in answers)
    assert judge.peak == 64, f"at most {judge.peak} judge requests were in flight at once"


def test_each_request_carries_its_frameworks_deadline(slow: tuple[SlowJudge, str]) -> None:
    judge, url = slow
    server, base = _server(url, in_flight=8)
    try:
        httpx.post(f"{base}/get_reward", json=_openrlhf_body(0), timeout=30).raise_for_status()
        openrlhf_deadline = judge.bodies[-1]["options"]["timeout_s"]
        httpx.post(
            f"{base}/slime", json={"prompt": PROMPT, "response": "4", "label": "4"}, timeout=30
        ).raise_for_status()
        slime_deadline = judge.bodies[-1]["options"]["timeout_s"]
    finally:
        server.shutdown()
        server.server_close()
    # The judge must finish before the framework gives up (OpenRLHF: 180 s, slime: 120 s), with time to answer.
    assert 180 - DEADLINE_MARGIN_S - 5 < openrlhf_deadline <= 180 - DEADLINE_MARGIN_S
    assert 120 - DEADLINE_MARGIN_S - 5 < slime_deadline <= 120 - DEADLINE_MARGIN_S


def test_a_request_the_framework_gave_up_on_is_cancelled() -> None:
    judge = SlowJudge(3.0)
    http = serve_over_http(judge)
    server, base = _server(f"http://127.0.0.1:{http.server_address[1]}", in_flight=8)
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/get_reward", json=_openrlhf_body(0), timeout=0.5)  # the framework's timeout, shortened
        for _ in range(100):  # the server notices the hang-up at its next poll
            if server.cancelled:
                break
            time.sleep(0.05)
        assert server.cancelled == 1 and server.in_flight == 0
        assert judge.finished == 0, "the judgment was abandoned, not run to the end and scored"
    finally:
        server.shutdown()
        server.server_close()
        http.shutdown()

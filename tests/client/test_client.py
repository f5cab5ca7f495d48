"""The clients' contract with their callers: order, chunking, headers, typed results and local validation."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from trainer_client import AsyncJudgeClient, JudgeClient, JudgeItem, JudgeOptions

from .fakes import FakeJudge, async_client, default_score, sync_client


def _items(n: int) -> list[dict[str, object]]:
    return [{"id": f"item-{i}", "question": f"question {i}", "trajectory": f"answer {i}"} for i in range(n)]


def test_judgments_come_back_in_input_order_across_chunks() -> None:
    judge = FakeJudge()
    items = _items(23)
    with sync_client(judge, chunk_size=5) as client:
        result = client.judge(items)
    assert len(judge.calls) == 5
    assert [j.index for j in result] == list(range(23))
    assert [j.id for j in result] == [f"item-{i}" for i in range(23)]
    expected = [default_score(JudgeItem.model_validate(i).model_dump(exclude_none=True)) for i in items]
    assert result.scores == expected


async def test_async_twin_gives_the_same_result() -> None:
    items = _items(11)
    with sync_client(FakeJudge(), chunk_size=4) as client:
        sync_result = client.judge(items)
    async with async_client(FakeJudge(), chunk_size=4) as aclient:
        async_result = await aclient.judge(items)
    assert [j.model_dump() for j in sync_result] == [j.model_dump() for j in async_result]


def test_same_keyword_only_signature() -> None:
    import inspect

    for name in ("__init__", "judge"):
        sync_sig = inspect.signature(getattr(JudgeClient, name))
        async_sig = inspect.signature(getattr(AsyncJudgeClient, name))
        assert list(sync_sig.parameters) == list(async_sig.parameters)
        kinds = [p.kind for p in sync_sig.parameters.values()][2:]
        assert all(k is inspect.Parameter.KEYWORD_ONLY for k in kinds)


def test_request_ids_headers_and_options_travel() -> None:
    judge = FakeJudge()
    options = JudgeOptions(max_tokens=64, temperature=0.0, seed=7)
    with sync_client(judge, chunk_size=2, api_key="sekret", default_headers={"X-Team": "rl"}) as client:
        result = client.judge(_items(3), options=options, request_id="run-1")
    ids = sorted(call.headers["x-request-id"] for call in judge.calls)
    assert ids == ["run-1-0", "run-1-1"]
    assert result.request_ids == ["run-1-0", "run-1-1"]
    assert all(call.headers["authorization"] == "Bearer sekret" for call in judge.calls)
    assert all(call.headers["x-team"] == "rl" for call in judge.calls)
    assert judge.bodies[0]["options"] == {
        "max_tokens": 64,
        "temperature": 0.0,
        "seed": 7,
        "return_reasoning": False,
        "reject_invalid_items": False,
    }
    assert result.model == "fake-judge" and result.template_id == "t0"
    assert result.usage.prompt_tokens == 30 and result.usage.completion_tokens == 15


def test_single_chunk_keeps_the_callers_request_id() -> None:
    judge = FakeJudge()
    with sync_client(judge) as client:
        client.judge(_items(2), request_id="abc")
    assert judge.calls[0].headers["x-request-id"] == "abc"


def test_failed_judgments_are_typed_and_never_zero() -> None:
    judge = FakeJudge(score=lambda item: None if item["question"].endswith("1") else 0.7)
    with sync_client(judge) as client:
        result = client.judge(_items(3))
    assert result.scores == [0.7, None, 0.7]
    assert [j.reason for j in result.failures] == ["parse_error"]
    assert not result[1].ok and result[1].score is None


def test_bad_items_are_refused_before_sending() -> None:
    judge = FakeJudge()
    with sync_client(judge) as client:
        with pytest.raises(ValidationError, match="exactly one"):
            client.judge([{"question": "q"}])
        with pytest.raises(ValidationError):
            client.judge([{"question": "q", "trajectory": "t", "typo": 1}])
    assert judge.calls == []


def test_items_may_be_models_or_dicts_with_messages() -> None:
    judge = FakeJudge()
    messages = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "search", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "result"},
        {"role": "assistant", "content": "done"},
    ]
    item = JudgeItem(question="q", trajectory="t")
    with sync_client(judge) as client:
        result = client.judge([item, {"question": "q2", "messages": messages}])
    assert len(result) == 2
    sent = judge.bodies[0]["items"][1]
    assert sent["messages"][0]["tool_calls"][0]["function"]["name"] == "search"


def test_client_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        JudgeClient("http://x", chunk_size=0)
    with pytest.raises(ValueError):
        JudgeClient("http://x", max_retries=-1)


def test_timeouts_are_finite_and_structured() -> None:
    with JudgeClient("http://x") as client:
        timeout = client.timeout
    assert None not in (timeout.connect, timeout.read, timeout.write, timeout.pool)
    with JudgeClient("http://x", timeout=3.0) as client:
        assert client.timeout.read == 3.0


def test_check_ready_marks_endpoints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.url.host == "up.test"
        return httpx.Response(200 if ok else 503, content=json.dumps({"ready": ok}))

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with JudgeClient(["http://up.test", "http://down.test"], http_client=http) as client:
        assert client.check_ready() == {"http://up.test": True, "http://down.test": False}
        assert [e["healthy"] for e in client.pool.snapshot()] == [True, False]


async def test_the_read_timeout_follows_the_requests_deadline() -> None:
    judge = FakeJudge()
    timeout = httpx.Timeout(5.0, read=330.0)
    transport = httpx.MockTransport(judge)
    with JudgeClient("http://judge.test", http_client=httpx.Client(transport=transport, timeout=timeout)) as client:
        client.judge(_items(1), options={"timeout_s": 900})  # longer than the client's read timeout of 330 s
        client.judge(_items(1), options={"timeout_s": 5})  # shorter: a stuck answer is given up on at 35 s
        client.judge(_items(1))  # no deadline of its own: the client's timeout
    http = httpx.AsyncClient(transport=transport, timeout=timeout)
    async with AsyncJudgeClient("http://judge.test", http_client=http) as aclient:
        await aclient.judge(_items(1), options={"timeout_s": 900})
    reads = [call.extensions["timeout"]["read"] for call in judge.calls]
    assert reads == [930.0, 35.0, 330.0, 930.0]
    assert {call.extensions["timeout"]["connect"] for call in judge.calls} == {5.0}

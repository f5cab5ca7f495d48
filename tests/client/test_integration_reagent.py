"""The client against the real service (vLLM on the tiny demo model), with a real policy (the same tiny model
through transformers). The demo judge writes meaningless text, so some judgments may fail: every check allows
typed failures and only asks that scores, rewards and advantages be well-formed.

Fixtures from tests/conftest.py: `judge_url` (base URL of the live service), `demo_model_dir` (the tiny model).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trainer_client import (
    AsyncJudgeClient,
    JudgeClient,
    Judgment,
    ReagentRScorer,
    areagent_u_groups,
    question_messages,
    reagent_u_groups,
)
from trainer_client.adapters.server import make_reward_server
from trainer_client.adapters.trl import reagent_r_reward

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUESTION = r"What is 17 + 25? Put the final answer in \boxed{}."
G = 4
CHATML = "<|im_start|>user\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n"


def _well_formed(j: Judgment) -> bool:
    if j.ok:
        return j.score is not None and 0.0 <= j.score <= 1.0
    return j.score is None and j.reason is not None


@pytest.fixture(scope="module")
def policy(demo_model_dir: Path) -> Any:
    pytest.importorskip("transformers")
    sys.path.insert(0, str(EXAMPLES))
    from tiny_policy import TransformersPolicy

    return TransformersPolicy(demo_model_dir, max_new_tokens=24, seed=1)


@pytest.fixture
def client(judge_url: str) -> Iterator[JudgeClient]:
    with JudgeClient(judge_url, timeout=120.0) as c:
        yield c


def test_judge_batch_in_order_with_request_id(client: JudgeClient) -> None:
    items = [
        {"id": f"i{k}", "question": QUESTION, "trajectory": f"The answer is \\boxed{{{40 + k}}}."} for k in range(5)
    ]
    result = client.judge(items, request_id="it-judge-1")
    assert [j.index for j in result] == list(range(5)) and [j.id for j in result] == [f"i{k}" for k in range(5)]
    assert all(_well_formed(j) for j in result)
    assert result.request_ids == ["it-judge-1"] and result.model
    assert client.check_ready() == {client.base_urls[0]: True}


async def test_async_client_and_replica_failover(judge_url: str) -> None:
    # A second "replica" that is down: every request must still be answered, by the live one.
    dead = "http://127.0.0.1:9"
    async with AsyncJudgeClient([dead, judge_url], chunk_size=2, timeout=120.0) as aclient:
        items = [
            {"question": QUESTION, "messages": [{"role": "assistant", "content": f"\\boxed{{{k}}}"}]} for k in range(6)
        ]
        result = await aclient.judge(items)
        snapshot = {e["url"]: e for e in aclient.pool.snapshot()}
    assert len(result) == 6 and all(_well_formed(j) for j in result)
    assert snapshot[dead]["failures"] >= 1


def _first_attempts(policy: Any) -> list[str]:
    attempts: list[str] = policy([question_messages(QUESTION)] * G)
    return attempts


def _check_group(group: Any) -> None:
    assert len(group.samples) == 2 * G
    assert [s.stage for s in group.samples] == ["first"] * G + ["refined"] * G
    for sample in group.samples:
        assert _well_formed(sample.judgment)
        if sample.reward is None:
            assert not sample.judgment.ok and sample.advantage is None  # masked, never 0
        else:
            assert math.isfinite(sample.reward) and math.isfinite(sample.advantage)
    refined = group.samples[G]
    assert refined.context[0] == {"role": "user", "content": QUESTION}
    assert refined.context[1]["role"] == "assistant" and refined.context[1]["content"] == group.samples[0].completion
    assert refined.context[2]["role"] == "user"
    assert any(s.advantage is not None for s in group.samples), "every judgment failed"


def test_reagent_u_group_end_to_end(policy: Any, client: JudgeClient) -> None:
    (group,) = reagent_u_groups(policy, [QUESTION], [_first_attempts(policy)], ["42"], client=client)
    _check_group(group)


async def test_reagent_u_group_end_to_end_async(policy: Any, judge_url: str) -> None:
    async with AsyncJudgeClient(judge_url, timeout=120.0) as aclient:
        groups = await areagent_u_groups(policy, [QUESTION], [_first_attempts(policy)], ["42"], client=aclient)
    _check_group(groups[0])


def test_trl_reward_called_like_grpo_trainer(judge_url: str) -> None:
    reward = reagent_r_reward(judge_url)
    prompts = [[{"role": "user", "content": QUESTION}]] * G
    completions = [[{"role": "assistant", "content": c}] for c in (r"\boxed{42}", r"\boxed{41}", "no idea", "42")]
    metrics: dict[str, float] = {}
    # GRPOTrainer awaits async reward functions on an event loop in a daemon thread, with these keywords.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        coro = reward(
            prompts=prompts,
            completions=completions,
            completion_ids=[[0]] * G,
            answer=["42"] * G,
            trainer_state=None,
            log_extra=lambda *a: None,
            log_metric=metrics.__setitem__,
        )
        out = asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=300)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert len(out) == G and reward.__name__ == "reagent_r"
    for value, rule in zip(out, (1.0, 0.0, 0.0, 0.0), strict=True):
        assert value is None or rule <= value <= rule + 0.3 + 1e-9
    assert any(v is not None for v in out)
    assert 0.0 <= metrics["reagent_r/judge_failure_rate"] <= 1.0


def test_openrlhf_and_slime_adapters_answer_their_shapes(client: JudgeClient) -> None:
    server = make_reward_server(ReagentRScorer(client), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=300) as http:
            body = {"query": [CHATML + r"\boxed{42}<|im_end|>"], "prompts": [CHATML], "labels": ["42"]}
            answer = http.post("/get_reward", json=body).json()
            slime = http.post("/slime", json={"prompt": CHATML, "response": r"\boxed{41}", "label": "42"}).json()
    finally:
        server.shutdown()
        server.server_close()
    assert set(answer) == {"rewards", "scores", "extra_logs"}
    assert len(answer["rewards"]) == 1 and 1.0 <= answer["rewards"][0] <= 1.3 + 1e-9
    assert answer["scores"] == [1.0]
    assert set(answer["extra_logs"]) == {"rule_reward", "judge_ok", "judge_failed", "judge_bonus"}
    assert 0.0 <= slime["reward"] <= 0.3 + 1e-9 and slime["rule_reward"] == 0.0
    assert slime["judge_ok"] == (slime["judge_score"] is not None)


def test_cli_judges_a_file(judge_url: str, tmp_path: Path) -> None:
    import subprocess

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"t{k}", "question": QUESTION, "trajectory": f"{k}"}) + "\n" for k in range(3))
    )
    cmd = [sys.executable, "-m", "trainer_client", "judge", str(src), "-o", str(dst), "--url", judge_url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["id"] for r in records] == ["t0", "t1", "t2"]
    assert "judged 3:" in result.stdout

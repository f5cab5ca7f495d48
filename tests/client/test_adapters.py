"""The framework adapters, called the way each framework calls them, against the fake service."""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from trainer_client import AsyncReagentRScorer, JudgeClient, ReagentRScorer
from trainer_client.adapters import slime as slime_adapter
from trainer_client.adapters import verl as verl_adapter
from trainer_client.adapters._prompts import question_from_prompt, response_from_query, strip_special_tokens
from trainer_client.adapters.openrlhf import handle_openrlhf
from trainer_client.adapters.server import make_reward_server
from trainer_client.adapters.slime import handle_slime
from trainer_client.adapters.trl import judge_score_reward, reagent_r_reward
from trainer_client.adapters.verl import VerlReward

from .fakes import FakeJudge, async_client, sync_client

CHATML_PROMPT = (
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
)


def _fails_on_bad(item: dict[str, Any]) -> float | None:
    text = item["messages"][-1]["content"] or ""
    return None if "bad" in text else 0.5


def _mock_async_kwargs(judge: FakeJudge) -> dict[str, Any]:
    return {"http_client": httpx.AsyncClient(transport=httpx.MockTransport(judge))}


# --- prompts -----------------------------------------------------------------------------------------------------
def test_question_and_response_recovery() -> None:
    assert question_from_prompt(CHATML_PROMPT) == "What is 2+2?"
    llama = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nCapital?<|eot_id|>"
    assert question_from_prompt(llama) == "Capital?"
    assert question_from_prompt("plain question") == "plain question"
    assert question_from_prompt([{"role": "system", "content": "s"}, {"role": "user", "content": " q "}]) == "q"
    assert response_from_query(CHATML_PROMPT + r"\boxed{4}<|im_end|>", CHATML_PROMPT) == r"\boxed{4}"
    assert response_from_query(CHATML_PROMPT.strip() + r" \boxed{4}<|im_end|>", CHATML_PROMPT) == r"\boxed{4}"
    assert strip_special_tokens("x</s>") == "x"


# --- TRL ---------------------------------------------------------------------------------------------------------
def _trl_batch() -> dict[str, Any]:
    prompts = [[{"role": "user", "content": "What is 2+2?"}]] * 3
    completions = [[{"role": "assistant", "content": c}] for c in (r"\boxed{4}", r"\boxed{5}", "bad")]
    return {
        "prompts": prompts,
        "completions": completions,
        "completion_ids": [[1], [2], [3]],
        "answer": ["4", "4", "4"],
    }


async def test_trl_reward_called_like_grpo_trainer() -> None:
    judge, metrics = FakeJudge(score=_fails_on_bad), {}
    reward = reagent_r_reward("http://judge.test", client_kwargs=_mock_async_kwargs(judge))
    out = await reward(
        **_trl_batch(), trainer_state=None, log_extra=lambda *a: None, log_metric=lambda k, v: metrics.__setitem__(k, v)
    )
    assert out == [pytest.approx(1.15), pytest.approx(0.15), None]  # None: masked, never 0
    assert reward.__name__ == "reagent_r"
    assert metrics == {"reagent_r/judge_failure_rate": pytest.approx(1 / 3)}
    sent = judge.bodies[0]["items"][0]
    assert sent["question"] == "What is 2+2?" and sent["messages"][0]["role"] == "assistant"


async def test_trl_rule_only_policy_and_plain_text_format() -> None:
    reward = reagent_r_reward(
        "http://judge.test",
        on_failure="rule_only",
        name="rrm",
        client_kwargs=_mock_async_kwargs(FakeJudge(score=_fails_on_bad)),
    )
    out = await reward(prompts=["2+2?", "2+2?"], completions=[r"bad \boxed{4}", r"\boxed{4}"], answer=["4", "4"])
    assert out == [1.0, pytest.approx(1.15)] and reward.__name__ == "rrm"


async def test_trl_needs_the_answer_column() -> None:
    reward = reagent_r_reward("http://judge.test", client_kwargs=_mock_async_kwargs(FakeJudge()))
    with pytest.raises(KeyError, match="answer"):
        await reward(prompts=["q"], completions=["c"])


async def test_trl_judge_score_reward() -> None:
    reward = judge_score_reward("http://judge.test", client_kwargs=_mock_async_kwargs(FakeJudge(score=_fails_on_bad)))
    out = await reward(prompts=["q", "q"], completions=["fine", "bad"])
    assert out == [0.5, None] and reward.__name__ == "judge_score"


def test_trl_reward_on_a_daemon_loop_like_trl_and_pickles() -> None:
    # GRPOTrainer runs async reward functions on an event loop in a daemon thread.
    reward = reagent_r_reward("http://judge.test", client_kwargs=_mock_async_kwargs(FakeJudge()))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        batch = _trl_batch()
        batch["completions"] = [[{"role": "assistant", "content": r"\boxed{3/4}"}]] * 3
        batch["answer"] = ["0.75"] * 3  # math-verify on a non-main thread
        out = asyncio.run_coroutine_threadsafe(reward(**batch), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
    assert all(r is not None and r >= 1.0 for r in out)
    clone = pickle.loads(pickle.dumps(reagent_r_reward("http://judge.test", lam=0.2)))
    assert clone.__name__ == "reagent_r" and clone.lam == 0.2


def test_trl_sees_an_async_named_reward() -> None:
    trl_utils = pytest.importorskip("trl.trainer.utils")
    reward = reagent_r_reward("http://judge.test")
    assert trl_utils.is_async_callable(reward)
    assert trl_utils.get_callable_name(reward) == "reagent_r"


# --- verl --------------------------------------------------------------------------------------------------------
@pytest.fixture
def verl_reward() -> VerlReward:
    http = httpx.Client(transport=httpx.MockTransport(FakeJudge(score=_fails_on_bad)))
    return VerlReward("http://judge.test", client_kwargs={"http_client": http})


def test_verl_compute_score_single_and_batch(verl_reward: VerlReward, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verl_adapter, "_default", verl_reward)
    one = verl_adapter.compute_score("gsm8k", r"\boxed{4}", "4", {"question": "2+2?"})
    assert one == {
        "score": pytest.approx(1.15),
        "rule_reward": 1.0,
        "judge_ok": 1.0,
        "judge_failed": 0.0,
        "judge_bonus": pytest.approx(0.15),
    }
    many = verl_adapter.compute_score_batch(
        ["gsm8k"] * 2,
        [r"\boxed{4}", r"bad \boxed{4}"],
        ["4", "4"],
        [{"question": "2+2?"}, {"prompt": [{"role": "user", "content": "2+2?"}]}],
    )
    # The failure gets the group's mean score (0.5: its sibling's), never 0; flagged and counted.
    assert [m["score"] for m in many] == [pytest.approx(1.15), pytest.approx(1.15)]
    assert [m["judge_ok"] for m in many] == [1.0, 0.0] and [m["judge_failed"] for m in many] == [0.0, 1.0]
    assert all(isinstance(m["score"], float) and math.isfinite(m["score"]) for m in many)


def test_verl_needs_the_question_and_a_number_policy(verl_reward: VerlReward) -> None:
    with pytest.raises(ValueError, match="question"):
        verl_reward("gsm8k", "x", "4", {})
    with pytest.raises(ValueError):
        VerlReward("http://x", on_failure="mask")
    plain = VerlReward("http://judge.test", lam=0.25, client_kwargs={"max_retries": 2})
    assert pickle.loads(pickle.dumps(plain)).lam == 0.25


# --- OpenRLHF and slime ------------------------------------------------------------------------------------------
@pytest.fixture
def scorer() -> Iterator[ReagentRScorer]:
    with sync_client(FakeJudge(score=_fails_on_bad)) as client:
        yield ReagentRScorer(client)


def test_openrlhf_request_shape(scorer: ReagentRScorer) -> None:
    payload = {
        "query": [CHATML_PROMPT + r"\boxed{4}<|im_end|>", CHATML_PROMPT + "bad<|im_end|>"],
        "prompts": [CHATML_PROMPT, CHATML_PROMPT],
        "labels": ["4", "4"],
    }
    out = handle_openrlhf(payload, scorer)
    assert out["rewards"] == [pytest.approx(1.15), pytest.approx(0.15)]  # failed: R_rule + λ·(group mean 0.5)
    assert out["scores"] == [1.0, 0.0]
    assert out["extra_logs"] == {
        "rule_reward": [1.0, 0.0],
        "judge_ok": [1.0, 0.0],
        "judge_failed": [0.0, 1.0],
        "judge_bonus": [pytest.approx(0.15), pytest.approx(0.15)],
    }
    with pytest.raises(ValueError):
        handle_openrlhf({"query": "not a list"}, scorer)


def test_slime_request_shape(scorer: ReagentRScorer) -> None:
    out = handle_slime({"prompt": CHATML_PROMPT, "response": r"\boxed{4}<|im_end|>", "label": "4"}, scorer)
    assert out["reward"] == pytest.approx(1.15) and out["judge_score"] == 0.5 and out["judge_ok"] is True
    failed = handle_slime({"prompt": "2+2?", "response": "bad", "label": "4"}, scorer)
    assert failed["judge_score"] is None and failed["failure_reason"] == "parse_error"
    assert failed["reward"] == pytest.approx(0.15) and failed["neutral_score"] == 0.5  # R_rule + λ·s̄, never 0


async def test_slime_custom_reward_function(monkeypatch: pytest.MonkeyPatch) -> None:
    client = async_client(FakeJudge(score=_fails_on_bad))
    monkeypatch.setattr(slime_adapter, "_scorer", AsyncReagentRScorer(client))
    sample = SimpleNamespace(prompt=CHATML_PROMPT, response=r"\boxed{4}<|im_end|>", label="4", remove_sample=False)
    assert await slime_adapter.reward_func(None, sample) == pytest.approx(1.15)
    bad = SimpleNamespace(prompt=CHATML_PROMPT, response="bad", label="4", remove_sample=False)
    rewards = await slime_adapter.group_reward_func(None, [sample, bad])
    assert rewards == [pytest.approx(1.15), pytest.approx(0.15)]  # the failed one: neutral, and masked
    assert (sample.remove_sample, bad.remove_sample) == (False, True)


def test_reward_server_over_real_http(scorer: ReagentRScorer) -> None:
    server = make_reward_server(scorer, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            r = http.post(
                "/get_reward",
                json={"query": [CHATML_PROMPT + r"\boxed{4}"], "prompts": [CHATML_PROMPT], "labels": ["4"]},
            )
            assert r.status_code == 200 and r.json()["rewards"] == [pytest.approx(1.15)]
            s = http.post("/slime", json={"prompt": "2+2?", "response": r"\boxed{4}", "label": "4"})
            assert s.json()["reward"] == pytest.approx(1.15)
            assert http.post("/get_reward", content=b"[1]").status_code == 400
            assert http.post("/nope", json={}).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_scorer_gives_outages_the_neutral_score(sleeps: list[float]) -> None:
    with JudgeClient(
        "http://judge.test",
        max_retries=1,
        http_client=httpx.Client(transport=httpx.MockTransport(FakeJudge([503, 503]))),
    ) as client:
        out = ReagentRScorer(client).score(["q"], [r"\boxed{4}"], ["4"])
    assert out[0].reward == pytest.approx(1.15) and out[0].neutral_score == 0.5  # nothing judged yet: 0.5
    assert not out[0].judge_ok and out[0].judgment is not None
    assert out[0].judgment.reason == "unavailable"

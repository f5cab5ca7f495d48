"""Bad input never becomes a reward, and a failed judgment never becomes a zero.

Each adapter is handed malformed payloads of its framework (missing fields, wrong types, empty completions, a
missing ground truth) and must refuse them in the framework's convention (an exception for in-process
adapters, HTTP 400 for the reward server) with a message naming the field, without calling the judge.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from trainer_client import AsyncReagentRScorer, ReagentRScorer
from trainer_client.adapters import slime as slime_adapter
from trainer_client.adapters._payload import PayloadError
from trainer_client.adapters.openrlhf import handle_openrlhf
from trainer_client.adapters.server import make_reward_server
from trainer_client.adapters.slime import handle_slime
from trainer_client.adapters.trl import reagent_r_reward
from trainer_client.adapters.verl import VerlReward
from trainer_client.reagent_r import DEFAULT_NEUTRAL_SCORE, NeutralScores

from .fakes import FakeJudge, async_client, sync_client

PROMPT = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"


def _score(item: dict[str, Any]) -> float | None:
    text = item["messages"][-1]["content"] or ""
    return None if "bad" in text else 0.8


@pytest.fixture
def judge() -> FakeJudge:
    return FakeJudge(score=_score)


@pytest.fixture
def scorer(judge: FakeJudge) -> Iterator[ReagentRScorer]:
    with sync_client(judge) as client:
        yield ReagentRScorer(client)


OPENRLHF_BAD = [
    ({"prompts": [PROMPT], "labels": ["4"]}, "'query' is missing"),
    ({"query": PROMPT + "4", "prompts": [PROMPT], "labels": ["4"]}, "'query' must be a list"),
    ({"query": [], "prompts": [], "labels": []}, "'query' is an empty list"),
    ({"query": [7], "prompts": [PROMPT], "labels": ["4"]}, r"query\[0\] must be a string"),
    ({"query": [PROMPT + "4"], "prompts": [PROMPT], "labels": [""]}, r"labels\[0\].*--data.label_key"),
    ({"query": [PROMPT + "4"], "prompts": [PROMPT], "labels": [None]}, r"labels\[0\] is missing"),
    ({"query": [PROMPT + "4"], "prompts": [PROMPT]}, "'labels' is missing"),
    ({"query": [PROMPT + "4", PROMPT + "5"], "prompts": [PROMPT], "labels": ["4"]}, "same length"),
    ({"query": [PROMPT + "<|im_end|>"], "prompts": [PROMPT], "labels": ["4"]}, r"query\[0\] holds no response"),
]


@pytest.mark.parametrize(("payload", "message"), OPENRLHF_BAD)
def test_openrlhf_refuses_malformed_requests(
    payload: dict[str, Any], message: str, scorer: ReagentRScorer, judge: FakeJudge
) -> None:
    with pytest.raises(PayloadError, match=message):
        handle_openrlhf(payload, scorer)
    assert judge.calls == [], "nothing is judged from a malformed request"


SLIME_BAD = [
    ({"response": "4", "label": "4"}, "'prompt' is missing"),
    ({"prompt": "2+2?", "response": 4, "label": "4"}, "'response' must be a string"),
    ({"prompt": "2+2?", "response": "  ", "label": "4"}, "'response' is empty"),
    ({"prompt": "2+2?", "response": "4", "label": None}, "'label' is missing.*--label-key"),
    ({"prompt": "2+2?", "response": "4"}, "'label' is missing"),
    ({"prompt": "", "response": "4", "label": "4"}, "'prompt' must be a non-empty"),
]


@pytest.mark.parametrize(("payload", "message"), SLIME_BAD)
def test_slime_refuses_malformed_requests(
    payload: dict[str, Any], message: str, scorer: ReagentRScorer, judge: FakeJudge
) -> None:
    with pytest.raises(PayloadError, match=message):
        handle_slime(payload, scorer)
    assert judge.calls == []


async def test_slime_custom_rm_refuses_a_sample_without_label(monkeypatch: pytest.MonkeyPatch) -> None:
    judge = FakeJudge(score=_score)
    monkeypatch.setattr(slime_adapter, "_scorer", AsyncReagentRScorer(async_client(judge)))
    sample = SimpleNamespace(prompt=PROMPT, response="4", label=None, remove_sample=False)
    with pytest.raises(PayloadError, match=r"Sample\[0\]: 'label' is missing"):
        await slime_adapter.reward_func(None, sample)
    assert judge.calls == []


def test_verl_refuses_missing_ground_truth_and_empty_responses(judge: FakeJudge) -> None:
    http = httpx.Client(transport=httpx.MockTransport(judge))
    reward = VerlReward("http://judge.test", client_kwargs={"http_client": http})
    with pytest.raises(PayloadError, match=r"ground_truth is missing.*reward_model\.ground_truth"):
        reward("gsm8k", r"\boxed{4}", None, {"question": "2+2?"})
    with pytest.raises(PayloadError, match="ground_truth is missing"):
        reward("gsm8k", r"\boxed{4}", "", {"question": "2+2?"})
    with pytest.raises(PayloadError, match="solution_str is empty"):
        reward("gsm8k", " ", "4", {"question": "2+2?"})
    with pytest.raises(PayloadError, match="solution_str must be a string"):
        reward("gsm8k", None, "4", {"question": "2+2?"})
    with pytest.raises(PayloadError, match="extra_info needs a non-empty 'question'"):
        reward("gsm8k", "4", "4", {"question": ""})
    assert judge.calls == []


async def test_trl_masks_blank_completions_and_refuses_missing_answers() -> None:
    judge = FakeJudge(score=_score)
    reward = reagent_r_reward("http://judge.test", client=async_client(judge))
    prompts = [[{"role": "user", "content": "2+2?"}]] * 2
    completions = [[{"role": "assistant", "content": r"\boxed{4}"}], [{"role": "assistant", "content": " "}]]
    metrics: dict[str, float] = {}
    out = await reward(prompts, completions, answer=["4", "4"], log_metric=metrics.__setitem__)
    assert out == [pytest.approx(1.24), None]  # blank: masked (not sent to the judge), never scored
    assert metrics["reagent_r/judge_failure_rate"] == 0.5
    assert len(judge.bodies) == 1 and len(judge.bodies[0]["items"]) == 1
    with pytest.raises(PayloadError, match=r"answer\[1\] is missing"):
        await reward(prompts, completions, answer=["4", None])
    with pytest.raises(KeyError, match="'answer' column"):
        await reward(prompts, completions)
    with pytest.raises(TypeError, match=r"completions\[0\]"):
        await reward(prompts, [3, 4], answer=["4", "4"])


def test_reward_server_answers_bad_input_with_400_naming_the_field(scorer: ReagentRScorer, judge: FakeJudge) -> None:
    server = make_reward_server(scorer, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        r = httpx.post(f"{url}/get_reward", json={"query": [PROMPT + "4"], "prompts": [PROMPT], "labels": [""]})
        assert r.status_code == 400 and "labels[0]" in r.json()["error"]
        assert "labels[0]" in r.reason_phrase, "OpenRLHF's and slime's clients log only the status line"
        assert judge.calls == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_judgment_gets_its_groups_mean_score(scorer: ReagentRScorer) -> None:
    """OpenRLHF sends a group's samples one per request: a failure after its siblings gets their mean score."""
    good = {"query": [PROMPT + r"\boxed{4}"], "prompts": [PROMPT], "labels": ["4"]}
    assert handle_openrlhf(good, scorer)["rewards"] == [pytest.approx(1.24)]
    bad = handle_openrlhf({"query": [PROMPT + r"bad \boxed{4}"], "prompts": [PROMPT], "labels": ["4"]}, scorer)
    assert bad["rewards"] == [pytest.approx(1.24)], "same rule reward, judge term = the group's mean (0.8), not 0"
    assert bad["extra_logs"]["judge_failed"] == [1.0]
    other = PROMPT.replace("2+2", "3+3")
    fresh = handle_openrlhf({"query": [other + "bad 6"], "prompts": [other], "labels": ["6"]}, scorer)
    assert fresh["rewards"] == [pytest.approx(0.0 + 0.3 * 0.8)], "no sibling yet: the recent mean of all scores"


def test_neutral_scores_memory_is_bounded() -> None:
    memory = NeutralScores(per_question=2, questions=2, recent=3)
    assert memory.stand_in("q") == DEFAULT_NEUTRAL_SCORE
    memory.record(["a", "a", "a", "b", "c"], [0.0, 1.0, 1.0, 0.2, None])
    assert memory.stand_in("a") == 1.0  # the last two of "a"
    memory.record(["d"], [0.6])
    assert memory.stand_in("a") == pytest.approx((1.0 + 0.2 + 0.6) / 3)  # "a" forgotten: the recent mean


def test_a_failure_back_first_waits_for_its_siblings_in_flight() -> None:
    """One request per sample, all at once, the failed judgment back first: it still gets its siblings' mean."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    def slow_success(item: dict[str, Any]) -> float | None:
        score = _score(item)
        if score is not None:
            time.sleep(0.3)
        return score

    with sync_client(FakeJudge(score=slow_success)) as client:
        scorer = ReagentRScorer(client)
        texts = [r"\boxed{4}", r"bad \boxed{4}", r"\boxed{4}"]
        payloads = [{"query": [PROMPT + t], "prompts": [PROMPT], "labels": ["4"]} for t in texts]
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda p: handle_openrlhf(p, scorer), payloads))
    assert [a["rewards"][0] for a in answers] == [pytest.approx(1.24)] * 3
    assert [a["extra_logs"]["judge_failed"][0] for a in answers] == [0.0, 1.0, 0.0]

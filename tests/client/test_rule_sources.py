"""The rule grader is chosen per item from each item's dataset source, through the adapters that know one: verl's
`data_source` argument and a TRL dataset's `data_source` column. The judge is the fake one (httpx.MockTransport)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from trainer_client.adapters.trl import reagent_r_reward
from trainer_client.adapters.verl import VerlReward

from .fakes import FakeJudge

# The same boxed answer and gold: a math source grades by equivalence (1990 = 1990.0); a QA source by text (no match).
COMPLETION, GOLD = r"The year was \boxed{1990}.", "1990.0"


def half(item: dict[str, Any]) -> float:
    return 0.5


def test_verl_reads_data_source_per_sample() -> None:
    http = httpx.Client(transport=httpx.MockTransport(FakeJudge(score=half)))
    reward = VerlReward("http://judge.test", client_kwargs={"http_client": http})
    math_one = reward("math", COMPLETION, GOLD, {"question": "When?"})
    qa_one = reward("hotpotqa", COMPLETION, GOLD, {"question": "When?"})
    assert (math_one["rule_reward"], qa_one["rule_reward"]) == (1.0, 0.0)
    batch = reward.batch(
        ["math", "hotpotqa", "openai/gsm8k"], [COMPLETION] * 3, [GOLD] * 3, [{"question": "When?"}] * 3
    )
    assert [b["rule_reward"] for b in batch] == [1.0, 0.0, 1.0]  # no usable source: the gold (a number) decides


async def test_trl_reward_reads_a_data_source_column() -> None:
    judge = FakeJudge(score=half)
    reward = reagent_r_reward(
        "http://judge.test", client_kwargs={"http_client": httpx.AsyncClient(transport=httpx.MockTransport(judge))}
    )
    prompts = [[{"role": "user", "content": "When?"}]] * 3
    completions = [[{"role": "assistant", "content": COMPLETION}]] * 3
    out = await reward(
        prompts=prompts, completions=completions, answer=[GOLD] * 3, data_source=["math", "triviaqa", ""]
    )
    assert out == [pytest.approx(1.15), pytest.approx(0.15), pytest.approx(1.15)]
    no_column = await reward(prompts=prompts, completions=completions, answer=[GOLD] * 3)
    assert no_column == [pytest.approx(1.15)] * 3

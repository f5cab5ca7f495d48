"""Reagent-R rewards, Reagent-C refinement and Reagent-U groups, against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainer_client import (
    Judgment,
    areagent_u_groups,
    arefine,
    pooled_advantages,
    reagent_r_breakdowns,
    reagent_r_reward,
    reagent_u_groups,
    refine,
    refinement_messages,
)
from trainer_client.reagent_c import CRITIQUE_PROMPT, SELF_REVIEW_PROMPT

from .fakes import FakeJudge, async_client, sync_client

Q = r"What is 2+2? Put the answer in \boxed{}."


# --- Reagent-R ------------------------------------------------------------------------------------------------
def test_reagent_r_by_hand() -> None:
    assert reagent_r_reward(1.0, 0.5) == pytest.approx(1.15)
    assert reagent_r_reward(0.0, 1.0) == pytest.approx(0.3)
    assert reagent_r_reward(0.8, 0.5, lam=0.2) == pytest.approx(0.9)
    assert reagent_r_reward(1.0, None) is None
    assert reagent_r_reward(1.0, None, on_failure="rule_only") == 1.0
    with pytest.raises(ValueError):
        reagent_r_reward(1.0, None, on_failure="zero")  # type: ignore[arg-type]


def test_breakdowns_take_judgments_or_scores() -> None:
    ok = Judgment(index=0, status="ok", score=0.5)
    failed = Judgment(index=1, status="failed", reason="parse_error")
    out = reagent_r_breakdowns([r"\boxed{4}", r"\boxed{5}", r"\boxed{4}"], ["4", "4", "4"], [ok, failed, 1.0])
    assert [b.reward for b in out] == [pytest.approx(1.15), None, pytest.approx(1.3)]
    assert [b.judge_ok for b in out] == [True, False, True]
    assert [b.judge_bonus for b in out] == [pytest.approx(0.15), 0.0, pytest.approx(0.3)]
    rule_only = reagent_r_breakdowns([r"\boxed{5}"], ["4"], [failed], on_failure="rule_only")
    assert rule_only[0].reward == 0.0 and rule_only[0].judge_score is None


# --- pooled advantages -----------------------------------------------------------------------------------------
def test_pooled_advantages_by_hand() -> None:
    # mean 0.5, sample std sqrt(0.5)
    a = pooled_advantages([1.0, 0.0], eps=0.0)
    assert a == [pytest.approx(1 / math.sqrt(2)), pytest.approx(-1 / math.sqrt(2))]
    # [1.15, 0, 1.15, 1.15]: mean 0.8625, std 0.575 → [0.5, -1.5, 0.5, 0.5]
    assert pooled_advantages([1.15, 0.0, 1.15, 1.15], eps=0.0) == [pytest.approx(v) for v in (0.5, -1.5, 0.5, 0.5)]


def test_pooled_advantages_all_equal_single_and_masked() -> None:
    assert pooled_advantages([0.3, 0.3, 0.3]) == [0.0, 0.0, 0.0]
    assert pooled_advantages([0.7]) == [0.0]
    assert pooled_advantages([None, None]) == [None, None]
    assert pooled_advantages([]) == []
    masked = pooled_advantages([1.0, None, 0.0], eps=0.0)
    assert masked[1] is None and masked[0] == pytest.approx(-masked[2])  # type: ignore[operator]


@given(st.lists(st.one_of(st.none(), st.floats(-10, 10)), max_size=20))
def test_pooled_advantages_are_finite_and_centred(rewards: list[float | None]) -> None:
    adv = pooled_advantages(rewards)
    assert [a is None for a in adv] == [r is None for r in rewards]
    values = [a for a in adv if a is not None]
    assert all(math.isfinite(a) for a in values)
    if values:
        assert abs(sum(values)) <= 1e-6 * len(values)


# --- Reagent-C -------------------------------------------------------------------------------------------------
def test_refinement_messages_put_q_attempt_and_critique_in_order() -> None:
    msgs = refinement_messages(Q, r"\boxed{5}", "  Arithmetic slip.  ", system_prompt="Be careful.")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == Q and msgs[2]["content"] == r"\boxed{5}"
    assert msgs[3]["content"] == CRITIQUE_PROMPT.replace("{critique}", "Arithmetic slip.")


def test_refinement_without_critique_asks_for_self_review() -> None:
    assert refinement_messages(Q, "5", None)[-1]["content"] == SELF_REVIEW_PROMPT
    assert refinement_messages(Q, "5", "   ")[-1]["content"] == SELF_REVIEW_PROMPT


def test_refinement_keeps_agent_turns() -> None:
    trajectory = [
        {"role": "assistant", "content": "search"},
        {"role": "tool", "content": "hit"},
        {"role": "assistant", "content": "5"},
    ]
    msgs = refinement_messages(Q, trajectory, "c")
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "user"]


class Policy:
    """Answers 5 to a bare question and 4 once it has seen a critique; records every context."""

    def __init__(self) -> None:
        self.seen: list[list[dict[str, Any]]] = []

    def __call__(self, contexts: list[list[dict[str, Any]]]) -> list[str]:
        self.seen.extend(contexts)
        return [r"\boxed{4}" if len(c) > 1 else r"\boxed{5}" for c in contexts]


class AsyncPolicy(Policy):
    async def __call__(self, contexts: list[list[dict[str, Any]]]) -> list[str]:  # type: ignore[override]
        return super().__call__(contexts)


def _score(item: dict[str, Any]) -> float | None:
    text = item["messages"][-1]["content"]
    return 0.5 if "{4}" in text else 0.0


def test_refine_one_round_with_a_sync_policy() -> None:
    judge, policy = FakeJudge(score=_score), Policy()
    with sync_client(judge) as client:
        (out,) = refine(policy, [Q], client=client)
    assert out.first_attempt == r"\boxed{5}" and out.refined_attempt == r"\boxed{4}"
    assert out.first_judgment.score == 0.0 and out.refined_judgment.score == 0.5
    assert out.critique == "Check the arithmetic."
    assert out.refined_context[-1]["content"].startswith("A reviewer examined")
    assert out.refined_context[1] == {"role": "assistant", "content": r"\boxed{5}"}
    assert len(judge.calls) == 2 and len(policy.seen) == 2


async def test_arefine_with_async_and_sync_policies_and_n_rounds() -> None:
    for policy in (AsyncPolicy(), Policy()):
        async with async_client(FakeJudge(score=_score)) as client:
            outs = await arefine(policy, [Q, Q], client=client, rounds=2)
        assert all(len(o.attempts) == 3 and len(o.judgments) == 3 and len(o.critiques) == 2 for o in outs)
        assert all(o.refined_judgment.ok for o in outs)


def test_refine_uses_given_first_attempts_and_async_policy_from_sync_code() -> None:
    policy = AsyncPolicy()
    with sync_client(FakeJudge(score=_score)) as client:
        (out,) = refine(policy, [Q], client=client, first_attempts=["I think 5"])
    assert out.first_attempt == "I think 5" and len(policy.seen) == 1


def test_refine_checks_the_policy_output() -> None:
    with sync_client(FakeJudge()) as client, pytest.raises(ValueError, match="one completion per context"):
        refine(lambda contexts: ["only one"], [Q, Q], client=client)


# --- Reagent-U -------------------------------------------------------------------------------------------------
def test_reagent_u_group_by_hand() -> None:
    # First attempts: right (R = 1 + 0.3·0.5 = 1.15) and wrong (R = 0); both refine to the right answer (1.15).
    policy = Policy()
    with sync_client(FakeJudge(score=_score)) as client:
        (group,) = reagent_u_groups(policy, [Q], [[r"\boxed{4}", r"\boxed{5}"]], ["4"], client=client)
    assert [s.stage for s in group.samples] == ["first", "first", "refined", "refined"]
    assert [s.source for s in group.samples] == [0, 1, 0, 1]
    assert group.rewards == [pytest.approx(v) for v in (1.15, 0.0, 1.15, 1.15)]
    assert group.advantages == [pytest.approx(v, abs=1e-5) for v in (0.5, -1.5, 0.5, 0.5)]
    first, refined = group.samples[1], group.samples[3]
    assert first.context == [{"role": "user", "content": Q}]
    assert [m["role"] for m in refined.context] == ["user", "assistant", "user"]
    assert refined.context[1]["content"] == r"\boxed{5}" and "Check the arithmetic." in refined.context[2]["content"]


async def test_areagent_u_masks_failed_judgments_out_of_the_pool() -> None:
    def score(item: dict[str, Any]) -> float | None:
        return None if item["messages"][-1]["content"] == "junk" else _score(item)

    async with async_client(FakeJudge(score=score)) as client:
        groups = await areagent_u_groups(
            AsyncPolicy(), [Q, Q], [["junk", r"\boxed{4}"], [r"\boxed{5}"]], ["4", "4"], client=client
        )
    first_group = groups[0]
    assert len(first_group.samples) == 4 and len(groups[1].samples) == 2
    assert first_group.rewards[0] is None and first_group.advantages[0] is None
    assert all(a is not None and math.isfinite(a) for a in first_group.advantages[1:])
    assert groups[1].advantages == [
        pytest.approx(-1 / math.sqrt(2), abs=1e-5),
        pytest.approx(1 / math.sqrt(2), abs=1e-5),
    ]


def test_reagent_u_length_checks() -> None:
    with sync_client(FakeJudge()) as client, pytest.raises(ValueError):
        reagent_u_groups(Policy(), [Q], [[r"\boxed{4}"]], ["4", "5"], client=client)

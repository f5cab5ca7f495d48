"""Reagent-U: unified feedback (Fan et al., "Exploring Reasoning Reward Model for Agents", 2026).

For each question q with G first attempts o⁽¹⁾ᵢ ~ π(·|q):

    cᵢ   = critique of RRM(q, o⁽¹⁾ᵢ)
    o⁽²⁾ᵢ ~ π(·|q, o⁽¹⁾ᵢ, cᵢ)                                   (G refined attempts, Reagent-C)
    Rᵢ⁽ᵏ⁾ = R_rule(q, oᵢ⁽ᵏ⁾) + λ·R_model(q, oᵢ⁽ᵏ⁾)               (Reagent-R, k ∈ {1, 2})
    Aᵢ⁽ᵏ⁾ = (Rᵢ⁽ᵏ⁾ − mean(R_pool)) / (std(R_pool) + eps)          (pooled over all 2G samples)

The GRPO loss averages over the 2G samples, and computes each sample's probability ratio (and KL) in its own
context: q for a first attempt, (q, o⁽¹⁾ᵢ, cᵢ) for a refined one. Each `GroupSample` carries exactly
that context.

std is the sample standard deviation (n − 1), as TRL's and verl's GRPO use; a pool whose rewards are all equal
(or hold a single reward) gets advantages of 0. Masked samples (reward None) are left out of the pool and get
advantage None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._chat import ChatMessage, Completion
from ._client import AsyncJudgeClient, JudgeClient
from ._types import JudgeOptions, Judgment
from .reagent_c import Policy, Refinement, arefine, refine
from .reagent_r import DEFAULT_LAMBDA, FailurePolicy, reagent_r_breakdowns
from .rules import AnswerKind

__all__ = [
    "GroupSample",
    "ReagentUGroup",
    "areagent_u_groups",
    "build_group",
    "pooled_advantages",
    "reagent_u_groups",
]


def pooled_advantages(rewards: Sequence[float | None], *, eps: float = 1e-6) -> list[float | None]:
    """A = (R − mean(R_pool)) / (std(R_pool) + eps), over the rewards that are not None.

    Args:
        rewards: The pool's rewards; None marks a masked sample.
        eps: Added to the standard deviation.

    Returns:
        One advantage per reward (None where the reward is None).

    Example:
        >>> [None if a is None else round(a, 3) for a in pooled_advantages([1.0, 0.0, None, 1.0, 0.0])]
        [0.866, -0.866, None, 0.866, -0.866]
        >>> pooled_advantages([0.3, 0.3])
        [0.0, 0.0]
    """
    valid = [r for r in rewards if r is not None]
    if not valid:
        return [None for _ in rewards]
    mean = sum(valid) / len(valid)
    std = math.sqrt(sum((r - mean) ** 2 for r in valid) / (len(valid) - 1)) if len(valid) > 1 else 0.0
    return [None if r is None else (r - mean) / (std + eps) for r in rewards]


@dataclass(frozen=True)
class GroupSample:
    """One of the 2G samples: what a GRPO loss needs to compute its ratio in its own context."""

    context: list[ChatMessage]  # [q] for a first attempt; [q, o⁽¹⁾, c] for a refined one
    completion: Completion
    stage: Literal["first", "refined"]
    source: int  # index i of the first attempt this sample is (or refines)
    judgment: Judgment
    rule_reward: float
    reward: float | None
    advantage: float | None


@dataclass(frozen=True)
class ReagentUGroup:
    """A question's pooled group: `samples[:G]` are the first attempts, `samples[G:]` their refinements."""

    question: str
    samples: list[GroupSample]

    @property
    def rewards(self) -> list[float | None]:
        return [s.reward for s in self.samples]

    @property
    def advantages(self) -> list[float | None]:
        return [s.advantage for s in self.samples]


def build_group(
    question: str,
    refinements: Sequence[Refinement],
    ground_truth: str | Sequence[str],
    *,
    lam: float = DEFAULT_LAMBDA,
    on_failure: FailurePolicy = "mask",
    kind: AnswerKind = "auto",
    source: str | None = None,
    eps: float = 1e-6,
) -> ReagentUGroup:
    """Pure part of Reagent-U: rewards and pooled advantages of G one-round refinements of one question.

    Args:
        question: q.
        refinements: G `Refinement`s of q (from `refine(..., rounds=1)`).
        ground_truth: The gold answer(s) for R_rule.
        lam: λ of Reagent-R.
        on_failure: Reagent-R failure policy ("mask" leaves the sample out of the pool).
        kind: Rule-reward kind.
        source: The question's dataset source, for the rule reward's choice of grader.
        eps: Added to the pool's std.

    Returns:
        The group, first attempts first.
    """
    firsts = [(r.contexts[0], r.attempts[0], r.judgments[0], i) for i, r in enumerate(refinements)]
    refined = [(r.contexts[-1], r.attempts[-1], r.judgments[-1], i) for i, r in enumerate(refinements)]
    rows = firsts + refined
    breakdowns = reagent_r_breakdowns(
        [row[1] for row in rows],
        [ground_truth] * len(rows),
        [row[2] for row in rows],
        lam=lam,
        on_failure=on_failure,
        kind=kind,
        sources=[source] * len(rows),
    )
    advantages = pooled_advantages([b.reward for b in breakdowns], eps=eps)
    samples = [
        GroupSample(
            context=context,
            completion=completion,
            stage="first" if k < len(firsts) else "refined",
            source=source,
            judgment=judgment,
            rule_reward=b.rule_reward,
            reward=b.reward,
            advantage=adv,
        )
        for k, ((context, completion, judgment, source), b, adv) in enumerate(
            zip(rows, breakdowns, advantages, strict=True)
        )
    ]
    return ReagentUGroup(question=question, samples=samples)


def _flatten(
    questions: Sequence[str], first_attempts: Sequence[Sequence[Completion]], ground_truths: Sequence[Any]
) -> tuple[list[str], list[Completion]]:
    if not len(questions) == len(first_attempts) == len(ground_truths):
        raise ValueError("questions, first_attempts and ground_truths must have the same length")
    flat_q = [q for q, group in zip(questions, first_attempts, strict=True) for _ in group]
    return flat_q, [a for group in first_attempts for a in group]


def _regroup(
    questions: Sequence[str],
    first_attempts: Sequence[Sequence[Completion]],
    ground_truths: Sequence[Any],
    refinements: list[Refinement],
    config: dict[str, Any],
) -> list[ReagentUGroup]:
    groups, start = [], 0
    sources = config.pop("sources", None) or [None] * len(questions)
    if len(sources) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(sources)} sources")
    for q, group, truth, source in zip(questions, first_attempts, ground_truths, sources, strict=True):
        groups.append(build_group(q, refinements[start : start + len(group)], truth, source=source, **config))
        start += len(group)
    return groups


def reagent_u_groups(
    policy: Policy,
    questions: Sequence[str],
    first_attempts: Sequence[Sequence[Completion]],
    ground_truths: Sequence[str | Sequence[str]],
    *,
    client: JudgeClient,
    lam: float = DEFAULT_LAMBDA,
    on_failure: FailurePolicy = "mask",
    kind: AnswerKind = "auto",
    sources: Sequence[str | None] | None = None,
    eps: float = 1e-6,
    system_prompt: str | None = None,
    judge_options: JudgeOptions | dict[str, Any] | None = None,
) -> list[ReagentUGroup]:
    """Reagent-U for a batch of questions: judge the G first attempts of each, have the policy refine each
    with its critique, judge the refinements, and pool the 2G Reagent-R rewards into advantages.

    All questions' items travel in the same judge calls (two in all), so the service batches them together.

    Args:
        policy: Batch policy callable (see `reagent_c`); called once, for all G·len(questions) refinements.
        questions: The questions q.
        first_attempts: For each question, its G first attempts o⁽¹⁾ (G may differ between questions).
        ground_truths: For each question, its gold answer(s).
        client: The judge client.
        lam, on_failure, kind, eps: See `build_group`.
        sources: For each question, its dataset source (or None), for the rule reward.
        system_prompt: The system turn the first attempts were sampled with, if any (it heads every context).
        judge_options: Options for the judge calls.

    Returns:
        One `ReagentUGroup` (2G samples) per question.

    Example:
        >>> groups = reagent_u_groups(policy, [q], [attempts], ["42"], client=client)  # doctest: +SKIP
        >>> [(s.stage, s.reward, s.advantage) for s in groups[0].samples]  # doctest: +SKIP
    """
    flat_q, flat_a = _flatten(questions, first_attempts, ground_truths)
    refinements = refine(
        policy,
        flat_q,
        client=client,
        first_attempts=flat_a,
        system_prompt=system_prompt,
        judge_options=judge_options,
    )
    config = {"lam": lam, "on_failure": on_failure, "kind": kind, "sources": sources, "eps": eps}
    return _regroup(questions, first_attempts, ground_truths, refinements, config)


async def areagent_u_groups(
    policy: Policy,
    questions: Sequence[str],
    first_attempts: Sequence[Sequence[Completion]],
    ground_truths: Sequence[str | Sequence[str]],
    *,
    client: AsyncJudgeClient,
    lam: float = DEFAULT_LAMBDA,
    on_failure: FailurePolicy = "mask",
    kind: AnswerKind = "auto",
    sources: Sequence[str | None] | None = None,
    eps: float = 1e-6,
    system_prompt: str | None = None,
    judge_options: JudgeOptions | dict[str, Any] | None = None,
) -> list[ReagentUGroup]:
    """`reagent_u_groups` for an `AsyncJudgeClient`; the policy may be sync or async."""
    flat_q, flat_a = _flatten(questions, first_attempts, ground_truths)
    refinements = await arefine(
        policy,
        flat_q,
        client=client,
        first_attempts=flat_a,
        system_prompt=system_prompt,
        judge_options=judge_options,
    )
    config = {"lam": lam, "on_failure": on_failure, "kind": kind, "sources": sources, "eps": eps}
    return _regroup(questions, first_attempts, ground_truths, refinements, config)

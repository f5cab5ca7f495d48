"""Reagent-R: reward-augmented guidance (Fan et al., "Exploring Reasoning Reward Model for Agents", 2026).

    Rᵢ = R_rule(q, oᵢ) + λ · R_model(q, oᵢ),   λ = 0.3 by default (flat over λ ∈ [0.2, 0.4] in the paper)

R_model is the judge's raw score in [0, 1]; GRPO's group normalisation does the rest.

Failure policy — a judgment can fail (unparsable judge output, timeout, service unavailable). It is never read
as a score of 0. `on_failure` decides what the sample's reward becomes:

- `"mask"` (default where the trainer can mask, e.g. TRL): the reward is `None`, and the sample is left out;
- `"rule_only"` (for frameworks that need a number: verl, OpenRLHF, slime): R = R_rule, the λ·R_model
  term dropped.
  Such a sample can be up to λ below an equally good neighbour whose judgment succeeded; the breakdown's
  `judge_ok` says which samples these are, so a trainer can log or filter them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._base import JudgeResult
from ._chat import Completion, judge_item
from ._client import AsyncJudgeClient, JudgeClient
from ._types import JudgeOptions, Judgment
from .rules import AnswerKind, rule_rewards

__all__ = [
    "DEFAULT_LAMBDA",
    "AsyncReagentRScorer",
    "FailurePolicy",
    "ReagentRScorer",
    "RewardBreakdown",
    "reagent_r_breakdowns",
    "reagent_r_reward",
]

DEFAULT_LAMBDA = 0.3
FailurePolicy = Literal["mask", "rule_only"]


def reagent_r_reward(
    rule: float, judge_score: float | None, *, lam: float = DEFAULT_LAMBDA, on_failure: FailurePolicy = "mask"
) -> float | None:
    """R = R_rule + λ·R_model for one sample.

    Args:
        rule: R_rule, in [0, 1].
        judge_score: R_model, the judge's score in [0, 1], or None when the judgment failed.
        lam: λ.
        on_failure: "mask" → None for a failed judgment; "rule_only" → R_rule.

    Returns:
        The reward, or None (masked).

    Example:
        >>> reagent_r_reward(1.0, 0.5), reagent_r_reward(1.0, None)
        (1.15, None)
        >>> reagent_r_reward(1.0, None, on_failure="rule_only")
        1.0
    """
    if judge_score is None:
        if on_failure == "mask":
            return None
        if on_failure == "rule_only":
            return rule
        raise ValueError(f"unknown failure policy {on_failure!r}")
    return rule + lam * judge_score


@dataclass(frozen=True)
class RewardBreakdown:
    """One sample's Reagent-R reward and its parts."""

    reward: float | None
    rule_reward: float
    judge_score: float | None
    judgment: Judgment | None

    @property
    def judge_ok(self) -> bool:
        return self.judge_score is not None

    @property
    def judge_bonus(self) -> float:
        """What the judge actually added to the reward (0.0 when it failed and the rule reward stood
        alone)."""
        return 0.0 if self.reward is None else self.reward - self.rule_reward


def reagent_r_breakdowns(
    completions: Sequence[Completion],
    ground_truths: Sequence[str | Sequence[str]],
    judgments: Sequence[Judgment | float | None],
    *,
    lam: float = DEFAULT_LAMBDA,
    on_failure: FailurePolicy = "mask",
    kind: AnswerKind = "auto",
    sources: Sequence[str | None] | None = None,
    require_boxed: bool = True,
) -> list[RewardBreakdown]:
    r"""Reagent-R rewards for a batch, from completions, ground truths and judgments (or bare scores).

    `kind`, `sources` (each item's dataset source) and `require_boxed` go to `rules.rule_rewards`.

    Example:
        >>> [b.reward for b in reagent_r_breakdowns([r"\boxed{4}", "4"], ["4", "4"], [0.5, None])]
        [1.15, None]
    """
    if not len(completions) == len(ground_truths) == len(judgments):
        raise ValueError("completions, ground_truths and judgments must have the same length")
    rules = rule_rewards(completions, ground_truths, kind=kind, sources=sources, require_boxed=require_boxed)
    out = []
    for rule, judged in zip(rules, judgments, strict=True):
        judgment = judged if isinstance(judged, Judgment) else None
        score = (judged.score if judged.ok else None) if isinstance(judged, Judgment) else judged
        reward = reagent_r_reward(rule, score, lam=lam, on_failure=on_failure)
        out.append(RewardBreakdown(reward=reward, rule_reward=rule, judge_score=score, judgment=judgment))
    return out


class _ScorerConfig:
    def __init__(
        self,
        *,
        lam: float = DEFAULT_LAMBDA,
        on_failure: FailurePolicy = "rule_only",
        kind: AnswerKind = "auto",
        require_boxed: bool = True,
        judge_options: JudgeOptions | dict[str, Any] | None = None,
    ) -> None:
        self.lam, self.on_failure, self.kind, self.require_boxed = lam, on_failure, kind, require_boxed
        self.judge_options = judge_options

    def _finish(
        self,
        completions: Sequence[Completion],
        ground_truths: Sequence[Any],
        result: JudgeResult,
        sources: Sequence[str | None] | None,
    ) -> list[RewardBreakdown]:
        return reagent_r_breakdowns(
            completions,
            ground_truths,
            list(result),
            lam=self.lam,
            on_failure=self.on_failure,
            kind=self.kind,
            sources=sources,
            require_boxed=self.require_boxed,
        )


class ReagentRScorer(_ScorerConfig):
    """Judge a batch with a `JudgeClient` and return Reagent-R breakdowns; request failures become masked or
    rule-only samples (per `on_failure`, default "rule_only"), never exceptions — except 401/403.

    Example:
        >>> scorer = ReagentRScorer(JudgeClient("http://localhost:8000"))  # doctest: +SKIP
        >>> scorer.score(["2+2?"], [r"\\boxed{4}"], ["4"])[0].reward  # doctest: +SKIP
        1.27
    """

    def __init__(self, client: JudgeClient, **config: Any) -> None:
        super().__init__(**config)
        self.client = client

    def score(
        self,
        questions: Sequence[str],
        completions: Sequence[Completion],
        ground_truths: Sequence[Any],
        sources: Sequence[str | None] | None = None,
    ) -> list[RewardBreakdown]:
        items = [judge_item(q, c) for q, c in zip(questions, completions, strict=True)]
        result = self.client.judge(items, options=self.judge_options, raise_on_error=False)
        return self._finish(completions, ground_truths, result, sources)


class AsyncReagentRScorer(_ScorerConfig):
    """`ReagentRScorer` for an `AsyncJudgeClient`."""

    def __init__(self, client: AsyncJudgeClient, **config: Any) -> None:
        super().__init__(**config)
        self.client = client

    async def score(
        self,
        questions: Sequence[str],
        completions: Sequence[Completion],
        ground_truths: Sequence[Any],
        sources: Sequence[str | None] | None = None,
    ) -> list[RewardBreakdown]:
        items = [judge_item(q, c) for q, c in zip(questions, completions, strict=True)]
        result = await self.client.judge(items, options=self.judge_options, raise_on_error=False)
        return self._finish(completions, ground_truths, result, sources)

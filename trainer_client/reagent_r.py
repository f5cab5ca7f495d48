"""Reagent-R: reward-augmented guidance (Fan et al., "Exploring Reasoning Reward Model for Agents", 2026).

    Rᵢ = R_rule(q, oᵢ) + λ · R_model(q, oᵢ),   λ = 0.3 by default (flat over λ ∈ [0.2, 0.4] in the paper)

R_model is the judge's raw score in [0, 1]; GRPO's group normalisation does the rest.

Failure policy — a judgment can fail (unparsable judge output, timeout, service unavailable). It is never read
as a score of 0. `on_failure` decides what the sample's reward becomes:

- `"mask"` (where the trainer can mask: TRL, Reagent-U): the reward is `None`, and the sample is left out;
- `"neutral"` (for frameworks that need a number: verl, OpenRLHF, slime): R = R_rule + λ·s̄, where s̄ stands in
  for the missing score: the mean judge score of the sample's group (the other samples of the same question,
  in the same call or judged recently by the same scorer), else the mean of the scorer's recent judgments,
  else `DEFAULT_NEUTRAL_SCORE` (0.5). Relative to its group the judge term then moves the sample neither up
  nor down: its advantage comes from its rule reward alone. `judge_ok` is False, and the adapters log it;
- `"rule_only"`: R = R_rule. Not a default anywhere: it is the same number as a judge score of 0, so such a
  sample is pushed below an equally good neighbour whose judgment succeeded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, OrderedDict, deque
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
    "DEFAULT_NEUTRAL_SCORE",
    "AsyncReagentRScorer",
    "FailurePolicy",
    "NeutralScores",
    "ReagentRScorer",
    "RewardBreakdown",
    "reagent_r_breakdowns",
    "reagent_r_reward",
]

DEFAULT_LAMBDA = 0.3
DEFAULT_NEUTRAL_SCORE = 0.5
_POLL_S = 0.02
FailurePolicy = Literal["mask", "neutral", "rule_only"]
FAILURE_POLICIES: tuple[FailurePolicy, ...] = ("mask", "neutral", "rule_only")


def reagent_r_reward(
    rule: float,
    judge_score: float | None,
    *,
    lam: float = DEFAULT_LAMBDA,
    on_failure: FailurePolicy = "mask",
    neutral: float = DEFAULT_NEUTRAL_SCORE,
) -> float | None:
    """R = R_rule + λ·R_model for one sample.

    Args:
        rule: R_rule, in [0, 1].
        judge_score: R_model, the judge's score in [0, 1], or None when the judgment failed.
        lam: λ.
        on_failure: "mask" → None for a failed judgment; "neutral" → R_rule + λ·neutral; "rule_only" → R_rule.
        neutral: The score standing in for a failed judgment under "neutral" (see `NeutralScores`).

    Returns:
        The reward, or None (masked).

    Example:
        >>> reagent_r_reward(1.0, 0.5), reagent_r_reward(1.0, None)
        (1.15, None)
        >>> reagent_r_reward(1.0, None, on_failure="neutral", neutral=0.5)
        1.15
    """
    if judge_score is None:
        if on_failure == "mask":
            return None
        if on_failure == "neutral":
            return rule + lam * neutral
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
    neutral_score: float | None = None  # the stand-in score of a failed judgment under "neutral"

    @property
    def judge_ok(self) -> bool:
        return self.judge_score is not None

    @property
    def judge_bonus(self) -> float:
        """What the judge term added to the reward (λ·s̄ for a failed judgment under "neutral", 0.0 when the
        rule reward stood alone)."""
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
    neutral: Sequence[float] | None = None,
) -> list[RewardBreakdown]:
    r"""Reagent-R rewards for a batch, from completions, ground truths and judgments (or bare scores).

    `kind`, `sources` (each item's dataset source) and `require_boxed` go to `rules.rule_rewards`; `neutral`
    gives each item's stand-in score under `on_failure="neutral"` (default: `DEFAULT_NEUTRAL_SCORE`).

    Example:
        >>> [b.reward for b in reagent_r_breakdowns([r"\boxed{4}", "4"], ["4", "4"], [0.5, None])]
        [1.15, None]
    """
    if not len(completions) == len(ground_truths) == len(judgments):
        raise ValueError("completions, ground_truths and judgments must have the same length")
    if on_failure not in FAILURE_POLICIES:
        raise ValueError(f"unknown failure policy {on_failure!r}; use one of {FAILURE_POLICIES}")
    fills = list(neutral) if neutral is not None else [DEFAULT_NEUTRAL_SCORE] * len(completions)
    rules = rule_rewards(completions, ground_truths, kind=kind, sources=sources, require_boxed=require_boxed)
    out = []
    for rule, judged, fill in zip(rules, judgments, fills, strict=True):
        judgment = judged if isinstance(judged, Judgment) else None
        score = (judged.score if judged.ok else None) if isinstance(judged, Judgment) else judged
        reward = reagent_r_reward(rule, score, lam=lam, on_failure=on_failure, neutral=fill)
        stand_in = fill if score is None and on_failure == "neutral" else None
        out.append(
            RewardBreakdown(
                reward=reward, rule_reward=rule, judge_score=score, judgment=judgment, neutral_score=stand_in
            )
        )
    return out


class NeutralScores:
    """The stand-in score of a failed judgment under `on_failure="neutral"`: the mean judge score of its group.

    Frameworks that send one sample per call (OpenRLHF, slime, verl's per-sample reward) send a question's G
    samples at about the same time, so the scorer remembers the last scores per question, and a failed judgment
    first waits (up to `wait_s`) for the judgments of the same question still in flight. The stand-in is, in
    order: the mean of the scores of the same question (this call's and the remembered ones), the mean of the last
    `recent` scores of any question, `DEFAULT_NEUTRAL_SCORE`. Thread-safe.

    Args:
        per_question: Scores remembered per question.
        questions: Questions remembered (least recently judged forgotten first).
        recent: Scores of any question in the fallback mean.
        wait_s: How long a failed judgment waits for its question's judgments in flight.

    Example:
        >>> memory = NeutralScores()
        >>> memory.record(["q", "q"], [0.25, 0.75]); memory.stand_in("q"), memory.stand_in("other")
        (0.5, 0.5)
        >>> NeutralScores().stand_in("q")
        0.5
    """

    def __init__(
        self, *, per_question: int = 64, questions: int = 4096, recent: int = 1024, wait_s: float = 30.0
    ) -> None:
        self.per_question, self.questions, self.wait_s = per_question, questions, wait_s
        self._by_question: OrderedDict[str, deque[float]] = OrderedDict()
        self._recent: deque[float] = deque(maxlen=recent)
        self._judging: Counter[str] = Counter()
        self._lock = threading.Lock()

    def begin(self, questions: Sequence[str]) -> None:
        """Judgments of these questions are in flight (`end` when they are back)."""
        with self._lock:
            self._judging.update(questions)

    def end(self, questions: Sequence[str]) -> None:
        with self._lock:
            self._judging.subtract(questions)
            self._judging += Counter()  # drop the zeros

    def _settled(self, question: str, deadline: float) -> bool:
        with self._lock:
            return self._judging[question] <= 0 or time.monotonic() >= deadline

    def wait(self, question: str) -> None:
        """Block until no judgment of `question` is in flight (at most `wait_s`)."""
        deadline = time.monotonic() + self.wait_s
        while not self._settled(question, deadline):
            time.sleep(_POLL_S)

    async def await_settled(self, question: str) -> None:
        """`wait` for an event loop."""
        deadline = time.monotonic() + self.wait_s
        while not self._settled(question, deadline):
            await asyncio.sleep(_POLL_S)

    def record(self, questions: Sequence[str], scores: Sequence[float | None]) -> None:
        """Remember the scores of successful judgments (None: failed, skipped)."""
        with self._lock:
            for question, score in zip(questions, scores, strict=True):
                if score is None:
                    continue
                kept = self._by_question.pop(question, None) or deque(maxlen=self.per_question)
                kept.append(score)
                self._by_question[question] = kept
                self._recent.append(score)
            while len(self._by_question) > self.questions:
                self._by_question.popitem(last=False)

    def stand_in(self, question: str) -> float:
        """The neutral score for a failed judgment of `question`."""
        with self._lock:
            group = self._by_question.get(question)
            pool = group if group else self._recent
            return sum(pool) / len(pool) if pool else DEFAULT_NEUTRAL_SCORE


class _ScorerConfig:
    def __init__(
        self,
        *,
        lam: float = DEFAULT_LAMBDA,
        on_failure: FailurePolicy = "neutral",
        kind: AnswerKind = "auto",
        require_boxed: bool = True,
        judge_options: JudgeOptions | dict[str, Any] | None = None,
        neutral_scores: NeutralScores | None = None,
    ) -> None:
        if on_failure not in FAILURE_POLICIES:
            raise ValueError(f"unknown failure policy {on_failure!r}; use one of {FAILURE_POLICIES}")
        self.lam, self.on_failure, self.kind, self.require_boxed = lam, on_failure, kind, require_boxed
        self.judge_options = judge_options
        self.neutral_scores = neutral_scores or NeutralScores()

    def _finish(
        self,
        questions: Sequence[str],
        completions: Sequence[Completion],
        ground_truths: Sequence[Any],
        result: JudgeResult,
        sources: Sequence[str | None] | None,
    ) -> list[RewardBreakdown]:
        judgments = list(result)
        memory = self.neutral_scores
        neutral = [
            DEFAULT_NEUTRAL_SCORE if j.ok else memory.stand_in(q) for q, j in zip(questions, judgments, strict=True)
        ]
        return reagent_r_breakdowns(
            completions,
            ground_truths,
            judgments,
            lam=self.lam,
            on_failure=self.on_failure,
            kind=self.kind,
            sources=sources,
            require_boxed=self.require_boxed,
            neutral=neutral,
        )


class ReagentRScorer(_ScorerConfig):
    """Judge a batch with a `JudgeClient` and return Reagent-R breakdowns; request failures become masked or
    neutral samples (per `on_failure`, default "neutral"), never exceptions — except 401/403.

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
        memory = self.neutral_scores
        memory.begin(questions)
        try:
            result = self.client.judge(items, options=self.judge_options, raise_on_error=False)
            memory.record(questions, [j.score if j.ok else None for j in result])
        finally:
            memory.end(questions)
        if self.on_failure == "neutral":
            for question in {q for q, j in zip(questions, result, strict=True) if not j.ok}:
                memory.wait(question)
        return self._finish(questions, completions, ground_truths, result, sources)


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
        memory = self.neutral_scores
        memory.begin(questions)
        try:
            result = await self.client.judge(items, options=self.judge_options, raise_on_error=False)
            memory.record(questions, [j.score if j.ok else None for j in result])
        finally:
            memory.end(questions)
        if self.on_failure == "neutral":
            for question in {q for q, j in zip(questions, result, strict=True) if not j.ok}:
                await memory.await_settled(question)
        return self._finish(questions, completions, ground_truths, result, sources)

"""verl custom reward functions (`custom_reward_function.path` / `.name`) backed by the judge service.

verl calls `compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)` per sample, or
the batched form with lists, and logs every key of the returned dict next to `"score"`. verl needs a number
for every sample, so judge failures fall back to the rule reward (`on_failure="rule_only"`); `judge_ok` marks
them.

verl does not pass the prompt: the question is read from `extra_info["question"]` (verl's example
preprocessing scripts put it there), or from `extra_info["prompt"]` (a chat prompt) when that is all there is.

Usage (URL from `RRM_JUDGE_URL`). verl loads the file at `path` on its own, outside any package, so point it
at a one-line file of yours (see `examples/verl_reward.py`) rather than at this module:
    # my_reward.py
    from trainer_client.adapters.verl import compute_score, compute_score_batch
    # verl config
    custom_reward_function.path=my_reward.py
    custom_reward_function.name=compute_score          # or compute_score_batch with the batch reward manager
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._client import JudgeClient
from ..reagent_r import DEFAULT_LAMBDA, FailurePolicy, ReagentRScorer, RewardBreakdown
from ..rules import AnswerKind
from ._prompts import question_from_prompt

__all__ = ["VerlReward", "compute_score", "compute_score_batch", "make_compute_score"]


def _question(extra_info: Mapping[str, Any] | None, key: str) -> str:
    info = extra_info or {}
    if info.get(key):
        return str(info[key])
    if info.get("prompt"):
        return question_from_prompt(info["prompt"])
    raise KeyError(f"verl reward: extra_info needs a {key!r} (or 'prompt') field holding the question")


def _as_dict(b: RewardBreakdown) -> dict[str, Any]:
    assert b.reward is not None  # rule_only never masks
    return {
        "score": b.reward,
        "rule_reward": b.rule_reward,
        "judge_ok": float(b.judge_ok),
        "judge_bonus": b.judge_bonus,
    }


class VerlReward:
    """Callable with verl's `compute_score` signature; `.batch` has the batched one.

    Args:
        base_url: Judge URL(s); None reads `RRM_JUDGE_URL` on first use.
        lam: λ of Reagent-R.
        on_failure: "rule_only" (default; verl needs numbers) — "mask" is not accepted here.
        question_key: The `extra_info` field holding the question.
        kind: Rule-reward kind.
        client_kwargs: Passed to `JudgeClient` (timeout, max_retries, ...).
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        lam: float = DEFAULT_LAMBDA,
        on_failure: FailurePolicy = "rule_only",
        question_key: str = "question",
        kind: AnswerKind = "auto",
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if on_failure != "rule_only":
            raise ValueError("verl needs a number for every sample: use on_failure='rule_only'")
        self.base_url, self.lam, self.question_key, self.kind = base_url, lam, question_key, kind
        self.client_kwargs = dict(client_kwargs or {})
        self._scorer: ReagentRScorer | None = None

    @property
    def scorer(self) -> ReagentRScorer:
        if self._scorer is None:
            client = JudgeClient(self.base_url, **self.client_kwargs)
            self._scorer = ReagentRScorer(client, lam=self.lam, on_failure="rule_only", kind=self.kind)
        return self._scorer

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_scorer": None}  # verl ships reward functions to Ray workers

    def __call__(
        self,
        data_source: str,
        solution_str: str,
        ground_truth: Any,
        extra_info: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        question = _question(extra_info, self.question_key)
        return _as_dict(self.scorer.score([question], [solution_str], [ground_truth], [data_source])[0])

    def batch(
        self,
        data_sources: Sequence[str],
        solution_strs: Sequence[str],
        ground_truths: Sequence[Any],
        extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        questions = [_question(info, self.question_key) for info in infos]
        scored = self.scorer.score(questions, list(solution_strs), list(ground_truths), list(data_sources))
        return [_as_dict(b) for b in scored]


def make_compute_score(base_url: str | Sequence[str] | None = None, **kwargs: Any) -> VerlReward:
    """A verl reward for the judge at `base_url` (same keywords as `VerlReward`).

    Example:
        >>> compute = make_compute_score("http://localhost:8000", lam=0.3)
        >>> callable(compute) and callable(compute.batch)
        True
    """
    return VerlReward(base_url, **kwargs)


_default = VerlReward()


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    r"""verl's single-sample entry point: `{"score": R_rule + λ·R_model, "rule_reward", "judge_ok",
    "judge_bonus"}`.

    Args:
        data_source: verl's data source name; it picks the rule grader (math or text) before the gold does.
        solution_str: The decoded response.
        ground_truth: The gold answer(s).
        extra_info: Must hold the question (see the module docstring).

    Returns:
        The score dict.

    Example:
        >>> compute_score("gsm8k", r"\\boxed{4}", "4", {"question": "2+2?"})  # doctest: +SKIP
        {'score': 1.24, 'rule_reward': 1.0, 'judge_ok': 1.0, 'judge_bonus': 0.24}
    """
    return _default(data_source, solution_str, ground_truth, extra_info, **kwargs)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's batched entry point (`reward_model.reward_manager=batch`): one judge call for the whole
    batch."""
    return _default.batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)

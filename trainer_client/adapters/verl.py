"""verl custom reward functions backed by the judge service (checked against verl 0.9.1).

verl's reward loop (`verl/trainer/ppo/reward.py: get_custom_reward_fn`) loads `reward.custom_reward_function.path`
/ `.name` and its reward manager (`naive` by default) calls `compute_score(data_source=, solution_str=,
ground_truth=, extra_info=)` once per sample, in a worker thread for a plain function; every key of the returned
dict is logged next to `"score"` (every sample's dict must have the same keys).

verl has no way to leave one sample out of its group, so a failed judgment gets the neutral stand-in score
(`on_failure="neutral"`, see `trainer_client.reagent_r`): R = R_rule + λ·s̄, s̄ the mean judge score of the
question's other samples. The `judge_failed` key counts these in verl's logs.

verl does not pass the prompt: the question is read from `extra_info["question"]` (verl's example
preprocessing scripts put it there), or from `extra_info["prompt"]` (a chat prompt) when that is all there is.
Bad input raises `PayloadError` (a `ValueError`) naming the field, verl's convention for a broken reward: a
missing question, a missing or empty `reward_model.ground_truth`, an empty response.

Usage (URL from `RRM_JUDGE_URL`). verl loads the file at `path` by file location, so point it at a one-line file
of yours (see `examples/verl_reward.py`) rather than at this module:
    # my_reward.py
    from trainer_client.adapters.verl import compute_score
    # verl overrides
    reward.custom_reward_function.path=my_reward.py reward.custom_reward_function.name=compute_score
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._client import JudgeClient
from ..reagent_r import DEFAULT_LAMBDA, FailurePolicy, ReagentRScorer, RewardBreakdown
from ..rules import AnswerKind
from ._admission import in_flight_limit
from ._payload import PayloadError, check_label
from ._prompts import question_from_prompt

__all__ = ["PayloadError", "VerlReward", "compute_score", "compute_score_batch", "make_compute_score"]

_LABEL_HINT = "verl reads it from each row's reward_model.ground_truth"


def _question(extra_info: Mapping[str, Any] | None, key: str) -> str:
    info = extra_info or {}
    if not isinstance(info, Mapping):
        raise PayloadError(f"verl reward: extra_info must be a dict, not {type(info).__name__}")
    if isinstance(info.get(key), str) and info[key].strip():
        return str(info[key])
    if info.get("prompt"):
        question = question_from_prompt(info["prompt"])
        if question:
            return question
    raise PayloadError(f"verl reward: extra_info needs a non-empty {key!r} (or 'prompt') field holding the question")


def _inputs(solution_str: Any, ground_truth: Any) -> tuple[str, Any]:
    if not isinstance(solution_str, str):
        raise PayloadError(f"verl reward: solution_str must be a string, not {type(solution_str).__name__}")
    if not solution_str.strip():
        raise PayloadError("verl reward: solution_str is empty")
    return solution_str, check_label(ground_truth, "verl reward: ground_truth", _LABEL_HINT)


def _as_dict(b: RewardBreakdown) -> dict[str, Any]:
    assert b.reward is not None  # "neutral" never masks
    return {
        "score": b.reward,
        "rule_reward": b.rule_reward,
        "judge_ok": float(b.judge_ok),
        "judge_failed": float(not b.judge_ok),
        "judge_bonus": b.judge_bonus,
    }


class VerlReward:
    """Callable with verl's `compute_score` signature; `.batch` has the batched one.

    Args:
        base_url: Judge URL(s); None reads `RRM_JUDGE_URL` on first use.
        lam: λ of Reagent-R.
        on_failure: "neutral" (default) or "rule_only"; verl needs a number, so "mask" is refused.
        question_key: The `extra_info` field holding the question.
        kind: Rule-reward kind.
        client_kwargs: Passed to `JudgeClient` (timeout, max_retries, ...).
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        lam: float = DEFAULT_LAMBDA,
        on_failure: FailurePolicy = "neutral",
        question_key: str = "question",
        kind: AnswerKind = "auto",
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if on_failure == "mask":
            raise ValueError("verl needs a number for every sample: use on_failure='neutral'")
        self.base_url, self.lam, self.question_key, self.kind = base_url, lam, question_key, kind
        self.on_failure = on_failure
        self.client_kwargs = dict(client_kwargs or {})
        self._scorer: ReagentRScorer | None = None

    @property
    def scorer(self) -> ReagentRScorer:
        if self._scorer is None:
            kwargs = dict(self.client_kwargs)
            if "max_concurrency" not in kwargs and "http_client" not in kwargs:
                # verl calls compute_score from many threads at once: as many judgments as the judge admits.
                kwargs["max_concurrency"] = in_flight_limit(self.base_url, kwargs.get("api_key"))
            client = JudgeClient(self.base_url, **kwargs)
            self._scorer = ReagentRScorer(client, lam=self.lam, on_failure=self.on_failure, kind=self.kind)
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
        response, truth = _inputs(solution_str, ground_truth)
        return _as_dict(self.scorer.score([question], [response], [truth], [data_source])[0])

    def batch(
        self,
        data_sources: Sequence[str],
        solution_strs: Sequence[str],
        ground_truths: Sequence[Any],
        extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        if not len(data_sources) == len(solution_strs) == len(ground_truths) == len(infos):
            raise PayloadError("verl reward: data_sources, solution_strs, ground_truths, extra_infos differ in length")
        questions = [_question(info, self.question_key) for info in infos]
        pairs = [_inputs(s, g) for s, g in zip(solution_strs, ground_truths, strict=True)]
        scored = self.scorer.score(questions, [p[0] for p in pairs], [p[1] for p in pairs], list(data_sources))
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
    """Batched form (lists in, one judge call): for a reward manager of your own; verl 0.9.1's managers call
    `compute_score` per sample."""
    return _default.batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)

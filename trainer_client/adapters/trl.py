"""TRL `GRPOTrainer` reward functions backed by the judge service.

TRL calls each reward function as `f(prompts=..., completions=..., completion_ids=..., **dataset_columns,
trainer_state=..., log_extra=..., log_metric=...)` and accepts `None` to leave a sample out; async functions
run concurrently on TRL's own event loop; the function's `__name__` names its metric. Both factories below
return small picklable callables with an async `__call__` (the HTTP client is made lazily, on the loop that
uses it).

Usage:
    from trl import GRPOTrainer
    from trainer_client.adapters.trl import reagent_r_reward
    trainer = GRPOTrainer(model=..., train_dataset=ds,  # ds has "prompt" and "answer" columns
                          reward_funcs=[reagent_r_reward("http://judge:8000")])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._chat import Completion, judge_item
from .._client import AsyncJudgeClient
from .._types import JudgeOptions, Judgment
from ..reagent_r import DEFAULT_LAMBDA, FailurePolicy, reagent_r_breakdowns
from ..rules import AnswerKind
from ._payload import check_label
from ._prompts import question_from_prompt

__all__ = ["JudgeScoreReward", "ReagentRReward", "judge_score_reward", "reagent_r_reward"]


class _JudgeReward:
    def __init__(
        self,
        base_url: str | Sequence[str] | None,
        *,
        name: str,
        client: AsyncJudgeClient | None,
        judge_options: JudgeOptions | dict[str, Any] | None,
        client_kwargs: dict[str, Any] | None,
    ) -> None:
        self.__name__ = name
        self.base_url = base_url
        self.judge_options = judge_options
        self.client_kwargs = dict(client_kwargs or {})
        self._client = client

    @property
    def client(self) -> AsyncJudgeClient:
        if self._client is None:
            self._client = AsyncJudgeClient(self.base_url, **self.client_kwargs)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        # The HTTP client (sockets, a loop) does not pickle: a copy builds its own.
        return {**self.__dict__, "_client": None}

    async def _judge(self, prompts: Sequence[Any], completions: Sequence[Completion]) -> list[Judgment]:
        """Judge every non-blank completion in one call; a blank one is not sent (it would make the service refuse
        the whole request) and gets a failed judgment, so it is masked, not scored."""
        questions = _check(self.__name__, prompts, completions)
        out = [Judgment(index=k, status="failed", reason="rejected", detail=_BLANK) for k in range(len(completions))]
        sent = [k for k, c in enumerate(completions) if not _blank(c)]
        if sent:
            items = [judge_item(questions[k], completions[k]) for k in sent]
            result = await self.client.judge(items, options=self.judge_options, raise_on_error=False)
            for k, judgment in zip(sent, result, strict=True):
                out[k] = judgment.model_copy(update={"index": k})
        return out


_BLANK = "blank completion: not sent to the judge"


def _blank(completion: Completion) -> bool:
    if isinstance(completion, str):
        return not completion.strip()
    return not any(str(m.get("content") or "").strip() or m.get("tool_calls") for m in completion)


def _check(name: str, prompts: Sequence[Any], completions: Sequence[Any]) -> list[str]:
    """TRL's convention for a broken reward input is an exception: raise one naming the argument."""
    if isinstance(prompts, str) or isinstance(completions, str):
        raise TypeError(f"{name}: prompts and completions must be lists (one entry per sample), not strings")
    if len(prompts) != len(completions):
        raise ValueError(f"{name}: {len(prompts)} prompts but {len(completions)} completions")
    for k, completion in enumerate(completions):
        ok = isinstance(completion, str) or (
            isinstance(completion, Sequence) and all(isinstance(m, Mapping) for m in completion)
        )
        if not ok:
            raise TypeError(f"{name}: completions[{k}] must be a string or a list of chat messages")
    questions = []
    for k, prompt in enumerate(prompts):
        if not isinstance(prompt, (str, Sequence)):
            raise TypeError(f"{name}: prompts[{k}] must be a string or a list of chat messages")
        question = question_from_prompt(prompt)
        if not question:
            raise ValueError(f"{name}: prompts[{k}] holds no question (no user turn, or an empty one)")
        questions.append(question)
    return questions


def _truths(name: str, kwargs: dict[str, Any], key: str, n: int) -> list[Any]:
    if key not in kwargs:
        raise KeyError(f"{name}: the dataset needs a {key!r} column (the ground truth)")
    values = kwargs[key]
    if isinstance(values, str) or len(values) != n:
        raise ValueError(f"{name}: the {key!r} column must give one ground truth per completion")
    hint = f"the dataset's {key!r} column"
    return [check_label(v, f"{name}: {key}[{k}]", hint) for k, v in enumerate(values)]


def _log(kwargs: dict[str, Any], name: str, judgments: list[Any]) -> None:
    log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
    if log_metric is not None and judgments:
        log_metric(f"{name}/judge_failure_rate", sum(not j.ok for j in judgments) / len(judgments))


class ReagentRReward(_JudgeReward):
    """R = R_rule + λ·R_model per completion (see `trainer_client.reagent_r`); None where the judgment failed
    (`on_failure="mask"`) or R_rule alone (`"rule_only"`)."""

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        lam: float = DEFAULT_LAMBDA,
        on_failure: FailurePolicy = "mask",
        answer_key: str = "answer",
        source_key: str = "data_source",
        kind: AnswerKind = "auto",
        name: str = "reagent_r",
        client: AsyncJudgeClient | None = None,
        judge_options: JudgeOptions | dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url, name=name, client=client, judge_options=judge_options, client_kwargs=client_kwargs)
        self.lam, self.on_failure, self.answer_key, self.kind = lam, on_failure, answer_key, kind
        self.source_key = source_key  # a dataset column naming each item's source, if it has one

    async def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Completion],
        completion_ids: Any = None,
        **kwargs: Any,
    ) -> list[float | None]:
        truths = _truths(self.__name__, kwargs, self.answer_key, len(completions))
        judgments = await self._judge(prompts, completions)
        _log(kwargs, self.__name__, judgments)
        breakdowns = reagent_r_breakdowns(
            completions,
            truths,
            judgments,
            lam=self.lam,
            on_failure=self.on_failure,
            kind=self.kind,
            sources=kwargs.get(self.source_key),
        )
        return [b.reward for b in breakdowns]


class JudgeScoreReward(_JudgeReward):
    """R_model alone: the judge's score in [0, 1], None where the judgment failed. Pair it with your own rule
    reward through `GRPOConfig(reward_weights=[1.0, λ])` to get Reagent-R with TRL's weighting."""

    async def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Completion],
        completion_ids: Any = None,
        **kwargs: Any,
    ) -> list[float | None]:
        judgments = await self._judge(prompts, completions)
        _log(kwargs, self.__name__, judgments)
        return [j.score if j.ok else None for j in judgments]


def reagent_r_reward(base_url: str | Sequence[str] | None = None, **kwargs: Any) -> ReagentRReward:
    r"""A TRL reward function giving Reagent-R rewards from the judge at `base_url`.

    Args:
        base_url: Judge URL(s); None reads `RRM_JUDGE_URL`.
        **kwargs: `lam` (0.3), `on_failure` ("mask" → None), `answer_key` ("answer"), `source_key`
            ("data_source": the column whose value picks each item's rule grader, if present), `kind`, `name`
            ("reagent_r", the metric key), `judge_options`, `client_kwargs` (for `AsyncJudgeClient`),
            `client`.

    Returns:
        An async callable for `GRPOTrainer(reward_funcs=[...])`.

    Example:
        >>> reward = reagent_r_reward("http://localhost:8000")
        >>> reward.__name__
        'reagent_r'
    """
    return ReagentRReward(base_url, **kwargs)


def judge_score_reward(
    base_url: str | Sequence[str] | None = None,
    *,
    name: str = "judge_score",
    client: AsyncJudgeClient | None = None,
    judge_options: JudgeOptions | dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
) -> JudgeScoreReward:
    """A TRL reward function giving the judge's raw score (None for failed judgments).

    Example:
        >>> judge_score_reward("http://localhost:8000").__name__
        'judge_score'
    """
    return JudgeScoreReward(
        base_url, name=name, client=client, judge_options=judge_options, client_kwargs=client_kwargs
    )

r"""Reagent-U and Reagent-C inside TRL's `GRPOTrainer`, through its custom-rollout hook (`rollout_func`).

With `GRPOConfig(num_generations=2 * G)`, each question's group of 2G rows is built as the paper's Reagent-U:

    o⁽¹⁾ᵢ ~ π(·|q)                 G first attempts, judged by the live judge: critique cᵢ, score sᵢ⁽¹⁾
    o⁽²⁾ᵢ ~ π(·|q, o⁽¹⁾ᵢ, cᵢ)        G refinements (Reagent-C), judged: sᵢ⁽²⁾
    Rᵢ⁽ᵏ⁾ = R_rule + λ·sᵢ⁽ᵏ⁾          Reagent-R, None (masked) where the judgment failed
    Aᵢ⁽ᵏ⁾ = (Rᵢ⁽ᵏ⁾ − mean(R_pool)) / std(R_pool)      over all 2G: TRL's own group normalisation

Every row carries its own prompt ids, and TRL's loss computes each row's log-probabilities on its own prompt ids
plus completion: a refined sample's ratio (and KL) is computed in the context (q, o⁽¹⁾, c), a first attempt's in q.
Rows come in pairs — row 2j a first attempt, row 2j+1 its refinement — so a pair never straddles two processes
as long as the per-device batch is even. Generation goes through the trainer's own path (transformers, or vLLM
when `use_vllm=True`), so the rollout samples exactly as GRPOTrainer would.

Reagent-C is training-free in the paper (refine at inference, answer with o⁽²⁾). Here it appears twice:
`eval_mode="reagent_c"` evaluates the current policy that way (o⁽¹⁾ → critique → o⁽²⁾ as the answer, scored),
next to the default `eval_mode="plain"` — no critique at inference, what a Reagent-U-trained policy does.
`mode="reagent_c"` trains on refined answers only (G rows per question, each o⁽²⁾ in its own context): an
ablation that is not in the paper.

A failed judgment is never a score: its sample's reward is None, which TRL leaves out of the group's baseline and
gives advantage 0; failures are counted in TRL's logs (`reagent_u/judge_failure_rate`, per stage and per reason).
A first attempt whose judgment failed has no critique; its refinement is asked to review itself (counted as
`reagent_u/self_review_rate`).

Usage:
    from trainer_client.adapters.trl_rollout import ReagentURollout
    reagent = ReagentURollout("http://judge:8000")        # λ = 0.3
    trainer = GRPOTrainer(model=..., train_dataset=ds,     # ds: chat "prompt" and "answer" columns
                          args=GRPOConfig(num_generations=2 * G, ...),
                          rollout_func=reagent, reward_funcs=[reagent.reward])

Needs TRL >= 1.15 (tested with 1.16.0): it calls two of GRPOTrainer's own methods (`_tokenize_prompts`,
`_generate_single_turn(..., num_generations)`) and refuses, with the version in the message, a TRL without them.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Literal

from .._chat import judge_item
from .._client import JudgeClient
from .._types import JudgeOptions, Judgment
from ..reagent_c import CRITIQUE_PROMPT, refinement_turns
from ..reagent_r import DEFAULT_LAMBDA, reagent_r_breakdowns
from ..rules import AnswerKind
from ._prompts import question_from_prompt

__all__ = ["EvalMode", "ReagentUReward", "ReagentURollout", "TrainMode"]

TrainMode = Literal["reagent_u", "reagent_c"]
EvalMode = Literal["plain", "reagent_c"]
_NUM = "num_generations"  # the parameter that makes per-row generation correct (TRL >= 1.15)
_BLANK = "blank completion: not sent to the judge"


@dataclass
class _Stage:
    """One generation stage: contexts, what the policy wrote in them, and the judge's verdicts."""

    contexts: list[Any]
    questions: list[str]
    fed: list[str | None]  # the critique each context carries (None: none, or a self-review)
    prompt_ids: list[list[int]] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)
    logprobs: list[Any] | None = None
    texts: list[str] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)

    def critique(self, i: int) -> str | None:
        judgment = self.judgments[i]
        return judgment.critique if judgment.ok else None


class ReagentUReward:
    """The Reagent-R reward of each row a `ReagentURollout` produced: R_rule + λ·score, None where the judgment
    failed. Logs failure rates (overall, per stage, per reason), rewards per stage and the self-review rate."""

    def __init__(
        self, *, lam: float, answer_key: str, source_key: str, kind: AnswerKind, name: str = "reagent_u"
    ) -> None:
        self.__name__ = name
        self.lam, self.answer_key, self.source_key, self.kind = lam, answer_key, source_key, kind

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        if self.answer_key not in kwargs:
            raise KeyError(f"{self.__name__}: the dataset needs a {self.answer_key!r} column (the ground truth)")
        if "reagent_score" not in kwargs:
            raise KeyError(f"{self.__name__}: pass the ReagentURollout as GRPOTrainer(rollout_func=...)")
        stages, scores = kwargs["reagent_stage"], kwargs["reagent_score"]
        breakdowns = reagent_r_breakdowns(
            completions,
            kwargs[self.answer_key],
            scores,
            lam=self.lam,
            on_failure="mask",
            kind=self.kind,
            sources=kwargs.get(self.source_key),
        )
        rewards = [b.reward for b in breakdowns]
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if log_metric is not None:
            self._log(log_metric, stages, rewards, kwargs["reagent_failure"], kwargs["reagent_critique"])
        log_extra: Callable[[str, list[Any]], None] | None = kwargs.get("log_extra")
        if log_extra is not None:
            log_extra("reagent_stage", list(stages))
            log_extra("reagent_critique", list(kwargs["reagent_critique"]))
        return rewards

    def _log(
        self,
        log_metric: Callable[[str, float], None],
        stages: Sequence[str],
        rewards: list[float | None],
        failures: Sequence[str | None],
        critiques: Sequence[str | None],
    ) -> None:
        name, n = self.__name__, len(rewards)
        log_metric(f"{name}/judge_failure_rate", sum(r is None for r in rewards) / n)
        for reason, count in Counter(f for f in failures if f is not None).items():
            log_metric(f"{name}/judge_failures/{reason}", count / n)
        for stage in sorted(set(stages)):
            mine = [r for r, s in zip(rewards, stages, strict=True) if s == stage]
            scored = [r for r in mine if r is not None]
            log_metric(f"{name}/{stage}/judge_failure_rate", 1 - len(scored) / len(mine))
            if scored:  # a NaN would poison TRL's average over the logging interval
                log_metric(f"{name}/{stage}/reward", sum(scored) / len(scored))
            if stage == "refined":
                log_metric(
                    f"{name}/self_review_rate",
                    sum(c is None for c, s in zip(critiques, stages, strict=True) if s == stage) / len(mine),
                )


class ReagentURollout:
    """A `rollout_func` for `GRPOTrainer` that builds Reagent-U groups (see the module docstring).

    Args:
        base_url: Judge URL(s); None reads `RRM_JUDGE_URL`.
        mode: Training rollouts: "reagent_u" (2G pooled rows per question) or "reagent_c" (refined rows only).
        eval_mode: Evaluation rollouts: "plain" (no critique, as at inference) or "reagent_c" (training-free
            refinement, the refined attempt is the answer).
        lam: λ of the Reagent-R reward.
        answer_key: The dataset column with the gold answer(s).
        source_key: The dataset column with each item's source, which picks the rule grader (absent: the gold
            decides).
        kind: Force one rule grader ("math", "text", "yes_no"); "auto" chooses per item.
        template: The critique turn of a refinement context (`{critique}` is replaced).
        judge_options: Options for every judge call (e.g. `{"temperature": 0.0}`).
        client: A `JudgeClient` to use; otherwise one is made from `base_url` and `client_kwargs`.
        client_kwargs: Arguments for that `JudgeClient`.
        name: Metric prefix and the reward function's `__name__`.

    Attributes:
        reward: The reward function for `reward_funcs`; it reads the judgments this rollout made.
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        mode: TrainMode = "reagent_u",
        eval_mode: EvalMode = "plain",
        lam: float = DEFAULT_LAMBDA,
        answer_key: str = "answer",
        source_key: str = "data_source",
        kind: AnswerKind = "auto",
        template: str = CRITIQUE_PROMPT,
        judge_options: JudgeOptions | dict[str, Any] | None = None,
        client: JudgeClient | None = None,
        client_kwargs: dict[str, Any] | None = None,
        name: str = "reagent_u",
    ) -> None:
        if mode not in ("reagent_u", "reagent_c") or eval_mode not in ("plain", "reagent_c"):
            raise ValueError(f"unknown mode {mode!r} or eval_mode {eval_mode!r}")
        self.base_url, self.mode, self.eval_mode, self.template = base_url, mode, eval_mode, template
        self.judge_options, self.client_kwargs = judge_options, dict(client_kwargs or {})
        self._client = client
        self.reward = ReagentUReward(lam=lam, answer_key=answer_key, source_key=source_key, kind=kind, name=name)

    @property
    def client(self) -> JudgeClient:
        if self._client is None:
            self._client = JudgeClient(self.base_url, **self.client_kwargs)
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}  # sockets do not pickle: a copy builds its own client

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        """TRL's `rollout_func(prompts, trainer)`: one completion per prompt row, plus per-row fields that TRL
        hands to the reward functions (`reagent_stage`, `reagent_score`, `reagent_failure`, `reagent_critique`,
        `reagent_context`)."""
        _check(prompts, trainer)
        mode = self.mode if trainer.model.training else self.eval_mode
        if mode == "reagent_u":
            if len(prompts) % 2 or any(prompts[k] != prompts[k + 1] for k in range(0, len(prompts), 2)):
                raise ValueError(
                    "Reagent-U pairs each first attempt with its refinement inside a group: set num_generations "
                    f"to 2·G (it is {trainer.num_generations}) and keep the per-device batch even ({len(prompts)})"
                )
            prompts = prompts[0::2]
        first = self._stage(trainer, list(prompts), [question_from_prompt(p) for p in prompts])
        if mode == "plain":
            return _output([(first, i, "first") for i in range(len(prompts))])
        contexts = [
            [*context, *refinement_turns(text, first.critique(i), template=self.template)]
            for i, (context, text) in enumerate(zip(first.contexts, first.texts, strict=True))
        ]
        fed = [first.critique(i) for i in range(len(contexts))]
        refined = self._stage(trainer, contexts, first.questions, fed)
        if mode == "reagent_c":
            return _output([(refined, i, "refined") for i in range(len(contexts))])
        return _output([row for i in range(len(contexts)) for row in ((first, i, "first"), (refined, i, "refined"))])

    def _stage(
        self, trainer: Any, contexts: list[Any], questions: list[str], fed: list[str | None] | None = None
    ) -> _Stage:
        stage = _Stage(contexts, questions, fed or [None] * len(contexts))
        prompt_ids, images, multimodal = trainer._tokenize_prompts(contexts)
        if images is not None:
            raise NotImplementedError("ReagentURollout does not handle images in prompts")
        stage.prompt_ids = [list(ids) for ids in prompt_ids]
        stage.completion_ids, stage.logprobs = trainer._generate_single_turn(
            prompt_ids, None, multimodal, num_generations=1
        )
        stage.texts = trainer.processing_class.batch_decode(stage.completion_ids, skip_special_tokens=True)
        stage.judgments = self._judge(questions, stage.texts)
        return stage

    def _judge(self, questions: list[str], texts: list[str]) -> list[Judgment]:
        """Judge every non-blank completion in one call. A blank one is not sent (one blank item makes the service
        refuse the whole request); it gets a failed judgment of its own."""
        for k, question in enumerate(questions):
            if not question.strip():
                raise ValueError(f"prompt row {k} has no question (its last user turn is empty)")
        out = [Judgment(index=k, status="failed", reason="rejected", detail=_BLANK) for k in range(len(texts))]
        sent = [k for k, text in enumerate(texts) if text.strip()]
        if sent:
            items = [judge_item(questions[k], texts[k]) for k in sent]
            result = self.client.judge(items, options=self.judge_options, raise_on_error=False)
            for k, judgment in zip(sent, result, strict=True):
                out[k] = judgment.model_copy(update={"index": k})
        return out


def _output(rows: list[tuple[_Stage, int, str]]) -> dict[str, Any]:
    """The rollout's dict: TRL's required keys, then the per-row extras."""
    logprobs = None
    if all(s.logprobs is not None for s, _, _ in rows):
        logprobs = [s.logprobs[i] for s, i, _ in rows]  # type: ignore[index]
    return {
        "prompt_ids": [s.prompt_ids[i] for s, i, _ in rows],
        "completion_ids": [s.completion_ids[i] for s, i, _ in rows],
        "logprobs": logprobs,
        "reagent_stage": [stage for _, _, stage in rows],
        "reagent_score": [s.judgments[i].score if s.judgments[i].ok else None for s, i, _ in rows],
        "reagent_failure": [None if s.judgments[i].ok else s.judgments[i].reason for s, i, _ in rows],
        "reagent_critique": [s.fed[i] for s, i, _ in rows],
        "reagent_context": [s.contexts[i] for s, i, _ in rows],
    }


def _check(prompts: list[Any], trainer: Any) -> None:
    generate = getattr(trainer, "_generate_single_turn", None)
    # Before TRL 1.15 this method took no `num_generations` and, under vLLM, generated `self.num_generations`
    # completions per `num_generations`-th prompt: wrong for a rollout that generates once per row.
    if (
        not hasattr(trainer, "_tokenize_prompts")
        or generate is None
        or _NUM not in inspect.signature(generate).parameters
    ):
        raise RuntimeError(
            f"ReagentURollout needs TRL >= 1.15 (GRPOTrainer._tokenize_prompts and "
            f"_generate_single_turn(..., num_generations)); this is TRL {version('trl')}"
        )
    if not prompts or not all(isinstance(p, list) for p in prompts):
        raise ValueError("ReagentURollout needs conversational prompts (lists of {'role', 'content'} messages)")

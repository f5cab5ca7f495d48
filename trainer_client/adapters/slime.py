"""slime rewards backed by the judge service, in both of slime's shapes (contract read from THUDM/slime at
commit 624b824a898ab0ec1fcb4d373004c7f3852bf515: `slime/rollout/rm_hub/__init__.py`, `slime/ray/rollout.py`).

1. Remote RM (`--rm-type remote_rm --rm-url URL --reward-key reward`): slime POSTs
   `{"prompt", "response", "label"}` per sample (pooled session, 120 s timeout, 10 tries) and picks one field of
   the JSON answer. `handle_slime` answers with `reward` (Reagent-R) and its parts. A remote RM cannot drop a
   sample, so a failed judgment gets the neutral stand-in score (`on_failure="neutral"`, see
   `trainer_client.reagent_r`); `judge_ok` marks it.

       python -m trainer_client serve-reward --url http://judge:8000 --port 5000
       ... --rm-type remote_rm --rm-url http://127.0.0.1:5000/slime --reward-key reward

2. Custom reward function (`--custom-rm-path trainer_client.adapters.slime.reward_func`, or
   `...group_reward_func` with `--group-rm`; judge URL from `RRM_JUDGE_URL`): returns the Reagent-R reward of
   each `Sample`. A sample whose judgment failed is **masked**: `sample.remove_sample = True` (slime then zeroes
   its loss mask), and its reward is the neutral one, so the group mean slime normalises with is not pulled
   down by it. Failures are counted in the rollout logs (`trainer_client.slime` logger).

Bad input is refused, nothing scored: a missing or empty prompt, response or label (slime's `--label-key`)
raises `PayloadError` naming the field; the reward server answers it with HTTP 400, the custom function lets
it propagate (slime's convention: the rollout fails with the message).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .._client import AsyncJudgeClient
from ..reagent_r import AsyncReagentRScorer, ReagentRScorer, RewardBreakdown
from ._admission import in_flight_limit
from ._payload import PayloadError, check_label
from ._prompts import question_from_prompt, strip_special_tokens

__all__ = [
    "TIMEOUT_S",
    "PayloadError",
    "group_reward_func",
    "handle_slime",
    "parse_slime",
    "reward_func",
    "slime_answer",
]

TIMEOUT_S = 120.0  # slime's remote-RM session gives up on a request after this (slime/rollout/rm_hub), then re-sends

_log = logging.getLogger("trainer_client.slime")
_LABEL_HINT = "set slime's --label-key to your dataset's answer field"


def slime_answer(b: RewardBreakdown) -> dict[str, Any]:
    """slime's remote-RM answer for one scored sample."""
    judgment = b.judgment
    return {
        "reward": b.reward,
        "rule_reward": b.rule_reward,
        "judge_score": b.judge_score,
        "judge_ok": b.judge_ok,
        "neutral_score": b.neutral_score,
        "failure_reason": None if judgment is None or judgment.ok else judgment.reason,
        "critique": judgment.critique if judgment is not None else None,
    }


def _parts(prompt: Any, response: Any, label: Any, where: str) -> tuple[str, str, Any]:
    if not isinstance(prompt, (str, list)) or not prompt:
        raise PayloadError(f"{where}: 'prompt' must be a non-empty string or chat message list")
    if not isinstance(response, str):
        raise PayloadError(f"{where}: 'response' must be a string, not {type(response).__name__}")
    question, answer = question_from_prompt(prompt), strip_special_tokens(response)
    if not question:
        raise PayloadError(f"{where}: 'prompt' holds no question (no user turn, or an empty one)")
    if not answer:
        raise PayloadError(f"{where}: 'response' is empty")
    return question, answer, check_label(label, f"{where}: 'label'", _LABEL_HINT)


def handle_slime(payload: Mapping[str, Any], scorer: ReagentRScorer) -> dict[str, Any]:
    """Answer one slime remote-RM request.

    Args:
        payload: `{"prompt": str | messages, "response": str, "label": gold answer(s)}`.
        scorer: A `ReagentRScorer` (its `on_failure` should be "neutral", the default).

    Returns:
        `{"reward", "rule_reward", "judge_score" (None if failed), "judge_ok", "neutral_score", "failure_reason",
        "critique"}`.

    Raises:
        PayloadError: The request is malformed (the message names the field).

    Example:
        >>> payload = {"prompt": "2+2?", "response": r"\\boxed{4}", "label": "4"}
        >>> handle_slime(payload, scorer)["reward"]  # doctest: +SKIP
        1.27
    """
    question, answer, label = parse_slime(payload)
    return slime_answer(scorer.score([question], [answer], [label])[0])


def parse_slime(payload: Mapping[str, Any]) -> tuple[str, str, Any]:
    """Question, response and ground truth of a slime remote-RM request; `PayloadError` naming the field."""
    for key in ("prompt", "response", "label"):
        if key not in payload:
            raise PayloadError(f"slime request: the field {key!r} is missing")
    return _parts(payload["prompt"], payload["response"], payload["label"], "slime request")


_scorer: AsyncReagentRScorer | None = None


def _default_scorer() -> AsyncReagentRScorer:
    global _scorer
    if _scorer is None:
        # slime scores every sample of a rollout as its generation ends: as many judgments as the judge admits.
        _scorer = AsyncReagentRScorer(AsyncJudgeClient(max_concurrency=in_flight_limit(None)), on_failure="neutral")
    return _scorer


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> float:
    """slime `--custom-rm-path` entry point: the Reagent-R reward of one `Sample` (prompt, response, label);
    a failed judgment sets `sample.remove_sample`."""
    return (await group_reward_func(args, [sample]))[0]


async def group_reward_func(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[float]:
    """slime `--custom-rm-path` entry point with `--group-rm`: one judge call for the group; failed judgments
    set `remove_sample` on their samples."""
    parts = [
        _parts(getattr(s, "prompt", None), getattr(s, "response", None), getattr(s, "label", None), f"Sample[{k}]")
        for k, s in enumerate(samples)
    ]
    breakdowns = await _default_scorer().score([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts])
    failed = 0
    for sample, b in zip(samples, breakdowns, strict=True):
        if not b.judge_ok:
            sample.remove_sample = True
            failed += 1
    if failed:
        _log.warning("judge failed for %d of %d samples: removed (Sample.remove_sample)", failed, len(samples))
    return [b.reward for b in breakdowns]  # type: ignore[misc]  # "neutral" never masks

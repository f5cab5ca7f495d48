"""slime rewards backed by the judge service, in both of slime's shapes.

1. Remote RM (`--rm-type remote_rm --rm-url URL --reward-key reward`): slime POSTs
   `{"prompt", "response", "label"}` per sample and picks one field of the JSON answer. `handle_slime` answers
   with `reward` (Reagent-R) and its parts:

       python -m trainer_client serve-reward --url http://judge:8000 --port 5000
       ... --rm-type remote_rm --rm-url http://127.0.0.1:5000/slime --reward-key reward

2. Custom reward function (`--custom-rm-path trainer_client.adapters.slime.reward_func`, judge URL from
   `RRM_JUDGE_URL`): `async def reward_func(args, sample)` returns the Reagent-R reward of a slime `Sample`
   (and `group_reward_func(args, samples)` with `--group-rm`).

slime needs a number for every sample: judge failures fall back to the rule reward; `judge_ok` marks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._client import AsyncJudgeClient
from ..reagent_r import AsyncReagentRScorer, ReagentRScorer, RewardBreakdown
from ._prompts import question_from_prompt, strip_special_tokens

__all__ = ["group_reward_func", "handle_slime", "reward_func"]


def _body(b: RewardBreakdown) -> dict[str, Any]:
    judgment = b.judgment
    return {
        "reward": b.reward if b.reward is not None else b.rule_reward,
        "rule_reward": b.rule_reward,
        "judge_score": b.judge_score,
        "judge_ok": b.judge_ok,
        "failure_reason": None if judgment is None or judgment.ok else judgment.reason,
        "critique": judgment.critique if judgment is not None else None,
    }


def handle_slime(payload: Mapping[str, Any], scorer: ReagentRScorer) -> dict[str, Any]:
    """Answer one slime remote-RM request.

    Args:
        payload: `{"prompt": str, "response": str, "label": gold answer(s)}`.
        scorer: A `ReagentRScorer` (its `on_failure` should be "rule_only").

    Returns:
        `{"reward", "rule_reward", "judge_score" (None if failed), "judge_ok", "failure_reason", "critique"}`.

    Example:
        >>> payload = {"prompt": "2+2?", "response": r"\\boxed{4}", "label": "4"}
        >>> handle_slime(payload, scorer)["reward"]  # doctest: +SKIP
        1.27
    """
    prompt, response = payload.get("prompt"), payload.get("response")
    if not isinstance(prompt, (str, list)) or not isinstance(response, str):
        raise ValueError("slime request: 'prompt' (str) and 'response' (str) are required")
    label = payload.get("label")
    breakdown = scorer.score([question_from_prompt(prompt)], [strip_special_tokens(response)], [label or ""])[0]
    return _body(breakdown)


_scorer: AsyncReagentRScorer | None = None


def _default_scorer() -> AsyncReagentRScorer:
    global _scorer
    if _scorer is None:
        _scorer = AsyncReagentRScorer(AsyncJudgeClient(), on_failure="rule_only")
    return _scorer


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> float:
    """slime `--custom-rm-path` entry point: the Reagent-R reward of one `Sample` (prompt, response,
    label)."""
    return (await group_reward_func(args, [sample]))[0]


async def group_reward_func(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[float]:
    """slime `--custom-rm-path` entry point with `--group-rm`: one judge call for the group."""
    questions = [question_from_prompt(s.prompt) for s in samples]
    responses = [strip_special_tokens(s.response) for s in samples]
    labels = [s.label if s.label is not None else "" for s in samples]
    breakdowns = await _default_scorer().score(questions, responses, labels)
    return [b.reward if b.reward is not None else b.rule_reward for b in breakdowns]

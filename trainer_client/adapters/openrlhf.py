"""OpenRLHF remote reward: what `--reward.remote_url` (older: `--remote_rm_url`) can point at.

OpenRLHF POSTs `{"query": [prompt + response], "prompts": [prompt], "labels": [label]}` (decoded, special
tokens kept) and reads `{"rewards": [...], "scores": [...], "extra_logs": {name: [...]}}`: `rewards` feed the
advantage, `scores` (in [0, 1]) its dynamic filtering. Here `rewards` are Reagent-R rewards, `scores` the rule
rewards (the accuracy that dynamic filtering means), and judge failures fall back to the rule reward (OpenRLHF
needs numbers).

Usage:
    python -m trainer_client serve-reward --url http://judge:8000 --port 5000
    openrlhf.cli.train_ppo_ray ... --reward.remote_url http://127.0.0.1:5000/get_reward --label_key answer
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..reagent_r import ReagentRScorer
from ._prompts import question_from_prompt, response_from_query

__all__ = ["handle_openrlhf"]


def _list(payload: Mapping[str, Any], key: str, n: int | None = None) -> list[Any]:
    value = payload.get(key)
    if value is None and n is not None:
        return [None] * n
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"OpenRLHF request: {key!r} must be a list")
    return list(value)


def handle_openrlhf(payload: Mapping[str, Any], scorer: ReagentRScorer) -> dict[str, Any]:
    """Answer one OpenRLHF remote-reward request.

    Args:
        payload: `{"query": [...], "prompts": [...], "labels": [...]}`; `labels` holds the ground truths.
        scorer: A `ReagentRScorer` (its `on_failure` should be "rule_only").

    Returns:
        `{"rewards": [...], "scores": [...], "extra_logs": {"rule_reward", "judge_ok", "judge_bonus"}}`.

    Example:
        >>> handle_openrlhf({"query": [q + r], "prompts": [q], "labels": ["4"]}, scorer)  # doctest: +SKIP
        {'rewards': [1.27], 'scores': [1.0], 'extra_logs': {'rule_reward': [1.0], 'judge_ok': [1.0], ...}}
    """
    queries = _list(payload, "query")
    prompts = _list(payload, "prompts", len(queries))
    labels = _list(payload, "labels", len(queries))
    if not len(queries) == len(prompts) == len(labels):
        raise ValueError("OpenRLHF request: query, prompts and labels must have the same length")
    questions = [question_from_prompt(p or q) for p, q in zip(prompts, queries, strict=True)]
    responses = [response_from_query(q, p or "") for q, p in zip(queries, prompts, strict=True)]
    truths = [label if label is not None else "" for label in labels]
    breakdowns = scorer.score(questions, responses, truths)
    rewards = [b.reward if b.reward is not None else b.rule_reward for b in breakdowns]
    return {
        "rewards": rewards,
        "scores": [b.rule_reward for b in breakdowns],
        "extra_logs": {
            "rule_reward": [b.rule_reward for b in breakdowns],
            "judge_ok": [float(b.judge_ok) for b in breakdowns],
            "judge_bonus": [b.judge_bonus for b in breakdowns],
        },
    }

"""OpenRLHF remote reward: what `--reward.remote_url` points at (checked against openrlhf 0.11.2).

OpenRLHF POSTs one request per sample, `{"query": [prompt + response], "prompts": [prompt], "labels": [label]}`
(decoded with special tokens kept; the label is the dataset field named by `--data.label_key`), and reads
`{"rewards": [...], "scores": [...], "extra_logs": {name: [...]}}`: `rewards` feed the advantage, `scores` (in
[0, 1]) its dynamic filtering, and every `extra_logs` key is logged. Here `rewards` are Reagent-R rewards,
`scores` the rule rewards (the accuracy dynamic filtering means).

OpenRLHF has no way to leave one sample out of its group, so a failed judgment gets the neutral stand-in score
(`on_failure="neutral"`, see `trainer_client.reagent_r`): R = R_rule + λ·s̄, s̄ the mean judge score of the
question's other samples. `extra_logs["judge_failed"]` counts these in OpenRLHF's logs.

Bad input is refused, nothing scored: a request that is not OpenRLHF's shape, or a sample with no label
(OpenRLHF sends "" when `--data.label_key` is not set) or no response, raises `PayloadError` naming the field;
the reward server answers it with HTTP 400 carrying the message (OpenRLHF's client logs it and gives up after
its retries).

Usage:
    python -m trainer_client serve-reward --url http://judge:8000 --port 5000
    python -m openrlhf.cli.train_ppo_ray ... \\
        --reward.remote_url http://127.0.0.1:5000/get_reward --data.label_key answer
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..reagent_r import ReagentRScorer, RewardBreakdown
from ._payload import PayloadError, label_list, text_list
from ._prompts import question_from_prompt, response_from_query

__all__ = ["TIMEOUT_S", "PayloadError", "handle_openrlhf", "openrlhf_answer", "parse_openrlhf"]

TIMEOUT_S = 180.0  # OpenRLHF 0.11.2 gives up on a reward request after this (openrlhf/utils/agent.py), then re-sends


def handle_openrlhf(payload: Mapping[str, Any], scorer: ReagentRScorer) -> dict[str, Any]:
    """Answer one OpenRLHF remote-reward request.

    Args:
        payload: `{"query": [...], "prompts": [...], "labels": [...]}`; `labels` holds the ground truths.
        scorer: A `ReagentRScorer` (its `on_failure` should be "neutral", the default).

    Returns:
        `{"rewards": [...], "scores": [...], "extra_logs": {"rule_reward", "judge_ok", "judge_failed",
        "judge_bonus"}}`.

    Raises:
        PayloadError: The request is malformed (the message names the field).

    Example:
        >>> handle_openrlhf({"query": [q + r], "prompts": [q], "labels": ["4"]}, scorer)  # doctest: +SKIP
        {'rewards': [1.27], 'scores': [1.0], 'extra_logs': {'rule_reward': [1.0], 'judge_ok': [1.0], ...}}
    """
    questions, responses, labels = parse_openrlhf(payload)
    return openrlhf_answer(scorer.score(questions, responses, labels))


def parse_openrlhf(payload: Mapping[str, Any]) -> tuple[list[str], list[str], list[Any]]:
    """Questions, responses and ground truths of an OpenRLHF request; `PayloadError` naming the field if malformed."""
    where = "OpenRLHF request"
    queries = text_list(payload, "query", where)
    prompts = text_list(payload, "prompts", where, allow_empty=True)
    labels = label_list(payload, "labels", where, hint="set --data.label_key to your dataset's answer field")
    if not len(queries) == len(prompts) == len(labels):
        raise PayloadError(
            f"{where}: 'query', 'prompts' and 'labels' must have the same length "
            f"({len(queries)}, {len(prompts)}, {len(labels)})"
        )
    questions = [question_from_prompt(p or q) for p, q in zip(prompts, queries, strict=True)]
    responses = [response_from_query(q, p) for q, p in zip(queries, prompts, strict=True)]
    for k, (question, response) in enumerate(zip(questions, responses, strict=True)):
        if not question:
            raise PayloadError(f"{where}: prompts[{k}] holds no question (no user turn, or an empty one)")
        if not response:
            raise PayloadError(f"{where}: query[{k}] holds no response after its prompt")
    return questions, responses, labels


def openrlhf_answer(breakdowns: Sequence[RewardBreakdown]) -> dict[str, Any]:
    """OpenRLHF's answer shape for scored samples."""
    return {
        "rewards": [b.reward for b in breakdowns],
        "scores": [b.rule_reward for b in breakdowns],
        "extra_logs": {
            "rule_reward": [b.rule_reward for b in breakdowns],
            "judge_ok": [float(b.judge_ok) for b in breakdowns],
            "judge_failed": [float(not b.judge_ok) for b in breakdowns],
            "judge_bonus": [b.judge_bonus for b in breakdowns],
        },
    }

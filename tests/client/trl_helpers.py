"""What the TRL tests share: a GRPOTrainer that records what it computed, and single-threaded torch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from trl import GRPOTrainer


class RecordingTrainer(GRPOTrainer):  # type: ignore[misc]
    """GRPOTrainer that records, unchanged, each generation batch it built and each sequence its loss read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[dict[str, Any]] = []
        self.loss_rows: list[list[int]] = []

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids: Any) -> Any:
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids)
        self._rewards = rewards[:, 0].tolist()
        return rewards

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        mask, cmask = out["prompt_mask"].bool(), out["completion_mask"].bool()
        self.batches.append(
            {
                "training": self.model.training,
                "rows": [dict(x) for x in inputs],  # the dataset row plus the rollout's per-row fields
                "prompt_ids": [ids[m].tolist() for ids, m in zip(out["prompt_ids"], mask, strict=True)],
                "completion_ids": [ids[m].tolist() for ids, m in zip(out["completion_ids"], cmask, strict=True)],
                "advantages": out["advantages"].tolist(),
                "rewards": self._rewards,
            }
        )
        return out

    def _get_per_token_logps_and_entropies(
        self, model: Any, input_ids: Any, attention_mask: Any, *a: Any, **kw: Any
    ) -> Any:
        if torch.is_grad_enabled():  # the policy-gradient loss, not generation-time scoring
            self.loss_rows += [ids[m.bool()].tolist() for ids, m in zip(input_ids, attention_mask, strict=True)]
        return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, *a, **kw)


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """torch on one thread for the test: on two cores shared with a vLLM judge, torch's default two threads contend
    and a tiny forward pass takes ~30 times longer."""
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def chat(tokenizer: Any, messages: list[dict[str, Any]]) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False))

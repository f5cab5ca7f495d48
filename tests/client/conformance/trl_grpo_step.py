"""Run by test_conformance_trl.py under one TRL release (first on sys.path): the README's TRL lines, executed as
written, build a `GRPOTrainer` on the tiny demo policy, and two real GRPO steps go through TRL's own reward dispatch
(`GRPOTrainer._calculate_rewards`: async detection, `None` → NaN) and its advantage computation (`None` excluded
from the group baseline, advantage 0).

argv: model folder, judge URL, the README lines (JSON list), mode: "train" (`trainer.train()`, two steps) or
"dispatch" (two rounds of `_generate_and_score_completions`, the generation-and-reward half of a step, without the
loss). Prints one JSON line.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from typing import Any


def main() -> None:
    model_dir, judge_url, lines, mode = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig
    from trl import GRPOTrainer as TRLTrainer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    seen: list[dict[str, Any]] = []

    class GRPOTrainer(TRLTrainer):  # type: ignore[misc]
        """TRL's trainer, recording what its own reward dispatch and advantage code computed."""

        def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids: Any) -> Any:
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids)
            seen.append({"rewards": [None if math.isnan(r) else r for r in rewards[:, 0].tolist()]})
            return rewards

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            out = super()._generate_and_score_completions(inputs)
            seen[-1]["advantages"] = out["advantages"].tolist()
            return out

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rows = [
        {"prompt": [{"role": "user", "content": f"What is {k}+{k}? Answer in \\boxed{{}}."}], "answer": str(2 * k)}
        for k in range(1, 5)
    ]
    ds = Dataset.from_list(rows)
    with tempfile.TemporaryDirectory() as out_dir:
        config = GRPOConfig(
            output_dir=out_dir,
            use_cpu=True,
            use_vllm=False,
            bf16=False,
            max_steps=2,
            per_device_train_batch_size=4,
            num_generations=4,  # one group of 4 per step
            max_completion_length=8,
            temperature=1.0,
            learning_rate=1e-3,
            beta=0.0,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=0,
        )
        namespace: dict[str, Any] = {"GRPOTrainer": GRPOTrainer, "model": model, "config": config, "ds": ds}
        exec("\n".join(lines).replace("http://judge:8000", judge_url), namespace)
        trainer = namespace["trainer"]
        if mode == "train":
            trainer.train()
        else:
            batches = iter(trainer.get_train_dataloader())
            for _ in range(2):
                trainer._generate_and_score_completions(next(batches))
    change = sum(float((p.detach() - before[n]).pow(2).sum()) for n, p in model.named_parameters()) ** 0.5
    logs = [{k: v for k, v in row.items() if "reagent_r" in k or k == "reward"} for row in trainer.state.log_history]
    print(json.dumps({"trl": trl.__version__, "steps": seen, "logs": logs, "param_change": change}))


if __name__ == "__main__":
    main()

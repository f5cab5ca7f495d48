"""A few real GRPO steps with TRL on a tiny policy, rewarded by Reagent-R from a live judge service.

    python examples/trl_grpo_reagent_r.py --url http://127.0.0.1:8000 --model /path/to/demo-model --steps 4

R = R_rule + 0.3·score: the rule part checks the `\\boxed{}` answer of a little arithmetic question, the score comes
from the judge. Failed judgments give `None`, which TRL leaves out of the step. One JSON line is printed per step
(`{"step", "reward", "reward_std", "judge_failure_rate"}`), then `REWARD_CURVE [...]` and `PARAM_CHANGE x`, the L2
norm of how far training moved the policy's weights.

With the demo judge (random weights) at temperature 0, every judgment is the same, so every reward in a group is
equal, every advantage is 0 and GRPO has nothing to learn from; `--judge-temperature 1` samples the judge (seeded,
so still repeatable) to give the varied rewards a real judge would. Against the real Agent-RRM keep the default, 0.

CPU only and small on purpose (it runs in CI in well under a minute): group of 4, 16 new tokens, no reference
model (β = 0). Needs `pip install ./trainer_client[examples]` (TRL, which brings torch and transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from typing import Any

from trainer_client.adapters.trl import reagent_r_reward


def arithmetic_dataset(n: int, seed: int) -> Any:
    """Conversational prompts with a ground-truth `answer` column (TRL passes it to the reward function)."""
    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        question = f"What is {a} + {b}? Put the final answer in \\boxed{{}}."
        rows.append({"prompt": [{"role": "user", "content": question}], "answer": str(a + b)})
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("RRM_JUDGE_URL"), help="judge URL (or $RRM_JUDGE_URL)")
    parser.add_argument("--model", default=os.environ.get("RRM_POLICY_MODEL"), help="policy model folder")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--group", type=int, default=4, help="GRPO group size G (= completions per prompt)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--judge-temperature", type=float, default=0.0, help="judge sampling temperature (paper: 0)")
    args = parser.parse_args()
    if not args.url or not args.model:
        parser.error("--url and --model are required")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    curve: list[dict[str, Any]] = []

    class PrintRewards(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "reward" in logs:
                row = {
                    "step": state.global_step,
                    "reward": logs["reward"],
                    "reward_std": logs.get("reward_std"),
                    "judge_failure_rate": logs.get("reagent_r/judge_failure_rate"),
                }
                curve.append(row)
                print(json.dumps(row), flush=True)

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    judge_options = {"temperature": args.judge_temperature, "seed": args.seed} if args.judge_temperature else None
    with tempfile.TemporaryDirectory() as out_dir:
        config = GRPOConfig(
            output_dir=out_dir,
            use_cpu=True,
            use_vllm=False,
            bf16=False,
            max_steps=args.steps,
            per_device_train_batch_size=args.group,  # one prompt × G completions per step
            num_generations=args.group,
            max_completion_length=args.max_new_tokens,
            temperature=1.0,
            learning_rate=1e-4,
            beta=0.0,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=args.seed,
        )
        trainer = GRPOTrainer(
            model=model,
            processing_class=tokenizer,
            reward_funcs=[reagent_r_reward(args.url, judge_options=judge_options)],  # λ = 0.3, failures → None
            args=config,
            train_dataset=arithmetic_dataset(args.group * args.steps * 2, args.seed),
            callbacks=[PrintRewards()],
        )
        trainer.train()
    change = sum(float((p.detach() - before[name]).pow(2).sum()) for name, p in model.named_parameters()) ** 0.5
    print("REWARD_CURVE " + json.dumps([row["reward"] for row in curve]), flush=True)
    print(f"PARAM_CHANGE {change:.6g}", flush=True)


if __name__ == "__main__":
    main()

"""Reagent-U training with TRL's GRPOTrainer: G first attempts per question, judged; G refinements written with
the critique in context, judged; the 2G samples pooled into one GRPO group (see trainer_client.adapters.trl_rollout).

    # a real model (a Hugging Face id or a folder), on a GPU host, with a judge serving Agent-RRM:
    python examples/trl_grpo_reagent_u.py --url http://judge:8000 --model Qwen/Qwen3-0.6B --group 8 --steps 300 \\
        --data train.jsonl --lr 1e-6 --max-new-tokens 1024 --use-vllm
    # the tiny demo policy against the demo judge (what CI runs, in-process, through `make_trainer`):
    python examples/trl_grpo_reagent_u.py --url http://127.0.0.1:8000 --model ~/.cache/agent-rrm/demo-model-v2 \\
        --steps 3 --group 2 --max-new-tokens 12 --lr 1e-3 --temperature 1.0 --judge-temperature 1.0

`--data` is a JSON-lines file of `{"question", "answer", "data_source"?}` (the source picks the rule grader:
"math", "search", "...qa"); without it a small arithmetic set is generated. One JSON line is printed per step
(reward, reward of first attempts and of refinements, judge failure rate), an evaluation line (`--eval-mode plain`:
no critique, as at inference; `reagent_c`: training-free refinement) and `PARAM_CHANGE x`, the L2 norm of the
weight change.

The paper's settings (Qwen3-8B): G = 8 (so `num_generations` 16), temperature 0.7, top-p 0.95, λ = 0.3, lr 5e-7
(its released script: 5e-6), β = 0; the loss averages over the 2G samples (`loss_type="grpo"`). Needs
`pip install "./trainer_client[examples]"` (TRL) and, for `--use-vllm`, vLLM on the GPU host. Run here only on the
tiny model: this machine has no GPU and no model hub.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path
from typing import Any

from trainer_client.adapters.trl_rollout import ReagentURollout


def arithmetic_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        question = f"What is {a} + {b}? Put the final answer in \\boxed{{}}."
        rows.append({"question": question, "answer": str(a + b), "data_source": "math"})
    return rows


def chat_dataset(rows: list[dict[str, Any]]) -> Any:
    """Conversational prompts; `answer` and `data_source` ride along as columns (TRL passes them to rewards)."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["question"]}],
                "answer": str(r["answer"]),
                "data_source": r.get("data_source") or "",
            }
            for r in rows
        ]
    )


def make_trainer(
    *,
    url: str,
    model: str,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]] | None = None,
    group: int = 4,
    steps: int = 4,
    questions_per_step: int = 1,
    max_new_tokens: int = 256,
    lr: float = 1e-6,
    temperature: float = 0.7,
    mode: str = "reagent_u",
    eval_mode: str = "plain",
    judge_temperature: float = 0.0,
    use_vllm: bool = False,
    seed: int = 0,
    output_dir: str = "reagent-u-out",
    trainer_cls: Any = None,
    callbacks: list[Any] | None = None,
) -> tuple[Any, ReagentURollout]:
    """A GRPOTrainer whose rollouts are Reagent-U groups of 2·`group` samples (`mode="reagent_c"`: `group`
    refined samples) per question, `questions_per_step` questions per step and device."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(model)
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16 if cuda else torch.float32)
    # The demo judge at temperature 0 gives every item the same judgment; a sampled judge (seeded) varies.
    judge_options = {"temperature": judge_temperature, "seed": seed} if judge_temperature else None
    rollout = ReagentURollout(url, mode=mode, eval_mode=eval_mode, judge_options=judge_options)  # type: ignore[arg-type]
    per_question = 2 * group if mode == "reagent_u" else group
    config = GRPOConfig(
        output_dir=output_dir,
        use_cpu=not cuda,
        bf16=cuda,
        use_vllm=use_vllm,
        vllm_mode="colocate",
        max_steps=steps,
        per_device_train_batch_size=per_question * questions_per_step,
        per_device_eval_batch_size=group * questions_per_step,
        num_generations=per_question,  # the pool: G first attempts + G refinements
        num_generations_eval=group,
        max_completion_length=max_new_tokens,
        temperature=temperature,
        top_p=0.95,
        learning_rate=lr,
        beta=0.0,
        loss_type="grpo",  # average over the 2G samples, each over its own tokens
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
    )
    trainer = (trainer_cls or GRPOTrainer)(
        model=policy,
        processing_class=tokenizer,
        reward_funcs=[rollout.reward],
        rollout_func=rollout,
        args=config,
        train_dataset=chat_dataset(rows),
        eval_dataset=chat_dataset(eval_rows) if eval_rows else None,
        callbacks=callbacks,
    )
    return trainer, rollout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("RRM_JUDGE_URL"), help="judge URL (or $RRM_JUDGE_URL)")
    parser.add_argument("--model", required=True, help="policy: a Hugging Face model id or a local folder")
    parser.add_argument("--data", type=Path, help="JSON lines of {question, answer, data_source?}")
    parser.add_argument("--group", type=int, default=4, help="G: first attempts per question (the pool is 2G)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--temperature", type=float, default=0.7, help="policy sampling temperature (paper: 0.7)")
    parser.add_argument("--mode", choices=["reagent_u", "reagent_c"], default="reagent_u")
    parser.add_argument("--eval-mode", choices=["plain", "reagent_c"], default="plain")
    parser.add_argument("--judge-temperature", type=float, default=0.0, help="judge sampling (paper: 0)")
    parser.add_argument("--use-vllm", action="store_true", help="generate with vLLM (colocated; GPU hosts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="reagent-u-out")
    args = parser.parse_args()
    if not args.url:
        parser.error("--url (or RRM_JUDGE_URL) is required")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental in TRL
    if args.data:
        rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    else:
        rows = arithmetic_rows(4 * args.steps, args.seed)
    eval_rows = rows[: max(1, len(rows) // 10)]

    from transformers import TrainerCallback

    keys = ("reward", "reagent_u/first/reward", "reagent_u/refined/reward", "reagent_u/judge_failure_rate")

    class PrintSteps(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            for prefix in ("", "eval_"):
                if logs and prefix + "reward" in logs:
                    row = {k: logs.get(prefix + k) for k in keys}
                    print(json.dumps({"step": state.global_step, "eval": bool(prefix), **row}), flush=True)

    trainer, _ = make_trainer(
        url=args.url,
        model=args.model,
        rows=rows,
        eval_rows=eval_rows,
        group=args.group,
        steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        lr=args.lr,
        temperature=args.temperature,
        mode=args.mode,
        eval_mode=args.eval_mode,
        judge_temperature=args.judge_temperature,
        use_vllm=args.use_vllm,
        seed=args.seed,
        output_dir=args.output_dir,
        callbacks=[PrintSteps()],
    )
    before = {name: p.detach().float().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    trainer.evaluate()
    change = sum(float((p.detach().float() - before[n]).pow(2).sum()) for n, p in trainer.model.named_parameters())
    print(f"PARAM_CHANGE {change**0.5:.6g}", flush=True)


if __name__ == "__main__":
    main()

"""Run by test_conformance_verl.py, with verl 0.9.1 first on sys.path: verl's own reward-function loading
(`verl.trainer.ppo.reward.load_reward_manager`) and its default reward manager (`naive`), configured with verl's own
full default config plus the overrides our docs give, score a batch through our verl adapter.

argv: overrides (JSON list), tokenizer folder, batch (JSON: [[response, ground_truth], ...]). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any


def main() -> None:
    overrides, tokenizer_dir, batch = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    import verl

    # `verl.experimental.reward_loop/__init__.py` imports the Ray reward-loop actors and LLM-server managers; only its
    # `reward_manager` subpackage is on the path under test, so the package is entered without running that file.
    root = Path(verl.__file__).parent
    package = types.ModuleType("verl.experimental.reward_loop")
    package.__path__ = [str(root / "experimental" / "reward_loop")]
    sys.modules["verl.experimental.reward_loop"] = package

    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl import DataProto
    from verl.trainer.ppo.reward import load_reward_manager

    config = OmegaConf.merge(
        OmegaConf.load(root / "trainer" / "config" / "_generated_ppo_trainer.yaml"), OmegaConf.from_dotlist(overrides)
    )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    manager = load_reward_manager(config, tokenizer)
    uses_ours = getattr(getattr(manager.compute_score, "args", [None])[0], "__module__", "")

    question = "What is 2+2?"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=True, add_generation_prompt=True, return_dict=False
    )
    responses = [tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"] for text, _ in batch]
    width = max(len(r) for r in responses)
    pad = tokenizer.pad_token_id or 0
    data = DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt] * len(batch)),
            "responses": torch.tensor([r + [pad] * (width - len(r)) for r in responses]),
            "attention_mask": torch.tensor(
                [[1] * len(prompt) + [1] * len(r) + [0] * (width - len(r)) for r in responses]
            ),
        },
        non_tensors={
            "data_source": np.array(["openai/gsm8k"] * len(batch), dtype=object),
            "reward_model": np.array([{"ground_truth": truth} for _, truth in batch], dtype=object),
            "extra_info": np.array([{"question": question} for _ in batch], dtype=object),
        },
    )
    outputs: list[dict[str, Any]] = []
    errors: list[str | None] = []
    for i in range(len(batch)):
        try:
            outputs.append(manager.loop.run_until_complete(manager.run_single(data[i : i + 1])))
            errors.append(None)
        except Exception as exc:  # what verl would see: the exception, its message
            outputs.append({"reward_score": None, "reward_extra_info": {}})
            errors.append(f"{type(exc).__name__}: {exc}")
    scored = [o for o in outputs if o["reward_score"] is not None]
    extras: dict[str, list[Any]] = {}
    if scored:
        # What RewardLoopManager.compute_rm_score does next: one tensor of scores, extra keys from the first sample.
        keys = list(scored[0]["reward_extra_info"])
        extras = {k: np.array([o["reward_extra_info"][k] for o in scored]).tolist() for k in keys}
        data_ok = data[[i for i, e in enumerate(errors) if e is None]]
        rm = type(manager).assemble_rm_scores(data_ok, [o["reward_score"] for o in scored])
        extras["rm_scores_row_sums"] = rm.sum(dim=1).tolist()
    from trainer_client.adapters import verl as adapter

    in_flight = adapter._default._scorer.client.max_concurrency if adapter._default._scorer else None
    print(
        json.dumps(
            {
                "verl": verl.__version__,
                "judge_in_flight": in_flight,
                "manager": type(manager).__name__,
                "compute_score_module": uses_ours,
                "scores": [o["reward_score"] for o in outputs],
                "errors": errors,
                "extras": extras,
            }
        )
    )


if __name__ == "__main__":
    main()

"""A real (tiny) policy for the examples and integration tests: `transformers` generate() on a local chat model.

It has the batch shape `trainer_client` expects of a policy: `policy(contexts) -> completions`, where each context
is a list of `{"role", "content"}` messages. With the project's demo model (random weights, ~234k parameters) the
text is meaningless, but every step is the real thing: chat template, sampling, decoding.

Needs torch and transformers (`pip install ./trainer_client[examples]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TransformersPolicy:
    """Sample one completion per chat context with a causal LM.

    Args:
        model_dir: A folder with the model, its tokenizer and chat template.
        max_new_tokens: Length cap of each completion.
        temperature: Sampling temperature (the paper's rollouts: 0.7; top-p 0.95).
        seed: Seed of the sampler, for repeatable runs.
    """

    def __init__(
        self, model_dir: str | Path, *, max_new_tokens: int = 24, temperature: float = 0.7, seed: int = 0
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.tokenizer.padding_side = "left"  # decoder-only models generate after the prompt's last token
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.generator_seed = seed

    def __call__(self, contexts: list[list[dict[str, Any]]]) -> list[str]:
        torch = self._torch
        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in contexts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(self.generator_seed)
        self.generator_seed += 1
        with torch.no_grad():
            out = self.model.generate(
                **batch,
                max_new_tokens=self.max_new_tokens,
                do_sample=True,
                temperature=self.temperature,
                top_p=0.95,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in new_tokens]

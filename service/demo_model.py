"""The tiny offline demo model: a random-weight Qwen3 with a small BPE tokenizer, built locally in seconds.

It exists so that the service, its tests and its benchmarks run the real vLLM engine on machines with no GPU and no
model hub. Its text is meaningless; it exercises structure, parsing, batching, errors and speed, never judgment
quality. Like Qwen3, it has `<think>`/`</think>` (and the other judge tags) as added tokens that are not special,
so they survive detokenisation.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["DEMO_VERSION", "build_demo_model", "demo_model_dir"]

log = logging.getLogger(__name__)

DEMO_VERSION = "v2"  # v2: 40,960 positions (Qwen3-8B's), so long-context runs fit
_VOCAB_SIZE = 2048
# Qwen3-8B's max_position_embeddings: the demo engine accepts any context a user runs the real model with.
_MAX_POSITIONS = 40960
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_JUDGE_TAGS = ["<think>", "</think>", "<critique>", "</critique>", "<score>", "</score>"]
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def demo_model_dir(cache_dir: Path) -> Path:
    return cache_dir / f"demo-model-{DEMO_VERSION}"


def _training_text() -> list[str]:
    """Local text to learn a vocabulary from: the standard library's sources, in a fixed order."""
    stdlib = Path(os.__file__).parent
    files = sorted(p for p in stdlib.glob("*.py"))[:120]
    return [p.read_text("utf-8", errors="replace") for p in files]


def build_demo_model(cache_dir: Path) -> Path:
    """Build the demo model into `cache_dir` unless it is already there; return its folder.

    Safe against concurrent builders: the model is written to a temporary folder and renamed into place.
    """
    target = demo_model_dir(cache_dir)
    if (target / "config.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("building the demo model into %s", target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".building-") as tmp:
        work = Path(tmp) / "model"
        _write_tokenizer(work)
        _write_model(work)
        try:
            work.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    return target


def _write_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    fast.add_tokens(_JUDGE_TAGS, special_tokens=False)
    fast.chat_template = _CHAT_TEMPLATE
    fast.model_max_length = _MAX_POSITIONS
    fast.save_pretrained(folder)


def _write_model(folder: Path) -> None:
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab = ((len(tokenizer) + 63) // 64) * 64
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # vLLM's CPU attention accepts only some head sizes (32, 64, 80, …)
        max_position_embeddings=_MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, do_sample=False
    ).save_pretrained(folder)
    (folder / "DEMO_MODEL.json").write_text(
        json.dumps({"demo": True, "version": DEMO_VERSION, "note": "random weights: the text is meaningless"})
    )


if __name__ == "__main__":  # python -m service.demo_model [CACHE_DIR]
    logging.basicConfig(level=logging.INFO)
    from service.settings import Settings

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Settings().cache_dir
    print(build_demo_model(folder))

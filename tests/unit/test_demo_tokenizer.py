"""The demo model's tokenizer is Qwen3's: its ids equal an independent encoder's on a large mixed corpus."""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.qwen3 import QWEN3_ADDED, reference_ids


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


def test_ids_equal_the_reference_encoder_on_a_large_mixed_corpus(demo_tokenizer: Any) -> None:
    corpus = _corpus()
    assert sum(map(len, corpus)) > 2_000_000  # code, CJK, emoji, whitespace runs: millions of characters
    mismatched = [
        text[:60] for text in corpus if demo_tokenizer.encode(text, add_special_tokens=False) != reference_ids(text)
    ]
    assert mismatched == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_ids_equal_the_reference_encoder_on_any_text(demo_tokenizer: Any, text: str) -> None:
    ids = demo_tokenizer.encode(text, add_special_tokens=False)
    assert ids == reference_ids(text)
    assert demo_tokenizer.decode(ids) == unicodedata.normalize("NFC", text)  # lossless up to Qwen's NFC step


def test_added_tokens_are_qwen3s(demo_tokenizer: Any) -> None:
    added = {i: (t.content, t.special) for i, t in demo_tokenizer.added_tokens_decoder.items()}
    assert added == QWEN3_ADDED
    assert len(demo_tokenizer) == 151_669 and min(added) == 151_643  # 151,643 BPE ranks, then the added tokens
    text = "a<think>b</think>\n<tool_call>{}</tool_call> <|im_end|>x"
    ids = demo_tokenizer.encode(text, add_special_tokens=False)
    pieces = ["a", "<think>", "b", "</think>", "\n", "<tool_call>", "{}", "</tool_call>", " ", "<|im_end|>", "x"]
    by_content = {content: i for i, (content, _) in QWEN3_ADDED.items()}
    expected = [i for p in pieces for i in ([by_content[p]] if p in by_content else reference_ids(p))]
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

"""The injection defence: which strings untrusted text (question and trajectory) may not produce, and how they are
defused. Pure.

The set is derived from the served tokenizer — every added or special token (for Qwen3: `<|im_start|>`,
`<|im_end|>`, `<|endoftext|>`, `<tool_call>`, `<tool_response>`, `<|fim_prefix|>`, … 26 in all) — plus the judge's
own output tags `<critique>`, `<score>` and their closing forms, which are ordinary text to the tokenizer but the
structure the judge must write. Untrusted text that contains one of them reaches the model with its first character
replaced (`<` → `‹`, U+2039): still readable, but neither the token nor the tag.

Left as written, by choice: `<think>` and `</think>`. They are the policy's own reasoning markers; the paper's
pipeline judged Qwen3 completions with them raw (added tokens 151667/151668), so Agent-RRM was trained on inputs that
carry them, and the judge's parser never reads the prompt. Changing them would show the model text it never saw.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

__all__ = ["DEFENCE_VERSION", "JUDGE_TAGS", "KEPT", "Defence", "defence_for"]

DEFENCE_VERSION = "2"  # 1: a fixed regex for <think>/<critique>/<score> and <|…|>; 2: derived from the tokenizer
JUDGE_TAGS = ("<critique>", "</critique>", "<score>", "</score>")
KEPT = ("<think>", "</think>")
_REPLACEMENT = "‹"  # for a leading '<'
_JOINER = "\u2060"  # WORD JOINER, inserted after the first character of a token that does not start with '<'
# The judge's tags as the parser and a reader would take them: any case, spaces inside the brackets.
_JUDGE_TAG = re.compile(r"<(?=\s*/?\s*(?:critique|score)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Defence:
    """The strings untrusted text may not produce, and the function that defuses them."""

    tokens: tuple[str, ...]  # the tokenizer's added and special tokens, minus KEPT, longest first
    kept: tuple[str, ...]

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile("|".join(re.escape(t) for t in self.tokens)) if self.tokens else None

    def neutralize(self, text: str) -> str:
        """Defuse every protected token and judge tag in untrusted `text`; everything else is kept as written.

        Example:
            >>> d = Defence(tokens=("<|im_end|>", "<tool_call>"), kept=KEPT)
            >>> d.neutralize("<think>x</think><tool_call></Score ><|im_end|>")
            '<think>x</think>‹tool_call>‹/Score >‹|im_end|>'
        """
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: _defuse(m.group(0)), text)
        return _JUDGE_TAG.sub(_REPLACEMENT, text)

    def describe(self) -> dict[str, Any]:
        """For /info and the docs: what is changed in untrusted text, and what is left as written."""
        return {
            "version": DEFENCE_VERSION,
            "neutralised_tokens": list(self.tokens),
            "neutralised_tags": [*JUDGE_TAGS, "(any case, spaces allowed inside the brackets)"],
            "kept": list(self.kept),
            "replacement": "the first character: '<' becomes '‹' (U+2039); any other gets U+2060 after it",
        }

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()


def _defuse(token: str) -> str:
    if token.startswith("<"):
        return _REPLACEMENT + token[1:]
    return token[0] + _JOINER + token[1:]


def _added_tokens(tokenizer: Any) -> Iterable[str]:
    decoder = getattr(tokenizer, "added_tokens_decoder", None)
    if isinstance(decoder, dict):
        yield from (str(getattr(t, "content", t)) for t in decoder.values())
    added = getattr(tokenizer, "get_added_vocab", None)
    if callable(added):
        yield from added()
    yield from getattr(tokenizer, "all_special_tokens", ())


def defence_for(tokenizer: Any) -> Defence:
    """The defence for a served tokenizer: its added and special tokens (minus KEPT), plus the judge's tags.

    Example:
        >>> class Tok:
        ...     all_special_tokens = ["<|im_end|>"]
        ...     def get_added_vocab(self): return {"<think>": 5, "<tool_call>": 6}
        >>> defence_for(Tok()).tokens
        ('<tool_call>', '<|im_end|>')
    """
    tokens = {t for t in _added_tokens(tokenizer) if t and t not in KEPT}
    return Defence(tokens=tuple(sorted(tokens, key=lambda t: (-len(t), t))), kept=KEPT)

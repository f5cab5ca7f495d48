"""Recovering the question and the response from what frameworks send: chat-templated strings with special
tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["question_from_prompt", "response_from_query", "strip_special_tokens"]

# Turn markers of common chat templates (ChatML / Qwen, Llama 3, Gemma, Mistral) and end-of-text tokens.
_SPECIAL = re.compile(
    r"<\|im_start\|>(?:system|user|assistant|tool)?\n?|<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|end_of_text\|>"
    r"|<\|begin_of_text\|>|<\|start_header_id\|>\w+<\|end_header_id\|>\n*|<start_of_turn>(?:user|model)?\n?"
    r"|<end_of_turn>|</?s>|\[/?INST\]|<pad>"
)
_USER_TURNS = (
    re.compile(r"<\|im_start\|>user\n(.*?)(?:<\|im_end\|>|$)", re.S),
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n*(.*?)(?:<\|eot_id\|>|$)", re.S),
    re.compile(r"<start_of_turn>user\n(.*?)(?:<end_of_turn>|$)", re.S),
    re.compile(r"\[INST\](.*?)\[/INST\]", re.S),
)


def strip_special_tokens(text: str) -> str:
    """Remove chat-template markers and end-of-text tokens; trim.

    Example:
        >>> strip_special_tokens("The answer is 4.<|im_end|><|endoftext|>")
        'The answer is 4.'
    """
    return _SPECIAL.sub("", text).strip()


def question_from_prompt(prompt: str | Sequence[Mapping[str, Any]]) -> str:
    """The question: the last user turn of a chat prompt (messages or a templated string), else the whole
    prompt.

    Args:
        prompt: Chat messages (`[{"role", "content"}]`) or the prompt string as the policy saw it.

    Returns:
        The question text, without template markers.

    Example:
        >>> chatml = "<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nWhat is 2+2?<|im_end|>\\n"
        >>> question_from_prompt(chatml)
        'What is 2+2?'
        >>> question_from_prompt([{"role": "user", "content": "Capital of France?"}])
        'Capital of France?'
    """
    if not isinstance(prompt, str):
        users = [m for m in prompt if m.get("role") == "user"]
        chosen = users[-1] if users else (prompt[-1] if prompt else {})
        content = chosen.get("content") or ""
        if not isinstance(content, str):
            content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return content.strip()
    for pattern in _USER_TURNS:
        turns = pattern.findall(prompt)
        if turns:
            return strip_special_tokens(turns[-1])
    return strip_special_tokens(prompt)


def response_from_query(query: str, prompt: str) -> str:
    """OpenRLHF sends `query` = prompt + response; take the response part (special tokens removed).

    Example:
        >>> response_from_query("<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\nA<|im_end|>",
        ...                     "<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\n")
        'A'
    """
    if prompt and query.startswith(prompt):
        return strip_special_tokens(query[len(prompt) :])
    # Decoding can differ in whitespace at the seam; fall back to the text after the last assistant marker.
    marker = max(query.rfind("<|im_start|>assistant"), query.rfind("<|start_header_id|>assistant"))
    return strip_special_tokens(query[marker:] if marker >= 0 else query)

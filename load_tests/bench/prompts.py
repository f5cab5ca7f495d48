"""The service's prompts, rendered outside the service: token ids for the engine ceiling, chat messages for the
paper's way.

Both come from the service's own `build_prompts` (template, rendering, neutralising, truncation), so the three ways
judge byte-identical prompts. The chat messages are recovered from the token ids — the system message is the
template, the user message is what lies between the chat template's frame — and checked: applying the chat
template to them and tokenising gives the very same ids, which is what vLLM's OpenAI server does with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from load_tests.workload import Item
from service.protocol import JudgeItem
from service.rendering import PromptTemplate, PromptTooLong
from service.truncation import build_prompts

__all__ = ["RenderedItem", "chat_ids", "render_items"]

_SENTINEL = "\x00USER-MESSAGE\x00"


@dataclass(frozen=True)
class RenderedItem:
    """One item as every way sees it."""

    token_ids: list[int]
    messages: list[dict[str, str]]  # [system, user], for /v1/chat/completions
    truncated: bool


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a chat as the service and vLLM's chat endpoint build them (template, then no special tokens)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids: list[int] = tokenizer.encode(str(text), add_special_tokens=False)
    return ids


def _frame(tokenizer: Any, template: PromptTemplate) -> tuple[str, str]:
    messages = [{"role": "system", "content": template.system}, {"role": "user", "content": _SENTINEL}]
    text = str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    head, sentinel, tail = text.partition(_SENTINEL)
    if not sentinel:
        raise ValueError("the chat template does not carry the user message through verbatim")
    return head, tail


def render_items(tokenizer: Any, template: PromptTemplate, items: Sequence[Item], budget: int) -> list[RenderedItem]:
    """Render items as the service does, for the ceiling (token ids) and for the paper's way (chat messages).

    Args:
        tokenizer: The served model's Hugging Face tokenizer.
        template: The service's template (`service.rendering.prompt_template(...)`, bound to `tokenizer`).
        items: Judge items as sent on the wire.
        budget: Prompt tokens an item may take (context minus max_tokens), as in the service.

    Returns:
        One `RenderedItem` per item, in order.

    Raises:
        ValueError: The messages recovered for an item do not re-tokenise to the service's ids.
    """
    head, tail = _frame(tokenizer, template)
    rendered: list[RenderedItem] = []
    built = build_prompts(tokenizer, template, [JudgeItem.model_validate(item) for item in items], budget)
    for item, prompt in zip(items, built, strict=True):
        if isinstance(prompt, PromptTooLong):
            raise ValueError(f"item {item.get('id')}: {prompt}")
        text = tokenizer.decode(prompt.token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if not (text.startswith(head) and text.endswith(tail)):
            raise ValueError(f"item {item.get('id')}: the prompt does not decode to the chat template's frame")
        user = text[len(head) : len(text) - len(tail)]
        messages = [{"role": "system", "content": template.system}, {"role": "user", "content": user}]
        if chat_ids(tokenizer, messages) != prompt.token_ids:
            raise ValueError(f"item {item.get('id')}: its chat messages do not re-tokenise to the service's prompt")
        rendered.append(RenderedItem(prompt.token_ids, messages, prompt.truncated))
    return rendered

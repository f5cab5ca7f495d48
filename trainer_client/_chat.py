"""Completions and chat messages as RL frameworks hand them over, and how they become judge items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._types import JudgeItem, Message

__all__ = ["ChatMessage", "Completion", "judge_item", "to_messages"]

ChatMessage = dict[str, Any]
# A policy's output: plain text, or chat messages (an agent trajectory with tool calls and tool results).
Completion = str | Sequence[Mapping[str, Any]]

_ROLES = {"system", "user", "assistant", "tool"}
_KEYS = ("content", "reasoning_content", "tool_calls", "tool_call_id", "name")


def _to_message(raw: Mapping[str, Any]) -> Message:
    role = str(raw.get("role", "assistant"))
    role = role if role in _ROLES else ("system" if role == "developer" else "assistant")
    fields = {k: raw[k] for k in _KEYS if raw.get(k) is not None}
    content = fields.get("content")
    if content is not None and not isinstance(content, str):
        # Content-part lists (`[{"type": "text", "text": ...}]`) are flattened to their text.
        fields["content"] = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return Message.model_validate({"role": role, **fields})


def to_messages(completion: Completion) -> list[Message]:
    """A completion as trajectory messages: text becomes one assistant turn; chat messages keep their roles.

    Example:
        >>> [m.role for m in to_messages("42")]
        ['assistant']
    """
    if isinstance(completion, str):
        return [Message(role="assistant", content=completion)]
    return [_to_message(m) for m in completion]


def judge_item(question: str, completion: Completion, *, item_id: str | None = None) -> JudgeItem:
    """The judge item for one (question, completion) pair.

    Args:
        question: The task as the policy saw it (not the ground truth: the judge never sees that).
        completion: The policy's output.
        item_id: Optional id, echoed in the judgment.

    Returns:
        A `JudgeItem` with `messages`.

    Example:
        >>> judge_item("2+2?", "4").messages[0].content
        '4'
    """
    if not question or not question.strip():
        # One empty question would make the service refuse the whole request it travels in.
        raise ValueError("a judge item needs a non-empty question")
    return JudgeItem(id=item_id, question=question, messages=to_messages(completion))

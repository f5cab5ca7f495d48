"""Checks on items that the schema cannot express: what makes an item impossible to judge (its judgment fails
with reason `invalid_item`, or the request is 400 naming it when the caller asks for that)."""

from __future__ import annotations

from typing import Any

from service.protocol import JudgeItem

__all__ = ["item_problems"]


def item_problems(items: list[JudgeItem], max_item_chars: int) -> list[dict[str, Any]]:
    """One entry (index, id, problem) per item that cannot be judged; empty when all can.

    Example:
        >>> item_problems([JudgeItem(question=" ", trajectory="t")], 1000)
        [{'index': 0, 'id': None, 'problem': 'empty question'}]
    """
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        problem = _problem(item, max_item_chars)
        if problem:
            problems.append({"index": index, "id": item.id, "problem": problem})
    return problems


def _problem(item: JudgeItem, max_item_chars: int) -> str | None:
    if not item.question.strip():
        return "empty question"
    if item.messages is not None and not item.messages:
        return "empty trajectory (no messages)"
    if item.trajectory is not None and not item.trajectory.strip():
        return "empty trajectory"
    if _item_chars(item) > max_item_chars:
        return f"item larger than {max_item_chars} characters"
    return None


def _item_chars(item: JudgeItem) -> int:
    if item.trajectory is not None:
        return len(item.question) + len(item.trajectory)
    total = len(item.question)
    for message in item.messages or ():
        total += len(message.content or "") + len(message.reasoning_content or "")
        for call in message.tool_calls or ():
            arguments = call.function.arguments
            total += len(call.function.name) + len(arguments if isinstance(arguments, str) else str(arguments))
    return total

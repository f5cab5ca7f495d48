"""One synthetic agent attempt: a question and an OpenAI-style trajectory that spends a length budget.

Length is counted in *approximate tokens*: characters / 4 (`CHARS_PER_TOKEN`), over every text field a judge
would read — the question, each message's `content` and `reasoning_content`, each tool call's name and JSON
arguments and each tool result's name. JSON punctuation, roles and ids are not counted. Four characters per
token is the usual rule of thumb for English with BPE tokenizers; code, numbers and URLs tokenize denser, so
real token counts of this text run somewhat higher (measure with the served tokenizer when it matters).

A trajectory is: k assistant turns, each a thought (in `reasoning_content` or in `content`) plus one tool call
with JSON arguments, each answered by a tool message; then a final assistant turn whose content ends in
`\\boxed{answer}`. The tool outputs take whatever budget the thoughts and calls leave, split with log-normal
weights, so their lengths differ a lot (a two-line python print next to a long web page), as in real agent
traffic.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from load_tests import text

__all__ = [
    "CHARS_PER_TOKEN",
    "TOOLS",
    "LengthDist",
    "Question",
    "Shape",
    "build_messages",
    "item_chars",
    "make_question",
]

CHARS_PER_TOKEN = 4
TOOLS = ("web_search", "browse", "python", "read_file", "list_dir")
_MIN_OUTPUT_CHARS = 24
_MIN_THOUGHT_CHARS = 20

Message = dict[str, Any]


@dataclass(frozen=True)
class LengthDist:
    """A log-normal length in approximate tokens around `median`, clipped to [`low`, `high`]."""

    median: int
    low: int
    high: int
    sigma: float = 0.3

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.median <= self.high or self.sigma < 0:
            raise ValueError(f"need 1 <= low <= median <= high and sigma >= 0, got {self}")

    def sample(self, rng: random.Random) -> int:
        """Draw one length (tokens) from the distribution."""
        return int(min(self.high, max(self.low, rng.lognormvariate(math.log(self.median), self.sigma))))


@dataclass(frozen=True)
class Shape:
    """What trajectories of one kind look like.

    Attributes:
        tokens: Length of a whole item (question + trajectory), in approximate tokens.
        tool_calls: Inclusive range of the number of tool calls.
        thought_chars: Inclusive range of a thought's length in characters (shrunk when the budget is tight).
        output_sigma: Spread of tool-output lengths (sigma of their log-normal weights): 0 gives equal
            lengths.
        reasoning_share: Share of turns whose thought is in `reasoning_content` rather than `content`.
        tool_weights: Relative frequency of each tool in `TOOLS`, in that order.
    """

    tokens: LengthDist
    tool_calls: tuple[int, int]
    thought_chars: tuple[int, int] = (80, 600)
    output_sigma: float = 1.0
    reasoning_share: float = 0.5
    tool_weights: tuple[float, ...] = (3.0, 3.0, 2.0, 1.0, 0.5)


@dataclass(frozen=True)
class Question:
    """A task, the name the agent's thoughts revolve around, and candidate final answers (first: right)."""

    text: str
    subject: str
    answers: tuple[str, ...]


def make_question(rng: random.Random) -> Question:
    """Make a GAIA/QA-like question with a few plausible answers.

    Args:
        rng: The random source.

    Returns:
        The question; `answers[0]` is the "right" one, the rest are wrong answers that attempts may give.

    Example:
        >>> q = make_question(random.Random(0))
        >>> len(q.answers) >= 2 and q.text.endswith(("?", "."))
        True
    """
    name, year = text.entity(rng), rng.randint(1850, 2023)
    noun, other = rng.sample(("population", "budget", "archive", "railway", "census", "harbor", "orbit"), 2)
    templates = (
        f"What was the {noun} of {name} in {year}, according to the official {other} records? Give a number.",
        f"Which {noun} did {name} describe in the {year} report '{text.title(rng)}'? Answer with its name.",
        f"How many rows of data/{other}_{year}.csv have a {noun} value above {rng.randint(10, 900)}?",
        f"According to {text.url(rng)}, in which year was the {noun} of {name} first recorded?",
        f"Compute the mean {noun} across the {other} table on the {name} page, rounded to two decimals.",
    )
    kind = rng.randrange(len(templates))
    if kind == 1:
        answers = tuple(text.entity(rng) for _ in range(rng.randint(2, 4)))
    elif kind == 4:
        answers = tuple(f"{rng.uniform(1, 5000):.2f}" for _ in range(rng.randint(2, 4)))
    else:
        answers = tuple(str(v) for v in rng.sample(range(1, 10**6 if kind != 3 else 2024), rng.randint(2, 4)))
    return Question(text=templates[kind], subject=name, answers=answers)


def item_chars(item: dict[str, Any]) -> int:
    """Characters a judge reads in one item: the question plus every text field of its trajectory.

    Args:
        item: A judge item (`question` and `messages`, or `question` and `trajectory`).

    Returns:
        The character count; divide by `CHARS_PER_TOKEN` for approximate tokens.

    Example:
        >>> item_chars({"question": "abcd", "messages": [{"role": "tool", "name": "ls", "content": "x"}]})
        7
    """
    total = len(item["question"]) + len(item.get("trajectory") or "")
    for msg in item.get("messages") or []:
        total += len(msg.get("content") or "") + len(msg.get("reasoning_content") or "") + len(msg.get("name") or "")
        for call in msg.get("tool_calls") or []:
            total += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return total


def _arguments(rng: random.Random, tool: str, subject: str) -> dict[str, Any]:
    if tool == "web_search":
        return {
            "query": f"{subject} {text.sentence(rng)[:60].rstrip('.')}",
            "max_results": rng.choice((5, 8, 10)),
        }
    if tool == "browse":
        return {"url": text.url(rng)}
    if tool == "python":
        return {"code": text.code_snippet(rng, rng.randint(2, 18))}
    if tool == "read_file":
        return {"path": f"data/{subject.lower()}_{rng.randint(1, 99)}.{rng.choice(('csv', 'txt', 'json'))}"}
    return {"path": rng.choice(("data/", "./", "outputs/", f"data/{subject.lower()}/"))}


def _tool_output(rng: random.Random, tool: str, args: dict[str, Any], n_chars: int) -> str:
    if tool == "web_search":
        return text.search_results_text(rng, n_chars, args["query"])
    if tool == "browse":
        return text.web_page_text(rng, n_chars, args["url"])
    if tool == "python":
        return text.python_output_text(rng, n_chars)
    return text.file_listing_text(rng, n_chars)


def _assistant(rng: random.Random, thought: str, share: float) -> Message:
    if rng.random() < share:
        return {"role": "assistant", "content": None, "reasoning_content": thought}
    return {"role": "assistant", "content": thought}


def build_messages(rng: random.Random, question: Question, answer: str, shape: Shape) -> list[Message]:
    """Build one trajectory whose item (question + messages) is about `shape.tokens` long.

    Args:
        rng: The random source (consumed; the same state gives the same trajectory).
        question: The task the agent works on.
        answer: What the final turn puts in `\\boxed{}`.
        shape: Length and tool-use shape.

    Returns:
        OpenAI-style messages: assistant turns with tool calls, tool results, and a final assistant answer.

    Example:
        >>> r = random.Random(0)
        >>> msgs = build_messages(r, make_question(r), "42", Shape(LengthDist(500, 400, 600), (1, 2)))
        >>> msgs[-1]["content"].endswith("\\\\boxed{42}.")
        True
    """
    target = shape.tokens.sample(rng) * CHARS_PER_TOKEN
    n_calls = rng.randint(*shape.tool_calls)
    tools = rng.choices(TOOLS, weights=shape.tool_weights, k=n_calls)
    args = [_arguments(rng, tool, question.subject) for tool in tools]
    thoughts = [rng.randint(*shape.thought_chars) for _ in range(n_calls + 1)]
    closing = f"{text.sentence(rng)} The answer is \\boxed{{{answer}}}."
    fixed = (
        len(question.text)
        + len(closing)
        + sum(len(t) * 2 + len(json.dumps(a)) for t, a in zip(tools, args, strict=True))
    )
    # Thoughts and calls may take at most ~half the budget, so tool outputs keep a realistic share of it.
    room = max(target // 2 - fixed, _MIN_THOUGHT_CHARS * len(thoughts))
    if sum(thoughts) > room:
        thoughts = [max(_MIN_THOUGHT_CHARS, t * room // sum(thoughts)) for t in thoughts]
    weights = [rng.lognormvariate(0.0, shape.output_sigma) for _ in range(n_calls)]
    left = max(target - fixed - sum(thoughts), _MIN_OUTPUT_CHARS * n_calls)
    outputs = [max(_MIN_OUTPUT_CHARS, round(left * w / sum(weights))) for w in weights]

    messages: list[Message] = []
    for i, (tool, arg, n_out) in enumerate(zip(tools, args, outputs, strict=True)):
        turn = _assistant(rng, text.thought_text(rng, thoughts[i], question.subject), shape.reasoning_share)
        call_id = f"call_{rng.getrandbits(48):012x}"
        turn["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(arg)}}
        ]
        result = {"role": "tool", "tool_call_id": call_id, "name": tool}
        messages += [turn, {**result, "content": _tool_output(rng, tool, arg, n_out)}]
    final = _assistant(rng, text.thought_text(rng, thoughts[-1], question.subject), shape.reasoning_share)
    final["content"] = closing if final["content"] is None else f"{final['content']}\n\n{closing}"
    return [*messages, final]

r"""Rule rewards R_rule(q, o) as in the Reagent paper's code.

The answer is read from the last `\boxed{...}` of the completion, then compared with the ground truth by kind:

- math: 1 if equivalent, else 0 — equivalence decided by `math-verify` (not a hand-written grader);
- text: 1 on exact match after normalisation, else token-F1 if F1 ≥ 0.3, else 0;
- yes/no (and true/false): 1 if the gold word is contained in the answer, else 0.

`kind="auto"` picks by the ground truth: yes/no/true/false → yes/no; a number or LaTeX expression → math;
anything else → text. Several ground truths (aliases) → the best of them.
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import math_verify

__all__ = [
    "F1_THRESHOLD",
    "AnswerKind",
    "answer_kind",
    "completion_text",
    "extract_boxed",
    "math_reward",
    "normalize_answer",
    "rule_reward",
    "rule_rewards",
    "text_reward",
    "token_f1",
    "yes_no_reward",
]

AnswerKind = Literal["auto", "math", "text", "yes_no"]
F1_THRESHOLD = 0.3
_YES_NO = frozenset({"yes", "no", "true", "false"})
_MAX_MATH_CHARS = 500


class _NoTimeoutNotice(logging.Filter):
    # Off the main thread we call math-verify without its SIGALRM timeout and bound the input size instead
    # (`_MAX_MATH_CHARS`); its notice about that, printed from every thread, is noise in a trainer's log.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NoTimeoutNotice())
_MATH_WORDS = frozenset({"sin", "cos", "tan", "log", "ln", "exp", "sqrt", "pi", "inf", "infty", "frac", "dfrac"})


def completion_text(completion: str | Sequence[Any]) -> str:
    """Text of a completion: the string itself, or the last assistant message's content of a chat
    completion."""
    if isinstance(completion, str):
        return completion
    for message in reversed(completion):
        if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
            return str(message.get("content") or "")
    return ""


def extract_boxed(text: str) -> str | None:
    r"""Content of the last well-formed `\boxed{...}` (or `\fbox{...}`), nested braces allowed.

    Args:
        text: A completion.

    Returns:
        The content, stripped, or None when there is none.

    Example:
        >>> extract_boxed(r"so \boxed{1} then \boxed{\frac{1}{2}}")
        '\\frac{1}{2}'
    """
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i].strip()
    return None


def normalize_answer(text: str) -> str:
    r"""Lower-case; unwrap `\text{}`; drop punctuation, articles and extra spaces (SQuAD-style)."""
    text = re.sub(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}", r"\1", text).lower()
    text = "".join(ch if ch not in string.punctuation else " " for ch in text)
    return " ".join(w for w in text.split() if w not in {"a", "an", "the"})


def token_f1(prediction: str, gold: str) -> float:
    """Token-level F1 between two normalised answers (0 when either is empty)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def text_reward(answer: str, gold: str) -> float:
    """1.0 on normalised exact match, else token-F1 if F1 ≥ 0.3, else 0.0.

    Example:
        >>> text_reward("The Eiffel Tower", "eiffel tower")
        1.0
        >>> round(text_reward("tall Eiffel Tower in Paris", "Eiffel Tower"), 3)
        0.571
    """
    if normalize_answer(answer) == normalize_answer(gold):
        return 1.0
    f1 = token_f1(answer, gold)
    return f1 if f1 >= F1_THRESHOLD else 0.0


def yes_no_reward(answer: str, gold: str) -> float:
    """1.0 if the gold word (yes/no/true/false) is one of the answer's words, else 0.0.

    Containment is by whole word, not substring: "no" must not match "not" or "know".
    """
    return 1.0 if normalize_answer(gold) in normalize_answer(answer).split() else 0.0


def math_reward(answer: str, gold: str) -> float:
    r"""1.0 if `math-verify` finds the answer equivalent to the gold, else 0.0 (exact text match when either
    side does not parse as math).

    Example:
        >>> math_reward(r"\frac{1}{2}", "0.5"), math_reward("3", "4")
        (1.0, 0.0)
    """
    if len(answer) > _MAX_MATH_CHARS or len(gold) > _MAX_MATH_CHARS:
        # Off the main thread math-verify runs without a timeout: keep sympy away from pathological inputs.
        return 1.0 if normalize_answer(answer) == normalize_answer(gold) else 0.0
    # math-verify's timeouts use SIGALRM, which only the main thread may set (TRL runs async rewards
    # elsewhere).
    in_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if in_main else None
    parsed_gold = math_verify.parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
    parsed_answer = math_verify.parse(f"\\boxed{{{answer}}}", parsing_timeout=timeout)
    if not parsed_gold or not parsed_answer:
        return 1.0 if normalize_answer(answer) == normalize_answer(gold) and answer.strip() else 0.0
    return 1.0 if math_verify.verify(parsed_gold, parsed_answer, timeout_seconds=timeout) else 0.0


def answer_kind(gold: str) -> AnswerKind:
    """The comparison `kind="auto"` uses for this ground truth: "yes_no", "math" or "text".

    Example:
        >>> answer_kind("Yes"), answer_kind(r"\\frac{3}{4}"), answer_kind("42"), answer_kind("Marie Curie")
        ('yes_no', 'math', 'math', 'text')
    """
    if normalize_answer(gold) in _YES_NO:
        return "yes_no"
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", " ", gold))
    looks_math = bool(re.search(r"\d|\\[A-Za-z]+|[\^=+*/()]", gold)) or bool(re.fullmatch(r"\s*[A-Za-z]\s*", gold))
    if looks_math and all(w.lower() in _MATH_WORDS for w in words):
        # A lone letter is a multiple-choice option ("B"), not a variable.
        return "text" if re.fullmatch(r"\s*[A-Za-z]\s*", gold) else "math"
    return "text"


def _score(answer: str, gold: str, kind: AnswerKind) -> float:
    gold = extract_boxed(gold) or gold
    resolved = answer_kind(gold) if kind == "auto" else kind
    if resolved == "yes_no":
        return yes_no_reward(answer, gold)
    if resolved == "math":
        return math_reward(answer, gold)
    return text_reward(answer, gold)


def rule_reward(
    completion: str | Sequence[Any],
    ground_truth: str | Sequence[str],
    *,
    kind: AnswerKind = "auto",
    require_boxed: bool = True,
) -> float:
    r"""R_rule(q, o): the rule reward of one completion, in [0, 1].

    Args:
        completion: The policy's output (a string, or chat messages whose last assistant turn is read).
        ground_truth: The gold answer, or several accepted answers (the best match counts). A gold holding
            `\boxed{}` is unwrapped.
        kind: "auto", "math", "text" or "yes_no" (see the module docstring).
        require_boxed: Without `\boxed{}` the reward is 0 (the paper's rule); False compares the whole text
            instead.

    Returns:
        The reward.

    Example:
        >>> rule_reward(r"... so the answer is \boxed{\dfrac{1}{2}}", "0.5")
        1.0
        >>> rule_reward(r"\boxed{no}", "No"), rule_reward("no box", "No")
        (1.0, 0.0)
    """
    text = completion_text(completion)
    answer = extract_boxed(text)
    if answer is None:
        if require_boxed:
            return 0.0
        answer = text
    golds = [ground_truth] if isinstance(ground_truth, str) else list(ground_truth)
    return max((_score(answer, str(g), kind) for g in golds), default=0.0)


def rule_rewards(
    completions: Sequence[str | Sequence[Any]],
    ground_truths: Sequence[str | Sequence[str]],
    *,
    kind: AnswerKind = "auto",
    require_boxed: bool = True,
) -> list[float]:
    """Batch form of `rule_reward`.

    Example:
        >>> rule_rewards([r"\\boxed{4}", r"\\boxed{5}"], ["4", "4"])
        [1.0, 0.0]
    """
    if len(completions) != len(ground_truths):
        raise ValueError(f"{len(completions)} completions but {len(ground_truths)} ground truths")
    return [
        rule_reward(c, g, kind=kind, require_boxed=require_boxed)
        for c, g in zip(completions, ground_truths, strict=True)
    ]

r"""Rule rewards R_rule(q, o): is the policy's final answer the gold answer?

What the Reagent paper's released trainer does (`rllm/rewards/*.py` of GitHub kxfan2002/Reagent at commit
c106530, `adaptive_reward_fn`), and where this module follows it:

- **Thoughts are not the answer.** The paper's math grader reads only what follows `</think>`; its text grader
  deletes `<think>…</think>` blocks first. Here the answer is read from the text after the last `</think>`,
  and an unclosed `<think>` starts thoughts that run to the end (see `outside_thoughts`).
- **The kind is chosen per item**: a yes/no or true/false gold is graded by containment; otherwise the item's
  dataset source decides (`"math"` → math; `"search"`, or a name containing `"qa"` → text); only when the
  source says nothing does the gold decide (`answer_kind`). verl hands over a `data_source` per sample; the
  other adapters may pass one through the `sources=` argument.
- **Math**: 1 if equivalent to the gold, else 0. **Text**: 1 on exact match after SQuAD-style normalisation,
  else the token F1 if F1 ≥ 0.3, else 0. Several golds: the best match counts. A gold written as `\boxed{…}`
  is unwrapped.

Where this module deliberately differs (each a choice, not an oversight):

- Equivalence is decided by `math-verify`, not by the paper's own Hendrycks-MATH/sympy grader.
- The answer is the last `\boxed{}` of the final text for every kind; the paper's text grader takes the first
  one, and its yes/no check takes the first box of the raw completion, thoughts included.
- Without a box the reward is 0 for every kind (`require_boxed=False` grades the whole final text instead); the
  paper's text grader guesses an answer from unboxed text (bold spans, dates, names, numbers, phrases).
- Yes/no containment is by whole word ("no" is not in "not"); the paper's is by substring.
- With no usable source the kind comes from the gold alone; the paper also calls an item math when the
  *policy's answer* looks like math, which lets the output choose its own grader. Our gold test is stricter
  too: a hyphen or a lone letter does not make a gold math.
- Source names are compared case-insensitively.
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
    "outside_thoughts",
    "resolve_kind",
    "rule_reward",
    "rule_rewards",
    "source_kind",
    "text_reward",
    "token_f1",
    "yes_no_reward",
]

AnswerKind = Literal["auto", "math", "text", "yes_no"]
F1_THRESHOLD = 0.3
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_YES_NO = frozenset({"yes", "no", "true", "false"})
_MAX_MATH_CHARS = 500
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


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


def outside_thoughts(text: str) -> str:
    """The part of a completion that is not thinking: after the last `</think>`, and before an unclosed
    `<think>`.

    A completion that opens `<think>` and never closes it (cut at the length limit mid-thought) has no final
    text: whatever it boxed was still a thought. A completion whose `<think>` was in the prompt (it holds only
    `</think>`) is read after that tag.

    Example:
        >>> outside_thoughts(r"<think>maybe \\boxed{3}</think>So \\boxed{4}.")
        'So \\\\boxed{4}.'
        >>> outside_thoughts(r"<think>still \\boxed{3}")
        ''
    """
    end = text.rfind(THINK_CLOSE)
    if end >= 0:
        text = text[end + len(THINK_CLOSE) :]
    start = text.find(THINK_OPEN)
    return text if start < 0 else text[:start]


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
    r"""SQuAD-style: lower-case, delete punctuation, drop articles, collapse spaces (`\text{}` unwrapped first).

    Example:
        >>> normalize_answer(r"The \text{U.S.} Navy!"), normalize_answer("1,000")
        ('us navy', '1000')
    """
    text = re.sub(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}", r"\1", text).lower()
    return " ".join(_ARTICLES.sub(" ", text.translate(_PUNCTUATION)).split())


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
    """The kind a gold answer calls for when its dataset source says nothing: "yes_no", "math" or "text".

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


def source_kind(source: str | None) -> Literal["math", "text"] | None:
    """What a dataset source name says about its answers: "math", "text", or None (nothing).

    "math" → math; "search", or any name containing "qa" (hotpotqa, triviaqa…) → text; the comparison
    ignores case.

    Example:
        >>> source_kind("math"), source_kind("HotpotQA"), source_kind("search"), source_kind("gaia"), source_kind(None)
        ('math', 'text', 'text', None, None)
    """
    name = (source or "").strip().lower()
    if name == "math":
        return "math"
    if name == "search" or "qa" in name:
        return "text"
    return None


def resolve_kind(gold: str, *, source: str | None = None, kind: AnswerKind = "auto") -> AnswerKind:
    """The grader for one item: `kind` when given; else yes/no for a yes/no gold; else what the source says;
    else what the gold looks like.

    Example:
        >>> resolve_kind("1984", source="hotpotqa"), resolve_kind("1984"), resolve_kind("no", source="math")
        ('text', 'math', 'yes_no')
    """
    if kind != "auto":
        return kind
    if normalize_answer(gold) in _YES_NO:
        return "yes_no"
    return source_kind(source) or answer_kind(gold)


def _score(answer: str, gold: str, kind: AnswerKind, source: str | None) -> float:
    gold = extract_boxed(gold) or gold
    resolved = resolve_kind(gold, source=source, kind=kind)
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
    source: str | None = None,
    require_boxed: bool = True,
) -> float:
    r"""R_rule(q, o): the rule reward of one completion, in [0, 1].

    Args:
        completion: The policy's output (a string, or chat messages whose last assistant turn is read). Its
            thoughts (`<think>…</think>`) are not read.
        ground_truth: The gold answer, or several accepted answers (the best match counts). A gold holding
            `\boxed{}` is unwrapped.
        kind: "auto" (per item, see `resolve_kind`), or "math", "text", "yes_no" to force one grader.
        source: The item's dataset source (e.g. verl's `data_source`), which picks math or text before the
            gold does.
        require_boxed: Without `\boxed{}` in the final text the reward is 0; False grades the whole final text
            instead.

    Returns:
        The reward.

    Example:
        >>> rule_reward(r"... so the answer is \boxed{\dfrac{1}{2}}", "0.5")
        1.0
        >>> rule_reward(r"\boxed{no}", "No"), rule_reward("no box", "No")
        (1.0, 0.0)
        >>> rule_reward(r"<think>\boxed{7}?</think> I give up.", "7")
        0.0
    """
    text = outside_thoughts(completion_text(completion))
    answer = extract_boxed(text)
    if answer is None:
        if require_boxed:
            return 0.0
        answer = text
    golds = [ground_truth] if isinstance(ground_truth, str) else list(ground_truth)
    return max((_score(answer, str(g), kind, source) for g in golds), default=0.0)


def rule_rewards(
    completions: Sequence[str | Sequence[Any]],
    ground_truths: Sequence[str | Sequence[str]],
    *,
    kind: AnswerKind = "auto",
    sources: Sequence[str | None] | None = None,
    require_boxed: bool = True,
) -> list[float]:
    """Batch form of `rule_reward`; `sources` gives each item's dataset source (None: no sources).

    Example:
        >>> rule_rewards([r"\\boxed{4}", r"\\boxed{5}"], ["4", "4"])
        [1.0, 0.0]
        >>> rule_rewards([r"\\boxed{1990}", r"\\boxed{1990}"], ["1990.0", "1990.0"], sources=["math", "hotpotqa"])
        [1.0, 0.0]
    """
    if len(completions) != len(ground_truths):
        raise ValueError(f"{len(completions)} completions but {len(ground_truths)} ground truths")
    if sources is None:
        sources = [None] * len(completions)
    elif len(sources) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(sources)} sources")
    return [
        rule_reward(c, g, kind=kind, source=s, require_boxed=require_boxed)
        for c, g, s in zip(completions, ground_truths, sources, strict=True)
    ]

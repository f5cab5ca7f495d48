"""Judge text → judgment or typed failure, structurally; and the grammar that makes judge text parseable. Pure.

A judgment is exactly `<think>…</think>`, `<critique>…</critique>`, `<score>x</score>`, in that order, each tag once,
nothing but whitespace between or around the blocks, x a number in [0, 1]. Anything else is a failure with a reason,
never a score: the paper's code took the first `<score>` regex match anywhere and fell back to 0.0, which lets text
copied from a trajectory, or a broken answer, become a reward.

The parser and the grammar follow the same rules, so that whatever the grammar lets the model write parses:
- a judge tag in any letter case (`</Think>`) is a tag: only the lowercase tags delimit blocks, any other case
  variant anywhere fails the parse, and the grammar never lets a block contain one;
- whitespace is ASCII only (space, tab, CR, LF), never Unicode spaces;
- digits are ASCII only (`[0-9]`), never other Unicode digits (`１`, `٣`).
The grammar is narrower still (bounded gaps, a score of at most four decimals, nothing before `<think>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["TAGS", "ParseFailure", "Parsed", "judgment_regex", "parse_judgment", "text_without"]

TAGS = ("<think>", "</think>", "<critique>", "</critique>", "<score>", "</score>")
_ANY_TAG = re.compile(r"</?(?:think|critique|score)>", re.IGNORECASE)
_WS = "[ \t\r\n]*"  # ASCII whitespace; `\s` would also take Unicode spaces
_GAP = re.compile(_WS)
_SCORE = re.compile(f"{_WS}([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+){_WS}")  # ASCII digits; `\d` takes any Unicode digit


@dataclass(frozen=True)
class Parsed:
    reasoning: str
    critique: str
    score: float


@dataclass(frozen=True)
class ParseFailure:
    reason: Literal["parse_error", "length"]
    detail: str


def parse_judgment(text: str, finish_reason: str | None = None) -> Parsed | ParseFailure:
    """Parse the judge's output; never raises.

    Args:
        text: the model's output text.
        finish_reason: the engine's finish reason; a failure on output cut at max_tokens is reported as `length`.

    Returns:
        Parsed, or ParseFailure with a reason and a detail saying what was wrong.

    Example:
        >>> parse_judgment("<think>ok</think>\\n<critique>none</critique>\\n<score>0.8</score>").score
        0.8
        >>> parse_judgment("<score>1.0</score>").reason
        'parse_error'
    """
    problem = _structure_problem(text)
    if problem is None:
        think, critique, score_text = _blocks(text)
        match = _SCORE.fullmatch(score_text)
        if match is None:
            problem = f"score block is not a number: {score_text[:40]!r}"
        else:
            score = float(match.group(1))
            if not 0.0 <= score <= 1.0:
                problem = f"score {score} is outside [0, 1]"
            else:
                return Parsed(reasoning=think.strip(), critique=critique.strip(), score=score)
    if finish_reason == "length":
        return ParseFailure("length", f"output cut at max_tokens before the judgment was complete ({problem})")
    return ParseFailure("parse_error", problem)


def _structure_problem(text: str) -> str | None:
    found = [m.group(0) for m in _ANY_TAG.finditer(text)]
    if tuple(found) != TAGS:
        if not found:
            return "no judgment blocks in the output"
        return f"expected tags {' '.join(TAGS)} once each in order, found {' '.join(found[:12])}"
    outside = _ANY_TAG.split(text)
    # split gives: before <think>, think, between, critique, between, score, after </score>
    gaps = (outside[0], outside[2], outside[4], outside[6])
    if not all(_GAP.fullmatch(gap) for gap in gaps):
        return "text outside the three blocks"
    return None


def _blocks(text: str) -> tuple[str, str, str]:
    parts = _ANY_TAG.split(text)
    return parts[1], parts[3], parts[5]


def text_without(*tags: str, ignore_case: bool = False) -> str:
    """A regex for any string that contains none of `tags` (each starting with '<' and holding no other '<'); with
    `ignore_case`, none of them in any letter case.

    Built from the automaton that tracks which prefix of a tag was just seen (a trie below '<'): a character that
    continues no tag leads back to the start, a '<' starts a new attempt, and completing a tag is impossible. Uses
    no look-around, so the regex engines of structured decoding (xgrammar, outlines) accept it.

    Example:
        >>> bool(re.fullmatch(text_without("</b>"), "a < b </c"))
        True
        >>> bool(re.fullmatch(text_without("</b>", "<i>"), "x<i>"))
        False
        >>> bool(re.fullmatch(text_without("</b>", ignore_case=True), "a </B>"))
        False
    """
    if not tags or any(len(t) < 2 or t[0] != "<" or "<" in t[1:] for t in tags):
        raise ValueError(f"unsupported tags {tags!r}")
    if ignore_case:
        tags = tuple(t.lower() for t in tags)
    trie: dict[str, Any] = {}
    for tag in tags:
        node = trie
        for ch in tag[1:-1]:
            node = node.setdefault(ch, {})
        node[tag[-1]] = None  # None marks a completed tag: never allowed

    def alternatives(node: dict[str, Any], leave: str, stop_partial: bool) -> str:
        # Strings from `node` that either leave the trie by `leave` (break or '<') or, when stop_partial, stop here.
        options = [leave] if leave else []
        for ch, child in sorted(node.items()):
            if child is not None:
                options.append(char(ch) + alternatives(child, leave, stop_partial))
        body = "|".join(options)
        if stop_partial:
            return f"(?:{body})?" if body else ""
        return f"(?:{body})"

    def char(ch: str) -> str:  # one character of a tag, in either case when ignoring case
        if ignore_case and ch.lower() != ch.upper():
            return f"[{ch.lower()}{ch.upper()}]"
        return re.escape(ch)

    def breaking(node: dict[str, Any]) -> str:
        continuing = sorted({v for c in node for v in ((c.lower(), c.upper()) if ignore_case else (c,))})
        options = [f"[^{''.join(_class_escape(c) for c in continuing)}<]"]
        for ch, child in sorted(node.items()):
            if child is not None:
                options.append(char(ch) + breaking(child))
        return f"(?:{'|'.join(options)})"

    restart = alternatives(trie, "<", stop_partial=False)  # from just after '<' to the next '<'
    back_to_start = breaking(trie)  # from just after '<' to a character that continues no tag
    partial = alternatives(trie, "", stop_partial=True)  # an unfinished prefix at the very end
    return f"(?:[^<]|<{restart}*{back_to_start})*(?:<{restart}*{partial})?"


def _class_escape(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


def judgment_regex(think_max_chars: int | None = None, critique_max_chars: int | None = None) -> str:
    """The grammar for structured decoding: the three blocks, and a score of the form 0, 0.x…, 1 or 1.0….

    Unbounded blocks may hold any text, `<` included (a real model writes code and comparisons), but never a judge
    tag in any letter case (the parser would read it as a tag). Bounded blocks (for small models that would ramble
    to max_tokens) hold at most N characters and no '<' at all.
    """

    def block(name: str, bound: int | None) -> str:
        body = text_without(*TAGS, ignore_case=True) if bound is None else f"[^<]{{0,{bound}}}"
        return f"<{name}>{body}</{name}>"

    gap = r"[ \n]{0,4}"
    score = r"(?:0(?:\.[0-9]{1,4})?|1(?:\.0{1,4})?)"
    return (
        f"{block('think', think_max_chars)}{gap}{block('critique', critique_max_chars)}{gap}"
        f"<score>[ \\n]{{0,2}}{score}[ \\n]{{0,2}}</score>"
    )

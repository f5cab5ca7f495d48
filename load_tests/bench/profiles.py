"""What a benchmark run measures: model and decoding settings, and per traffic shape the workload and the sweep.

Profiles:

- ``demo`` — the CPU run on the tiny random-weight demo model (the numbers in BENCHMARKS.md), at a 16,384-token
  context (what users give the real model at the least; the service's own demo default stays 4,096). The presets'
  item lengths are scaled down so that a run takes minutes on two cores (Qwen3's tokenizer, the demo's, makes ~1.4
  tokens of every 4 characters of this synthetic text: code, numbers, URLs). The ``long`` shape is the ``long``
  preset (GAIA-like: 10–30 tool calls, tool outputs of very different lengths) at 20–64k characters, ~7–24k tokens
  (median ~12k), about a fifth of them over the context: it exercises truncation. Shape (tool calls, group size,
  share of exact repeats) is the presets' own. The sweeps are short: with Qwen3's 151,936-token vocabulary the demo
  engine decodes ~300–400 tokens/s on two cores (the 2,048-token toy vocabulary of demo v1 allowed ~7,000), so a
  level of a few hundred items takes a minute or two.
- ``smoke`` — seconds of work per way, for the test suite: GRPO-shaped traffic only (it exercises every code path
  the uniform shape does, and the judgment cache too), tiny sizes, short grammar bounds, small max_tokens.
- ``gpu`` — Qwen3-8B-sized: ``bunny127/Agent-RRM``, 32,768-token context, max_tokens 1,400, unbounded blocks, the
  ``long`` preset (8k–16k-token trajectories) and the ``grpo`` preset unscaled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from load_tests.workload import Item, Preset, build_requests, get_preset, with_lengths
from service.parsing import judgment_regex

__all__ = ["PROFILES", "Profile", "ShapePlan", "get_profile"]


@dataclass(frozen=True)
class ShapePlan:
    """One traffic shape and how the service is swept with it.

    Attributes:
        name: ``uniform``, ``long`` or ``grpo`` (the report's wording).
        preset: Workload preset the items come from.
        items_per_request: Items per ``/judge`` request (a trainer's batch; a GRPO group for ``grpo``).
        concurrency: Closed-loop levels: requests in flight.
        waves: Requests per level = ``waves * concurrency + 2``: enough to see steady state past the ramp.
        open_loop_s: Planned length of each open-loop run at 70 % of saturation (Poisson, then evenly spaced
            arrivals); 0: no open loop.
        open_loop_min_requests: Requests each open-loop run sends at least, however short `open_loop_s` is.
        paper_in_flight: Chat requests in flight for the paper's way (the paper's trainer: 32).
        warmup_items: Items each way judges once, unmeasured, before its measured run.
    """

    name: str
    preset: Preset
    items_per_request: int
    concurrency: tuple[int, ...]
    waves: int = 2
    open_loop_s: float = 60.0
    open_loop_min_requests: int = 6
    paper_in_flight: int = 32
    warmup_items: int = 4

    def requests_at(self, concurrency: int) -> int:
        """Requests sent at one closed-loop level."""
        return self.waves * concurrency + 2

    def workload(self, seed: int) -> tuple[list[Item], list[list[list[Item]]]]:
        """Warm-up items and one disjoint list of requests per level, all from one seeded generator.

        Levels never share an item, so the service's judgment cache cannot answer a level from an earlier one;
        repeats inside a GRPO group are kept (the service is meant to answer them without the engine).
        """
        per = self.items_per_request
        counts = [self.requests_at(c) for c in self.concurrency]
        warm_requests = -(-self.warmup_items // per)
        pool = build_requests(self.preset, seed=seed, n=warm_requests + sum(counts), items_per_request=per)
        warmup = [item for request in pool[:warm_requests] for item in request][: self.warmup_items]
        levels, start = [], warm_requests
        for count in counts:
            levels.append(pool[start : start + count])
            start += count
        return warmup, levels

    def open_loop_requests(self, seed: int, n: int) -> list[list[Item]]:
        """`n` fresh requests for the open loop (a different seed: no item seen by the sweep)."""
        return build_requests(self.preset, seed=seed + 1, n=n, items_per_request=self.items_per_request)


@dataclass(frozen=True)
class Profile:
    """Model, decoding and sizes of one benchmark run.

    Attributes:
        name: Profile name.
        model: What ``python -m service --model`` gets: ``demo``, a Hugging Face id or a folder.
        max_model_len: Engine context (None: the model's).
        max_tokens: Tokens the judge may write, for every way.
        think_max_chars: Grammar bound on the ``<think>`` block (None: unbounded), for every way.
        critique_max_chars: Same for ``<critique>``.
        shapes: Traffic shapes, run one after another.
        start_timeout_s: How long a server or the ceiling may take to load the model.
        seed: Workload seed.
        service_args: Further ``python -m service`` flags (settings that bound a run, not its speed).
    """

    name: str
    model: str
    max_model_len: int | None
    max_tokens: int
    think_max_chars: int | None
    critique_max_chars: int | None
    shapes: tuple[ShapePlan, ...]
    start_timeout_s: float = 300.0
    seed: int = 0
    service_args: tuple[str, ...] = ()

    @property
    def regex(self) -> str:
        """The structured-decoding grammar every way decodes with (the service's own)."""
        return judgment_regex(self.think_max_chars, self.critique_max_chars)

    @property
    def prompt_budget(self) -> int | None:
        """Prompt tokens an item may take (the service's rule: context minus max_tokens)."""
        return None if self.max_model_len is None else self.max_model_len - self.max_tokens

    def with_model(self, model: str | None) -> Profile:
        return self if model is None else dataclasses.replace(self, model=model)

    def only(self, shapes: list[str] | None) -> Profile:
        if not shapes:
            return self
        unknown = set(shapes) - {s.name for s in self.shapes}
        if unknown:
            raise ValueError(f"unknown shape(s) {sorted(unknown)}; this profile has {[s.name for s in self.shapes]}")
        return dataclasses.replace(self, shapes=tuple(s for s in self.shapes if s.name in shapes))


_DEMO = Profile(
    name="demo",
    model="demo",
    max_model_len=16384,
    max_tokens=256,  # the grammar below ends every judgment within ~200 tokens: none is cut
    think_max_chars=120,  # the service's own bounds for the demo model (Settings._check_spanning_rules)
    critique_max_chars=60,
    shapes=(
        ShapePlan(
            "uniform",
            with_lengths(get_preset("short"), median=300, low=100, high=700),
            items_per_request=32,
            concurrency=(1, 4),
            waves=2,
            open_loop_s=30.0,
        ),
        # Each item is ~0.7 s of engine time on two cores: two short levels (3 and 4 requests of 16 items), and no
        # open loop (its targets are the GRPO shape's).
        ShapePlan(
            "long",
            with_lengths(get_preset("long"), median=9000, low=5000, high=16000),
            items_per_request=16,
            concurrency=(1, 2),
            waves=1,
            open_loop_s=0.0,
            warmup_items=2,
        ),
        ShapePlan(
            "grpo",
            with_lengths(get_preset("grpo"), median=350, low=120, high=900),
            items_per_request=8,
            concurrency=(1, 4, 16),
            waves=2,
            open_loop_s=75.0,
        ),
    ),
)

_SMOKE = Profile(
    name="smoke",
    model="demo",
    max_model_len=4096,
    max_tokens=64,
    think_max_chars=12,
    critique_max_chars=8,
    shapes=(
        ShapePlan(
            "grpo",
            with_lengths(get_preset("grpo"), median=60, low=30, high=120),
            items_per_request=8,
            concurrency=(1, 2),
            waves=1,
            open_loop_s=2.0,
            open_loop_min_requests=3,  # the smoke checks each open loop runs and is reported, not its tail
            paper_in_flight=8,
            warmup_items=2,
        ),
    ),
    start_timeout_s=240.0,
)

_GPU = Profile(
    name="gpu",
    model="bunny127/Agent-RRM",
    max_model_len=32768,
    max_tokens=1400,  # the paper's budget (score and critique)
    think_max_chars=None,  # a real model is not bounded
    critique_max_chars=None,
    shapes=(
        # 8 long trajectories per request: a top level of 64 in flight already queues in an 80 GB card's KV cache.
        ShapePlan("long", get_preset("long"), items_per_request=8, concurrency=(1, 2, 4, 8)),
        ShapePlan("grpo", get_preset("grpo"), items_per_request=8, concurrency=(1, 2, 4, 8, 16, 32)),
    ),
    start_timeout_s=1800.0,  # the first start downloads ~16 GB of weights
    service_args=("--request-timeout-s", "1200"),  # a queued request of 8 long trajectories may wait minutes
)

PROFILES: dict[str, Profile] = {p.name: p for p in (_DEMO, _SMOKE, _GPU)}


def get_profile(name: str) -> Profile:
    """Look up a profile by name.

    Example:
        >>> get_profile("gpu").max_model_len
        32768
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {sorted(PROFILES)}")
    return PROFILES[name]

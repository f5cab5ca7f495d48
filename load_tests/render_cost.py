"""CPU the service spends turning items into prompt token ids (rendering, tokenisation, truncation), per item.

    .venv/bin/python -m load_tests.render_cost                      # the demo profile's shapes, its context
    .venv/bin/python -m load_tests.render_cost --shapes long --repeat 3

For each traffic shape of a benchmark profile it takes the items of the shape's top sweep level (the benchmark's
reference items), renders them with the served tokenizer and the service's template exactly as the service does,
and reports CPU time (this thread's, `time.thread_time`) per item and per 1,000 tokens of the untruncated item,
by item length, so that a cost growing faster than the length shows. Tokens of the untruncated item are counted
outside the timed region. The best of `--repeat` passes is kept (the machine is shared; the best pass is the one
least disturbed). No engine is started.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from load_tests.bench.profiles import PROFILES, get_profile
from service.protocol import JudgeItem
from service.rendering import PromptTemplate, build_prompt, prompt_template, render_steps, user_message
from service.template_source import builtin_prompt

__all__ = ["main", "measure"]

Renderer = Callable[[Any, PromptTemplate, Sequence[JudgeItem], int], list[Any]]


def _per_item(tokenizer: Any, template: PromptTemplate, items: Sequence[JudgeItem], budget: int) -> list[Any]:
    return [build_prompt(tokenizer, template, item, budget) for item in items]


def renderers() -> dict[str, Renderer]:
    """The ways of rendering a request's items this code base has: the reference path (re-tokenising to shorten,
    what the service ran before `service.truncation`), `build_prompt` item by item, and the service's batch path."""
    found: dict[str, Renderer] = {}
    try:
        from service.rendering import _build_prompt_reference
    except ImportError:
        pass
    else:

        def reference(tokenizer: Any, template: PromptTemplate, items: Sequence[JudgeItem], budget: int) -> list[Any]:
            return [_build_prompt_reference(tokenizer, template, item, budget) for item in items]

        found["reference path (before), item by item"] = reference
    found["build_prompt, item by item"] = _per_item
    try:
        from service.truncation import build_prompts
    except ImportError:  # before service.truncation existed: item by item was the service's path
        return found

    def batch(tokenizer: Any, template: PromptTemplate, items: Sequence[JudgeItem], budget: int) -> list[Any]:
        return build_prompts(tokenizer, template, items, budget)

    found["build_prompts, the whole request (the service's path)"] = batch
    return found


def _full_tokens(tokenizer: Any, template: PromptTemplate, item: JudgeItem) -> int:
    user = user_message(template.defence.neutralize(item.question), "\n\n".join(render_steps(item, template)))
    return len(tokenizer.encode(user, add_special_tokens=False))


def measure(
    tokenizer: Any,
    template: PromptTemplate,
    requests: Sequence[Sequence[JudgeItem]],
    budget: int,
    render: Renderer,
    repeat: int,
) -> dict[str, Any]:
    """Time `render` over every request (best of `repeat` passes) and describe the cost per item and per 1k tokens."""
    items = [item for request in requests for item in request]
    sizes = [_full_tokens(tokenizer, template, item) for item in items]
    best: list[float] | None = None
    prompts: list[Any] = []
    for _ in range(repeat):
        times: list[float] = []
        prompts = []
        for request in requests:
            started = time.thread_time()
            prompts += render(tokenizer, template, request, budget)
            times.append(time.thread_time() - started)
        if best is None or sum(times) < sum(best):
            best = times
    assert best is not None
    total = sum(best)
    return {
        "items": len(items),
        "requests": len(requests),
        "input_tokens": sum(sizes),
        "median_tokens": statistics.median(sizes),
        "max_tokens": max(sizes),
        "prompt_tokens": sum(len(p.token_ids) for p in prompts),
        "truncated": sum(bool(p.truncated) for p in prompts),
        "us_per_item": total / len(items) * 1e6,
        "us_per_1k_tokens": total / sum(sizes) * 1e9,
    }


def _items_by_length(
    requests: Sequence[Sequence[JudgeItem]], tokenizer: Any, template: PromptTemplate, budget: int
) -> dict[str, list[list[JudgeItem]]]:
    """Items that fit and items that are truncated, one item per request, to show the cost of truncation apart."""
    under: list[list[JudgeItem]] = []
    over: list[list[JudgeItem]] = []
    for request in requests:
        for item in request:
            (over if build_prompt(tokenizer, template, item, budget).truncated else under).append([item])
    return {"fit": under, "truncated": over}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.render_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="demo")
    parser.add_argument("--shapes", nargs="+", help="shapes of the profile (default: all)")
    parser.add_argument("--model", help="model folder whose tokenizer to use (default: the demo model)")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the fastest is reported (default 3)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile).only(args.shapes)
    from transformers import AutoTokenizer

    if args.model:
        folder = Path(args.model)
    else:
        from service.demo_model import build_demo_model
        from service.settings import Settings

        folder = build_demo_model(Settings().cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = prompt_template(builtin_prompt(), tokenizer)  # the service's default template and input mode
    assert profile.prompt_budget is not None
    budget = profile.prompt_budget
    print(f"profile {profile.name}, tokenizer {folder}, budget {budget}; CPU of one thread, best of {args.repeat}")
    for plan in profile.shapes:
        _, levels = plan.workload(profile.seed)
        requests = [[JudgeItem.model_validate(i) for i in request] for request in levels[-1]]
        groups = {"all, as sent": requests, **_items_by_length(requests, tokenizer, template, budget)}
        for way, render in renderers().items():
            for group, reqs in groups.items():
                if not reqs:
                    continue
                m = measure(tokenizer, template, reqs, budget, render, args.repeat)
                print(
                    f"{plan.name:8} {group:13} {way}: {m['items']} items (median {m['median_tokens']:,.0f} tokens, "
                    f"max {m['max_tokens']:,}, {m['truncated']} truncated): {m['us_per_item']:,.0f} µs/item, "
                    f"{m['us_per_1k_tokens']:,.0f} µs per 1k tokens"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

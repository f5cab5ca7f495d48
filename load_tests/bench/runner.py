"""One traffic shape, three ways, each in a fresh process: the service first (its ``GET /info`` names the engine
arguments and model folder the other two then use), then the engine ceiling, then the paper's way.

The service is swept in a closed loop at rising concurrency over disjoint slices of one seeded workload; its best
level is its saturation, and an open loop at 70 % of that rate measures latency under load. The ceiling and the
paper's way judge exactly the items of the sweep's top level, rendered as the service renders them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import httpx

from load_tests.bench import procs
from load_tests.bench.measure import ShapeResult, WayRun, from_report
from load_tests.bench.paper import run_paper_way
from load_tests.bench.profiles import Profile, ShapePlan
from load_tests.bench.prompts import RenderedItem, render_items
from load_tests.bench.pyspy import record, summarize
from load_tests.config import LoadConfig
from load_tests.driver import run_load
from load_tests.report import Report
from load_tests.workload import Item
from service.rendering import prompt_template
from service.settings import Settings
from service.template_source import BUILTIN, RELEASED, SystemPrompt, builtin_prompt, released_prompt

__all__ = ["RunContext", "run_shape"]

# Bounds on any single run: far above what a run should take, so a wedged engine ends the benchmark, not the day.
_RUN_BOUND_S, _GRACE_S, _HTTP_TIMEOUT_S = 1800.0, 600.0, 900.0
_OPEN_LOOP_SHARE = 0.7


@dataclass(frozen=True)
class RunContext:
    """What every shape's run shares."""

    profile: Profile
    scratch: Path
    env: dict[str, str]
    cache_dir: Path | None  # where the demo model is built (demo profiles only)
    py_spy_dir: Path | None = None  # profile the service's top sweep level into this folder
    skip: frozenset[str] = frozenset()  # ways not to run ("ceiling", "paper"); the service always runs
    log: TextIO = sys.stderr


def _say(ctx: RunContext, message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=ctx.log, flush=True)


def repeats_in(items: Sequence[Item]) -> int:
    """Items that exactly repeat an earlier item (same question and trajectory).

    Example:
        >>> a, b = {"id": "a", "question": "q", "trajectory": "t"}, {"id": "b", "question": "q", "trajectory": "t"}
        >>> repeats_in([a, b])
        1
    """
    seen: set[str] = set()
    repeats = 0
    for item in items:
        key = json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True)
        repeats += key in seen
        seen.add(key)
    return repeats


def run_shape(ctx: RunContext, plan: ShapePlan) -> ShapeResult:
    """Measure one traffic shape three ways; see the module docstring."""
    warmup, levels = plan.workload(ctx.profile.seed)
    reference = [item for request in levels[-1] for item in request]
    result = ShapeResult(plan.name, plan.items_per_request, repeats=repeats_in(reference))
    _say(ctx, f"{plan.name}: service sweep {list(plan.concurrency)} x {plan.items_per_request} items/request")
    info, service = _run_service(ctx, plan, warmup, levels, result)
    try:
        if {"ceiling", "paper"} <= ctx.skip:
            return result
        # The service is shutting down meanwhile (vLLM's engine core and interpreter exit take seconds).
        engine: dict[str, Any] = info["engine"]
        model_path = str(engine["model_path"])
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
        template = prompt_template(_system_prompt(ctx, info), tokenizer, info["input_mode"])
        if template.id != info["template_id"]:
            raise RuntimeError(f"the service runs template {info['template_id']}, the benchmark renders {template.id}")
        budget = int(info["max_model_len"]) - ctx.profile.max_tokens
        rendered = render_items(tokenizer, template, reference, budget)
        rendered_warmup = render_items(tokenizer, template, warmup, budget)
    finally:
        service.stop()  # gone before the next way starts: each way has the machine to itself
    result.checks["truncated_items"] = sum(r.truncated for r in rendered)
    result.checks["prompt_tokens_rendered"] = sum(len(r.token_ids) for r in rendered)
    if "ceiling" not in ctx.skip:
        _say(ctx, f"{plan.name}: engine ceiling over {len(rendered)} items")
        result.ceiling = _run_ceiling(ctx, model_path, engine, rendered, rendered_warmup, result)
    if "paper" not in ctx.skip:
        _say(ctx, f"{plan.name}: paper's way over {len(rendered)} items, {plan.paper_in_flight} in flight")
        served = str(info["model"])
        result.paper = _run_openai(ctx, plan, model_path, engine, served, rendered, rendered_warmup, result)
    counts = {
        way: run.prompt_tokens
        for way, run in (("ceiling", result.ceiling), ("paper", result.paper), ("service", result.sweep[-1]))
        if run is not None
    }
    result.checks["prompt_tokens"] = counts
    result.checks["prompts_identical"] = len(set(counts.values())) == 1
    return result


def _drive(config: LoadConfig, payloads: list[list[Item]]) -> Report:
    return asyncio.run(run_load(config, payloads=payloads))


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process so far (its threads included, its children not); None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_since(pid: int, before: float | None) -> float | None:
    after = process_cpu_s(pid)
    return None if before is None or after is None else after - before


def _closed(url: str, requests: int, concurrency: int) -> LoadConfig:
    return LoadConfig(
        url=url,
        mode="closed",
        requests=requests,
        concurrency=concurrency,
        duration_s=_RUN_BOUND_S,
        grace_s=_GRACE_S,
        http_timeout_s=_HTTP_TIMEOUT_S,
    )


def _engine_requests(before: dict[str, float], after: dict[str, float]) -> int:
    """Items the service sent to the engine between two scrapes of its metrics.

    Its judgment cache counts every deterministic item as a hit or a miss, and a miss is an engine request; vLLM's
    own request counter would also count the service's watchdog probes (a 1-token generation when it is idle).
    """

    def delta(name: str) -> int:
        return round(after.get(name, 0.0) - before.get(name, 0.0))

    misses, hits = delta("rrm_cache_misses_total"), delta("rrm_cache_hits_total")
    return misses if misses + hits > 0 else delta("vllm:request_success_total")


def _system_prompt(ctx: RunContext, info: dict[str, Any]) -> SystemPrompt:
    """The system prompt the service said it serves, from the same place (the released one from its cache)."""
    if info["template_name"] == BUILTIN:
        return builtin_prompt()
    if info["template_name"] == RELEASED.name:
        # The service was given ctx.cache_dir, or took the default (the same RRM_* environment as here).
        return released_prompt(RELEASED, ctx.cache_dir or Settings(model="demo").cache_dir)
    raise RuntimeError(f"the benchmark cannot rebuild the service's system prompt {info['template_name']!r}")


def _run_service(
    ctx: RunContext, plan: ShapePlan, warmup: list[Item], levels: list[list[list[Item]]], result: ShapeResult
) -> tuple[dict[str, Any], procs.Proc]:
    """Measure the service; returns its /info and its process, told to stop (the caller waits for it)."""
    p = ctx.profile
    port = procs.free_port()
    argv = procs.service_argv(
        model=p.model,
        port=port,
        max_tokens=p.max_tokens,
        max_model_len=p.max_model_len,
        think_max_chars=p.think_max_chars,
        critique_max_chars=p.critique_max_chars,
        cache_dir=ctx.cache_dir,
        extra=p.service_args,
    )
    url = f"http://127.0.0.1:{port}"
    result.checks["service_command"] = " ".join(argv[1:])
    result.load_avg["service"] = os.getloadavg()
    proc = procs.Proc("service", argv, ctx.env, ctx.scratch / f"service-{plan.name}.log")
    try:
        result.startup_s["service"] = procs.wait_http(url + "/readyz", proc, p.start_timeout_s)
        info: dict[str, Any] = httpx.get(url + "/info", timeout=30.0, trust_env=False).json()
        _drive(_closed(url, 1, 1), [warmup])
        for level, (concurrency, payloads) in enumerate(zip(plan.concurrency, levels, strict=True)):
            top = level == len(levels) - 1
            before = procs.scrape_metrics(url)
            cpu_before = process_cpu_s(proc.pid)
            config = _closed(url, len(payloads), concurrency)
            if top and ctx.py_spy_dir is not None:
                raw = ctx.py_spy_dir / f"service-{plan.name}.txt"
                with record(proc.pid, raw):
                    report = _drive(config, payloads)
                result.profile = summarize(raw, pid=proc.pid)
            else:
                report = _drive(config, payloads)
            engine_requests = _engine_requests(before, procs.scrape_metrics(url))
            unique = len(payloads) * plan.items_per_request - repeats_in([i for r in payloads for i in r])
            leaked = result.checks.get("repeats_reaching_engine", 0)
            result.checks["repeats_reaching_engine"] = leaked + max(0, engine_requests - unique)
            label = f"c={concurrency} x {plan.items_per_request}"
            run = from_report(
                report,
                way="service",
                label=label,
                in_flight=concurrency * plan.items_per_request,
                engine_requests=engine_requests,
                service_cpu_s=_cpu_since(proc.pid, cpu_before),
            )
            result.sweep.append(run)
            _say(ctx, f"  service {label}: {run.judgments_per_s:.2f} judgments/s, p50 {run.latency.p50 or 0:.2f} s")
        if plan.open_loop_s > 0:
            result.open_loop = _open_loop(ctx, plan, url, proc.pid, result, "poisson")
            result.open_loop_even = _open_loop(ctx, plan, url, proc.pid, result, "constant")
    except BaseException:
        proc.stop()
        raise
    proc.terminate()
    return info, proc


def _open_loop(
    ctx: RunContext, plan: ShapePlan, url: str, pid: int, result: ShapeResult, arrival: Literal["poisson", "constant"]
) -> WayRun:
    """An open loop at 70 % of saturation; the evenly spaced run gets fresh items too (a different seed)."""
    saturation = result.saturation
    assert saturation is not None
    offered = _OPEN_LOOP_SHARE * saturation.judgments_per_s
    rate = offered / plan.items_per_request
    n = max(plan.open_loop_min_requests, round(rate * plan.open_loop_s))
    seed = ctx.profile.seed + (0 if arrival == "poisson" else 100)
    payloads = plan.open_loop_requests(seed, n)
    config = LoadConfig(
        url=url,
        mode="open",
        rate=rate,
        arrival=arrival,
        requests=n,
        seed=ctx.profile.seed,
        duration_s=_RUN_BOUND_S,
        grace_s=_GRACE_S,
        http_timeout_s=_HTTP_TIMEOUT_S,
    )
    before, cpu_before = procs.scrape_metrics(url), process_cpu_s(pid)
    report = _drive(config, payloads)
    kind = "Poisson" if arrival == "poisson" else "evenly spaced"
    run = from_report(
        report,
        way="service-open",
        label=f"open loop, {offered:.2f} judgments/s offered ({kind})",
        in_flight=0,
        engine_requests=_engine_requests(before, procs.scrape_metrics(url)),
        offered_rate=offered,
        service_cpu_s=_cpu_since(pid, cpu_before),
    )
    _say(
        ctx,
        f"  service open loop ({kind}) at {offered:.2f}/s: p50 {run.latency.p50 or 0:.2f} s, "
        f"p99 {run.latency.p99 or 0:.2f} s",
    )
    return run


def _run_ceiling(
    ctx: RunContext,
    model_path: str,
    engine: dict[str, Any],
    rendered: list[RenderedItem],
    warmup: list[RenderedItem],
    result: ShapeResult,
) -> WayRun:
    p = ctx.profile
    spec = {
        "model": model_path,
        "engine": procs.ceiling_kwargs(engine),
        "sampling": {"max_tokens": p.max_tokens, "temperature": 0.0, "regex": p.regex},
        "prompts": [r.token_ids for r in rendered],
        "warmup": [r.token_ids for r in warmup],
    }
    name = f"ceiling-{result.shape}"
    spec_path, out_path = ctx.scratch / f"{name}.spec.json", ctx.scratch / f"{name}.result.json"
    spec_path.write_text(json.dumps(spec), "utf-8")
    argv = [sys.executable, "-m", "load_tests.bench.ceiling", str(spec_path), str(out_path)]
    result.load_avg["ceiling"] = os.getloadavg()
    proc = procs.Proc("ceiling", argv, ctx.env, ctx.scratch / f"{name}.log")
    code = proc.wait(p.start_timeout_s + _RUN_BOUND_S)
    proc.stop()
    if code != 0 or not out_path.exists():
        raise RuntimeError(f"the ceiling run failed with {code}:\n{proc.tail()}")
    data = json.loads(out_path.read_text("utf-8"))
    result.startup_s["ceiling"] = data["load_s"]
    result.checks["ceiling_finish_reasons"] = data["finish_reasons"]
    run = WayRun(
        way="ceiling",
        label="all at once",
        items=data["items"],
        judgments=data["items"],
        judgments_ok=data["judgments_ok"],
        elapsed_s=data["elapsed_s"],
        prompt_tokens=data["prompt_tokens"],
        completion_tokens=data["completion_tokens"],
        in_flight=data["items"],
        engine_requests=data["items"],
    )
    _say(ctx, f"  ceiling: {run.judgments_per_s:.2f} judgments/s")
    return run


def _run_openai(
    ctx: RunContext,
    plan: ShapePlan,
    model_path: str,
    engine: dict[str, Any],
    served_name: str,
    rendered: list[RenderedItem],
    warmup: list[RenderedItem],
    result: ShapeResult,
) -> WayRun:
    p = ctx.profile
    port = procs.free_port()
    argv = procs.openai_server_argv(model_path, port, engine)
    result.checks["openai_server_command"] = " ".join(argv[1:])
    result.load_avg["paper"] = os.getloadavg()
    proc = procs.Proc("openai-server", argv, ctx.env, ctx.scratch / f"openai-{plan.name}.log")
    url = f"http://127.0.0.1:{port}"

    def judge(items: list[RenderedItem]) -> WayRun:
        return asyncio.run(
            run_paper_way(
                url,
                served_name,
                items,
                max_tokens=p.max_tokens,
                temperature=0.0,
                regex=p.regex,
                in_flight=plan.paper_in_flight,
                timeout_s=_HTTP_TIMEOUT_S,
            )
        )

    try:
        result.startup_s["paper"] = procs.wait_http(url + "/health", proc, p.start_timeout_s)
        judge(warmup)
        run = judge(rendered)
    finally:
        proc.stop()
    _say(ctx, f"  paper's way: {run.judgments_per_s:.2f} judgments/s, p50 {run.latency.p50 or 0:.2f} s")
    return run

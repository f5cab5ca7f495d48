"""BENCHMARKS.md: targets, machine and command, one table and one plot per traffic shape, profile, GPU section.

The file is generated; the hand-written analysis between ``<!-- notes:start -->`` and ``<!-- notes:end -->`` is
carried over from the previous file when it is regenerated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load_tests.bench.measure import ShapeResult, Target, WayRun
from load_tests.bench.profiles import Profile, ShapePlan
from load_tests.bench.pyspy import ProfileSummary
from load_tests.workload import PRESETS

__all__ = ["ReportInputs", "keep_notes", "render_markdown"]

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"
_WAY_NAMES = {
    "ceiling": "engine ceiling (offline `LLM.generate`)",
    "service": "this service, closed loop",
    "service-open": "this service, open loop",
    "paper": "paper's way (OpenAI server)",
}


@dataclass
class ReportInputs:
    """Everything the report shows besides the measurements."""

    profile: Profile
    command: str
    date: str
    machine: dict[str, str]
    plots: dict[str, str]  # shape -> path relative to the report
    notes: str = ""
    profiles: dict[str, ProfileSummary] = field(default_factory=dict)
    gpu_section: str = ""
    quiet_note: str = ""


def keep_notes(previous: Path) -> str:
    """The hand-written notes block of an earlier report ('' if none)."""
    if not previous.exists():
        return ""
    match = re.search(re.escape(NOTES_START) + r"\n?(.*?)" + re.escape(NOTES_END), previous.read_text("utf-8"), re.S)
    return match.group(1).strip() if match else ""


def _s(value: float | None) -> str:
    return "–" if value is None else (f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s")


def _row(run: WayRun, saturation: bool = False) -> str:
    lat = run.latency
    engine = "–" if run.engine_requests is None else str(run.engine_requests)
    label = f"**{run.label} (saturation)**" if saturation else run.label
    return (
        f"| {_WAY_NAMES[run.way]} | {label} | {run.items} | **{run.judgments_per_s:.2f}** | "
        f"{run.prompt_tokens_per_s:,.0f} | {run.completion_tokens_per_s:,.0f} | {_s(lat.p50)} | {_s(lat.p95)} | "
        f"{_s(lat.p99)} | {run.judgments_ok}/{run.judgments} | {engine} |"
    )


def _shape_section(result: ShapeResult, targets: Sequence[Target], plot: str | None) -> list[str]:
    sat = result.saturation
    lines = [f"## {result.shape} traffic ({result.items_per_request} items per `/judge` request)", ""]
    lines += [
        "| way | setting | items | judgments/s | prompt tok/s | output tok/s | p50 | p95 | p99 | ok | engine reqs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = [
        r
        for r in (result.ceiling, *result.sweep, result.open_loop, result.open_loop_even, result.paper)
        if r is not None
    ]
    lines += [_row(r, saturation=r is sat) for r in runs]
    lines.append("")
    for t in targets:
        value = "–" if t.value is None else f"{t.value:.2f}×" if "/ p50" not in t.name else f"{t.value:.2f}"
        if t.name.endswith(", even"):
            value += " (evenly spaced arrivals, reported beside the Poisson target)"
        sign = "≥" if t.higher_is_better else "≤"
        lines.append(f"- {t.name}: **{value}** (target {sign} {t.goal:g}) — **{t.verdict}**")
    c = result.checks
    counts = ", ".join(f"{way} {n:,}" for way, n in (c.get("prompt_tokens") or {}).items())
    lines += [
        f"- Same prompts: prompt tokens over the reference items — {counts} "
        f"({'identical' if c.get('prompts_identical') else '**NOT identical**'}); "
        f"{c.get('truncated_items', 0)} of them truncated to fit the context.",
        f"- Exact repeats among the reference items: {result.repeats}"
        + (
            f"; repeats that reached the service's engine, over all levels: "
            f"{c.get('repeats_reaching_engine', 0)} (engine requests = items − repeats"
            + (f", e.g. {sat.engine_requests} for {sat.items} items at saturation)." if sat else ").")
            if result.repeats
            else "."
        ),
        _cpu_line(runs),
        "- Start-up (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.startup_s.items())
        + "; 1-min load average as each way started (it still carries the previous way's own load): "
        + ", ".join(f"{k} {v[0]:.2f}" for k, v in result.load_avg.items())
        + ".",
    ]
    if plot:
        lines += ["", f"![{result.shape}: latency against throughput]({plot})"]
    return [*lines, ""]


def _cpu_line(runs: Sequence[WayRun]) -> str:
    measured = [r for r in runs if r.cpu_us_per_item is not None]
    if not measured:
        return "- Service-process CPU: not measured."
    parts = "; ".join(
        f"{r.label}: {r.cpu_us_per_item:,.0f} µs/item, {r.cpu_us_per_1k_tokens or 0:,.0f} µs per 1k prompt tokens"
        for r in measured
    )
    return (
        "- CPU of the service's own process (HTTP, our code, vLLM's AsyncLLM front end; not the engine core), "
        f"per item judged: {parts}."
    )


def _profile_section(summaries: dict[str, ProfileSummary]) -> list[str]:
    lines = ["## Profile of the service at its top sweep level (py-spy)", ""]
    for shape, s in summaries.items():
        tree = "; ".join(f"{name[:60]}: {n}" for name, n in s.processes.items())
        lines += [f"**{shape}** — samples of non-idle threads per process: {tree}.", ""]
        lines += [f"Below: the service's own process ({s.process[:60]}), {s.samples} samples.", ""]
        lines += ["| our code (inclusive) | share |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in s.own_inclusive]
        lines += ["", "| leaf function (where the CPU was) | share |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in s.leaves]
        lines.append("")
    return lines


def workload_line(plan: ShapePlan, seed: int) -> str:
    """One bullet describing a shape's workload and sweep."""
    t, own = plan.preset.shape.tokens, PRESETS[plan.preset.name].shape.tokens
    scaled = "" if t == own else f" (scaled from the preset's {own.median}, {own.low}–{own.high})"
    levels = ", ".join(f"{c} ({plan.requests_at(c)} requests)" for c in plan.concurrency)
    return (
        f"- Workload *{plan.name}*: preset `{plan.preset.name}` (seed {seed}), item lengths log-normal around "
        f"{t.median} approximate tokens, clipped to {t.low}–{t.high}{scaled}, "
        f"{plan.items_per_request} items per request; "
        f"closed-loop levels (requests in flight): {levels}; "
        + (
            f"open loops ~{plan.open_loop_s:.0f} s each (Poisson, then evenly spaced)."
            if plan.open_loop_s > 0
            else "no open loop."
        )
    )


def render_markdown(results: Sequence[ShapeResult], targets: Sequence[Target], inputs: ReportInputs) -> str:
    """The whole report as Markdown."""
    p = inputs.profile
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{inputs.command}` on {inputs.date}; regenerate rather than edit "
        f"(only the notes block is kept). Profile `{p.name}`.",
        "",
        "## Targets",
        "",
        "| shape | target | measured | goal | verdict |",
        "|---|---|---:|---:|---|",
    ]
    for t in targets:
        value = "–" if t.value is None else f"{t.value:.2f}"
        lines.append(
            f"| {t.shape} | {t.name} | {value} | {'≥' if t.higher_is_better else '≤'} {t.goal:g} | {t.verdict} |"
        )
    if inputs.quiet_note:
        lines += ["", inputs.quiet_note]
    lines += ["", "## Machine, model, command", ""]
    lines += [f"- {k}: {v}" for k, v in inputs.machine.items()]
    lines += [
        f"- Model: `{p.model}`, context {p.max_model_len}, max_tokens {p.max_tokens}, temperature 0, structured "
        f"decoding with the service's grammar (think ≤ {p.think_max_chars} chars, critique ≤ {p.critique_max_chars}).",
        *[workload_line(plan, p.seed) for plan in p.shapes],
        f"- Command: `{inputs.command}`",
        "",
        _METHOD,
        "",
    ]
    for result in results:
        shape_targets = [t for t in targets if t.shape == result.shape]
        lines += _shape_section(result, shape_targets, inputs.plots.get(result.shape))
    if inputs.profiles:
        lines += _profile_section(inputs.profiles)
    lines += ["## Notes: where the time goes", "", NOTES_START, inputs.notes or "(none yet)", NOTES_END, ""]
    if inputs.gpu_section:
        lines += [inputs.gpu_section, ""]
    return "\n".join(lines)


_METHOD = """## How it is measured

- **Three ways, same prompts, same decoding.** Items come from the seeded workload generator (`load_tests`);
  *uniform* is the `short` preset, *long* the `long` preset (GAIA-like, many tool calls, tool outputs of very
  different lengths, some items over the context: truncated), *GRPO-shaped* the `grpo` preset (groups of 8 attempts
  at one question, a quarter of them exact repeats of another attempt). The engine ceiling and the paper's way
  judge exactly the items of the service's top concurrency level, rendered by the service's own `build_prompt`
  (template, rendering, truncation); the paper's way sends them as chat messages that re-tokenise to the same ids
  (checked per item, and by the prompt token counts below). All three use max_tokens, temperature 0 and the
  service's grammar as structured decoding.
- **Engine ceiling:** `vllm.LLM(...).generate` over all reference prompts at once, in its own process, with the
  engine arguments the service reports in `GET /info`. It judges every item, repeats included: the engine has no
  judgment cache.
- **This service:** `python -m service`, driven by the load driver: closed loop at rising concurrency (requests in
  flight), each level on items never sent before (so the judgment cache cannot answer across levels, only repeats
  within the traffic); the best level is *saturation*. Then two open loops at 70% of that rate on fresh items,
  Poisson arrivals and then evenly spaced ones. Latency is per item (send to answer of the request that carried
  it). The service process's CPU time (`/proc/PID/stat`; the engine core is another process) is read around each
  run.
- **The paper's way:** vLLM's OpenAI-compatible server (`python -m vllm.entrypoints.openai.api_server`, same engine
  arguments and environment), one `/v1/chat/completions` per trajectory, at most 32 in flight, the grammar in
  `structured_outputs`, the score read with the paper's regex `<score>\\s*([\\d.]+)\\s*</score>`.
- **Each way starts fresh** for each shape, and each gets the same few warm-up items first, unmeasured.
- Throughput is judgments/s over all items, wall time from first send to last answer; token rates count the
  tokens of every judgment delivered (a cached repeat counts its original's). "engine reqs" is what the engine was
  asked to generate (for the service: its judgment cache's misses, `rrm_cache_misses_total`)."""


def gpu_section(existing_report: str | None, command: str, status: str) -> str:
    """The GPU profile's section: how to run it, and its headline when a GPU report exists."""
    lines = [
        "## GPU profile",
        "",
        "Qwen3-8B-sized settings: `bunny127/Agent-RRM` (or a local folder via `--model`), context 32,768, max_tokens "
        "1,400, unbounded blocks, the `long` preset (8k–16k-token trajectories, 8 per request) and "
        "the unscaled `grpo` preset. It runs the same three ways and writes its own report and plots:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Status: {status}",
    ]
    if existing_report:
        lines += ["", existing_report]
    return "\n".join(lines)


def targets_table(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Targets as plain data (for JSON)."""
    return [
        {"shape": t.shape, "target": t.name, "value": t.value, "goal": t.goal, "verdict": t.verdict} for t in targets
    ]

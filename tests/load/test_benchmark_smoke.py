"""The benchmark does not rot: its pieces on made-up numbers, and one real smoke run of all three ways.

The smoke (``python -m load_tests.benchmark --smoke``) starts the real service, the real offline engine and vLLM's
real OpenAI server on the demo model, each once, with a few dozen items; the full benchmark is a separate command.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import json
import pkgutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import load_tests.bench
from load_tests.bench.markdown import NOTES_END, NOTES_START, ReportInputs, keep_notes, render_markdown
from load_tests.bench.measure import ShapeResult, WayRun, evaluate_targets
from load_tests.bench.plots import plot_shape
from load_tests.bench.profiles import get_profile
from load_tests.bench.pyspy import summarize
from load_tests.stats import latency_stats

ROOT = Path(__file__).resolve().parents[2]
BENCH_MODULES = sorted(m.name for m in pkgutil.iter_modules(load_tests.bench.__path__, "load_tests.bench."))


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def _run(way: str, label: str, items: int, elapsed: float, latency: list[float] | None = None) -> WayRun:
    return WayRun(
        way=way,  # type: ignore[arg-type]
        label=label,
        items=items,
        judgments=items,
        judgments_ok=items,
        elapsed_s=elapsed,
        prompt_tokens=items * 1000,
        completion_tokens=items * 100,
        in_flight=8,
        latency=latency_stats(latency or []),
        engine_requests=items,
    )


def _fake_result() -> ShapeResult:
    result = ShapeResult("grpo", 8, repeats=2)
    result.ceiling = _run("ceiling", "all at once", 64, 4.0)
    result.sweep = [_run("service", "c=1 x 8", 32, 4.0, [1.0] * 32), _run("service", "c=4 x 8", 64, 3.5, [2.0] * 64)]
    result.open_loop = _run("service-open", "open loop", 40, 5.0, [1.0] * 39 + [3.0])
    result.open_loop_even = dataclasses.replace(
        _run("service-open", "open loop, even", 40, 5.0, [1.0] * 40), service_cpu_s=0.02
    )
    result.paper = _run("paper", "32 in flight", 64, 8.0, [0.5] * 64)
    result.checks = {"prompt_tokens": {"ceiling": 64000, "paper": 64000, "service": 64000}, "prompts_identical": True}
    return result


def test_targets_report_and_plot(tmp_path: Path) -> None:
    result = _fake_result()
    assert result.saturation is result.sweep[1]
    targets = {t.name: t for t in evaluate_targets(result)}
    assert targets["service / ceiling"].value == pytest.approx((64 / 3.5) / 16)
    assert targets["service / paper's way"].goal == 2.0 and targets["service / paper's way"].verdict == "PASS"
    assert targets["p99 / p50 at 70% load"].met is False  # one 3 s outlier among 1 s answers: p99 ≈ 2.2 s
    assert targets["p99 / p50 at 70% load, even"].value == pytest.approx(1.0)
    assert result.open_loop_even is not None and result.open_loop_even.cpu_us_per_item == pytest.approx(500.0)
    plot = plot_shape(result, tmp_path / "grpo.png", subtitle="made-up numbers")
    assert plot.stat().st_size > 10_000
    out = tmp_path / "B.md"
    out.write_text(f"old\n{NOTES_START}\nkept by hand\n{NOTES_END}\n")
    inputs = ReportInputs(get_profile("smoke"), "cmd", "today", {"CPU": "x"}, {"grpo": "grpo.png"}, keep_notes(out))
    text = render_markdown([result], list(targets.values()), inputs)
    assert (
        "kept by hand" in text
        and "![grpo" in text
        and "(saturation)" in text
        and "| grpo | service / ceiling |" in text
        and "open loop, even" in text
        and "500 µs/item, 500 µs per 1k prompt tokens" in text
    )


def test_pyspy_summary(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        'process 1:"python -m service";thread (0x1);run (asyncio/base_events.py);judge (service/serving.py);'
        "encode (tokenizers/__init__.py) 30\n"
        'process 1:"python -m service";thread (0x1);run (asyncio/base_events.py);loads (json/__init__.py) 10\n'
        'process 2:"engine core";thread (0x2);step (vllm/v1/engine/core.py) 20\n'
    )
    summary = summarize(raw)
    assert summary.samples == 40 and summary.process.startswith("process 1")
    assert summary.own_inclusive == [("judge (service/serving.py)", 0.75)]
    assert summary.leaves[0] == ("encode (tokenizers/__init__.py)", 0.75)


@pytest.mark.integration
def test_benchmark_smoke_runs_all_three_ways(tmp_path: Path) -> None:
    out, data_path = tmp_path / "BENCHMARKS.md", tmp_path / "bench.json"
    argv = [sys.executable, "-m", "load_tests.benchmark", "--smoke", "--out", str(out), "--json", str(data_path)]
    argv += ["--plots-dir", str(tmp_path / "plots"), "--scratch", str(tmp_path / "scratch")]
    bench = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = bench.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        bench.send_signal(signal.SIGINT)  # the benchmark then stops the servers it started (each in its own session)
        try:
            _, stderr = bench.communicate(timeout=90)
        finally:
            bench.kill()
        pytest.fail(f"the smoke benchmark ran past 400 s:\n{stderr[-4000:]}")
    assert bench.returncode == 0, stderr[-4000:]
    data = json.loads(data_path.read_text())
    shapes = {s["shape"]: s for s in data["shapes"]}
    assert set(shapes) == {plan.name for plan in get_profile("smoke").shapes}
    for shape in shapes.values():
        runs = [shape["ceiling"], shape["open_loop"], shape["open_loop_even"], shape["paper"], *shape["sweep"]]
        for run in runs:
            assert run["judgments"] == run["items"] > 0 and run["judgments_per_s"] > 0, run
            assert run["prompt_tokens"] > 0 and run["completion_tokens"] > 0, run
        assert all(r["latency"]["p50"] > 0 for r in runs if r["way"] != "ceiling")
        assert all(r["service_cpu_s"] > 0 for r in runs if r["way"].startswith("service"))
        assert shape["checks"]["prompts_identical"], shape["checks"]
        # Exact repeats inside GRPO groups never reach the engine.
        top = shape["sweep"][-1]
        assert shape["repeats"] > 0 and top["engine_requests"] == top["items"] - shape["repeats"]
        assert shape["checks"]["repeats_reaching_engine"] == 0
    assert all(t["value"] is not None for t in data["targets"])
    assert (tmp_path / "plots" / "smoke-grpo.png").stat().st_size > 10_000
    assert "paper's way" in out.read_text()

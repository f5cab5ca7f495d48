"""Judgments per second through `serve-reward`, sent the way OpenRLHF sends them, against the same items sent to the
judge's /judge directly.

    python -m load_tests.reward_server_bench                   # starts the demo judge and serve-reward itself
    python -m load_tests.reward_server_bench --url http://127.0.0.1:8000 --requests 512

OpenRLHF (0.11.2, `openrlhf/utils/agent.py`) sends one reward request per sample as soon as the sample's generation
ends, each on a new aiohttp session with a 180 s total timeout, trying 5 times with 1 s pauses; with its defaults
(`--rollout.batch_size 1024`, one sample per prompt) up to 1024 are in flight, and nothing on its side limits them.
Here all `--requests` are sent at once that way. The same items then go to /judge directly, twice: one item per
request, all at once (what serve-reward itself does), and in the service's own batches (`--batch` items per request,
at most `--batch-concurrency` requests at once: the batched ceiling). Every run starts from an empty judge cache
(each run's trajectories differ by a run tag), and the three are measured in turn, `--rounds` times, reporting the
median. Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .bench import procs

__all__ = ["main"]

PROMPT = "<|im_start|>user\nWhat is {a} + {b}? Put the final answer in \\boxed{{}}.<|im_end|>\n<|im_start|>assistant\n"
OPENRLHF_TIMEOUT_S = 180.0
OPENRLHF_TRIES = 5


@dataclass
class Sample:
    prompt: str
    response: str
    label: str
    question: str


def samples(n: int, tag: str) -> list[Sample]:
    out = []
    for k in range(n):
        a, b = 10 + k % 90, 7 + (k * 13) % 80
        answer = a + b if k % 3 else a + b + 1  # a third wrong
        response = f"Adding {a} and {b} gives {answer} (run {tag}, sample {k}). The answer is \\boxed{{{answer}}}."
        out.append(Sample(PROMPT.format(a=a, b=b), response, str(a + b), f"What is {a} + {b}?"))
    return out


async def _post(url: str, body: dict[str, Any]) -> tuple[float, int, Any]:
    """One request as OpenRLHF sends it: a fresh session, 180 s total, 5 tries with 1 s pauses."""
    started = time.monotonic()
    status = 0
    for _ in range(OPENRLHF_TRIES):
        try:
            timeout = aiohttp.ClientTimeout(total=OPENRLHF_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, json=body) as response:
                status = response.status
                response.raise_for_status()
                return time.monotonic() - started, status, await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            await asyncio.sleep(1.0)
    return time.monotonic() - started, status, None


async def via_serve_reward(base: str, items: list[Sample]) -> dict[str, Any]:
    started = time.monotonic()
    bodies = [{"query": [s.prompt + s.response], "prompts": [s.prompt], "labels": [s.label]} for s in items]
    results = await asyncio.gather(*(_post(f"{base}/get_reward", b) for b in bodies))
    wall = time.monotonic() - started
    ok = [r for r in results if r[2] is not None]
    judged = sum(int(r[2]["extra_logs"]["judge_ok"][0]) for r in ok)
    return _summary(wall, [r[0] for r in results], answered=len(ok), judged=judged)


async def via_judge(base: str, items: list[Sample], *, batch: int, concurrency: int) -> dict[str, Any]:
    limit = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def send(chunk: list[Sample]) -> tuple[float, int, Any]:
        async with limit:
            body = {"items": [{"question": s.question, "trajectory": s.response} for s in chunk]}
            return await _post(f"{base}/judge", body)

    chunks = [items[k : k + batch] for k in range(0, len(items), batch)]
    results = await asyncio.gather(*(send(c) for c in chunks))
    wall = time.monotonic() - started
    answered = sum(len(c) for c, r in zip(chunks, results, strict=True) if r[2] is not None)
    judged = sum(sum(j["status"] == "ok" for j in r[2]["judgments"]) for r in results if r[2] is not None)
    latencies = [r[0] for c, r in zip(chunks, results, strict=True) for _ in c]
    return _summary(wall, latencies, answered=answered, judged=judged)


def _summary(wall: float, latencies: list[float], *, answered: int, judged: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "wall_s": wall,
        "answered": answered,
        "judged_ok": judged,
        "judgments_per_s": answered / wall if wall > 0 else 0.0,
        "p50_s": ordered[len(ordered) // 2],
        "p95_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = sorted(runs, key=lambda r: r["judgments_per_s"])[len(runs) // 2]
    return {**best, "all_judgments_per_s": [round(r["judgments_per_s"], 2) for r in runs]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--url", help="a running judge (default: start the demo judge)")
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=64, help="judge output budget when starting the demo judge")
    parser.add_argument("--batch", type=int, default=64, help="items per /judge request in the batched run")
    parser.add_argument("--batch-concurrency", type=int, default=8, help="batched /judge requests at once")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rrm-reward-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = procs.bench_env(scratch, demo=True)
        started: list[procs.Proc] = []
        try:
            judge = args.url
            if judge is None:
                port = procs.free_port()
                argv_ = [sys.executable, "-m", "service", "--model", "demo", "--host", "127.0.0.1", "--port", str(port)]
                # The demo judge's bounds that end every judgment within 64 tokens (the benchmark smoke profile's).
                argv_ += ["--max-tokens", str(args.max_tokens), "--think-max-chars", "12", "--critique-max-chars", "8"]
                argv_ += ["--max-model-len", "4096", "--log-level", "warning"]
                started.append(procs.Proc("judge", argv_, env, scratch / "judge.log"))
                judge = f"http://127.0.0.1:{port}"
                procs.wait_http(f"{judge}/readyz", started[-1], timeout=900)
            reward_port = procs.free_port()
            argv_ = [sys.executable, "-m", "trainer_client", "serve-reward", "--url", judge, "--port", str(reward_port)]
            started.append(procs.Proc("serve-reward", argv_, env, scratch / "serve-reward.log"))
            reward = f"http://127.0.0.1:{reward_port}"
            procs.wait_http(f"{reward}/healthz", started[-1], timeout=60)

            runs: dict[str, list[dict[str, Any]]] = {"serve-reward": [], "judge-single": [], "judge-batched": []}
            asyncio.run(via_judge(judge, samples(16, "warm-up"), batch=1, concurrency=16))  # compile, warm caches
            for round_ in range(args.rounds):
                for name in runs:
                    items = samples(args.requests, f"{round_}-{name}")
                    if name == "serve-reward":
                        result = asyncio.run(via_serve_reward(reward, items))
                    elif name == "judge-single":
                        result = asyncio.run(via_judge(judge, items, batch=1, concurrency=len(items)))
                    else:
                        result = asyncio.run(
                            via_judge(judge, items, batch=args.batch, concurrency=args.batch_concurrency)
                        )
                    runs[name].append(result)
                    print(f"round {round_ + 1} {name}: {result['judgments_per_s']:.2f} judgments/s", file=sys.stderr)
            banner = started[-1].tail().splitlines()[:1]
        finally:
            for proc in reversed(started):
                proc.stop()

    medians = {name: _median(rs) for name, rs in runs.items()}
    base = medians["judge-single"]["judgments_per_s"]
    print(f"{args.requests} single-sample requests, all at once (OpenRLHF's way); median of {args.rounds} rounds\n")
    print("| path | judgments/s | vs /judge, one item per request | p50 s | p95 s | answered | judged ok |")
    print("|---|---|---|---|---|---|---|")
    for name, m in medians.items():
        ratio = m["judgments_per_s"] / base if base else float("nan")
        print(
            f"| {name} | {m['judgments_per_s']:.2f} | {ratio:.2f}× | {m['p50_s']:.1f} | {m['p95_s']:.1f} "
            f"| {m['answered']} | {m['judged_ok']} |"
        )
    print(json.dumps({"requests": args.requests, "serve_reward": banner, "results": medians}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

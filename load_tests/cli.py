"""Command line of the load driver (``python -m load_tests.driver``).

Example:
    python -m load_tests.driver --url http://127.0.0.1:8000 --preset short --mode closed \\
        --concurrency 8 --requests 50 --items-per-request 8 --json out.json

The human summary goes to stdout, the live progress line to stderr, the full report to ``--json`` (``-``:
stdout, and the summary moves to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from load_tests.config import LoadConfig
from load_tests.driver import run_load
from load_tests.report import format_summary
from load_tests.target import RemoteTargetError
from load_tests.workload import PRESETS, Item

__all__ = ["build_parser", "config_from_args", "main", "read_workload"]


def build_parser() -> argparse.ArgumentParser:
    """The driver's argument parser."""
    p = argparse.ArgumentParser(prog="python -m load_tests.driver", description="Send load to the judge service.")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL (loopback unless --allow-remote)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback URL")
    p.add_argument("--preset", choices=sorted(PRESETS), default="short")
    p.add_argument(
        "--workload", type=Path, help="JSONL of request bodies (from load_tests.workload) instead of --preset"
    )
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--concurrency", type=int, default=8, help="closed loop: requests in flight")
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument("--arrival", choices=("poisson", "constant"), default="poisson", help="open loop: gaps")
    p.add_argument("--max-in-flight", type=int, default=256, help="open loop: cap on outstanding requests")
    p.add_argument("--requests", type=int, default=50, help="most requests to send")
    p.add_argument("--duration", type=float, default=120.0, help="send nothing after this many seconds")
    p.add_argument("--grace", type=float, default=30.0, help="then cancel what is in flight after this many seconds")
    p.add_argument("--items-per-request", type=int, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0, help="workload and arrival seed")
    p.add_argument("--http-timeout", type=float, default=300.0, help="client timeout per request, seconds")
    p.add_argument("--max-tokens", type=int, help="options.max_tokens")
    p.add_argument("--temperature", type=float, help="options.temperature")
    p.add_argument("--judge-seed", type=int, help="options.seed")
    p.add_argument("--return-reasoning", action="store_true", help="options.return_reasoning")
    p.add_argument("--timeout-s", type=float, help="options.timeout_s (the service's deadline per request)")
    p.add_argument("--api-key", default=os.environ.get("RRM_API_KEY"), help="bearer key (default: $RRM_API_KEY)")
    p.add_argument("--json", dest="json_out", help="write the report as JSON here ('-': stdout)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    """Build a `LoadConfig` from parsed arguments (raises ValueError on inconsistent settings)."""
    options: dict[str, Any] = {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "seed": args.judge_seed,
        "return_reasoning": True if args.return_reasoning else None,
        "timeout_s": args.timeout_s,
    }
    return LoadConfig(
        url=args.url,
        preset=args.preset,
        mode=args.mode,
        requests=args.requests,
        duration_s=args.duration,
        grace_s=args.grace,
        concurrency=args.concurrency,
        rate=args.rate,
        arrival=args.arrival,
        max_in_flight=args.max_in_flight,
        items_per_request=args.items_per_request,
        seed=args.seed,
        options={k: v for k, v in options.items() if v is not None},
        http_timeout_s=args.http_timeout,
        api_key=args.api_key,
        allow_remote=args.allow_remote,
    )


def read_workload(path: Path, limit: int) -> list[list[Item]]:
    """Read up to `limit` request bodies from a JSONL file and return their item lists.

    Any ``options`` in the file are ignored: the command line's option flags apply to every request.

    Example:
        >>> read_workload(Path("requests.jsonl"), 10)  # doctest: +SKIP
    """
    payloads: list[list[Item]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(payloads) >= limit:
                break
            if line.strip():
                payloads.append(json.loads(line)["items"])
    return payloads


def main(argv: Sequence[str] | None = None, *, stderr: TextIO | None = None) -> int:
    """Parse arguments, run the load, print the summary and write the JSON report; returns the exit status."""
    stderr = sys.stderr if stderr is None else stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, RemoteTargetError) as exc:
        parser.error(str(exc))
    payloads = read_workload(args.workload, config.requests) if args.workload else None
    try:
        report = asyncio.run(run_load(config, payloads=payloads, progress=None if args.no_progress else stderr))
    except RemoteTargetError as exc:
        parser.error(str(exc))
    summary_to = stderr if args.json_out == "-" else sys.stdout
    print(format_summary(report), file=summary_to)
    if args.json_out == "-":
        sys.stdout.write(report.to_json() + "\n")
    elif args.json_out:
        Path(args.json_out).write_text(report.to_json() + "\n", encoding="utf-8")
    return 0

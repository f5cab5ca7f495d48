"""Command line: `python -m trainer_client judge IN.jsonl -o OUT.jsonl --url URL` and `... serve-reward`.

`judge` streams a JSONL file of judge items (`{"question", "messages" | "trajectory", "id"?}` per line)
through the service and writes one judgment per line, in input order. It resumes: lines already in OUT are
skipped, so after an interruption (or an outage, which stops it with exit code 2) the same command carries on
where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from ._client import JudgeClient
from ._exceptions import JudgeError
from ._summary import format_summary, summarize
from ._types import JudgeItem, JudgeOptions, Judgment
from .reagent_r import DEFAULT_LAMBDA

__all__ = ["main"]

EXIT_UNAVAILABLE = 2


def _records(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line


def _completed(out: Path) -> int:
    """Judgments already written; a torn last line (killed mid-write) is cut off."""
    if not out.exists():
        return 0
    data = out.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        out.write_bytes(keep)
    return keep.count(b"\n")


class _Progress:
    def __init__(self, total: int, done: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.done, self.failed, self.stream, self.enabled = total, done, 0, stream, enabled
        self.start, self.start_done = time.monotonic(), done
        self.tty = stream.isatty()

    def update(self, judgments: list[Judgment]) -> None:
        self.done += len(judgments)
        self.failed += sum(not j.ok for j in judgments)
        if not self.enabled:
            return
        rate = (self.done - self.start_done) / max(time.monotonic() - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.done / max(self.total, 1)
        line = (
            f"judged {self.done}/{self.total} ({pct:.1f}%) | {self.failed} failed | {rate:.1f} items/s | eta {eta:.0f}s"
        )
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")


def _id_of(line: str) -> str | None:
    """The `id` of an input line that is not a valid item, if it has a readable one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    item_id = value.get("id") if isinstance(value, dict) else None
    return item_id if isinstance(item_id, str) else None


def _judge_batch(client: JudgeClient, lines: list[str], first: int, options: JudgeOptions) -> list[Judgment]:
    out: list[Judgment | None] = [None] * len(lines)
    items: list[JudgeItem] = []
    where: list[int] = []
    for k, line in enumerate(lines):
        try:
            items.append(JudgeItem.model_validate_json(line))
            where.append(k)
        except ValidationError as exc:
            detail = f"invalid input line: {exc.errors()[0]['msg']}"
            out[k] = Judgment(index=first + k, id=_id_of(line), status="failed", reason="rejected", detail=detail)
    result = client.judge(items, options=options, raise_on_error=False) if items else []
    for k, item, judgment in zip(where, items, result, strict=True):
        if judgment.reason == "rejected" and len(items) > 1:
            # One bad item makes the service refuse its whole request: re-send alone to find which.
            judgment = client.judge([item], options=options, raise_on_error=False)[0]
        out[k] = judgment.model_copy(update={"index": first + k, "id": item.id})
    return [j for j in out if j is not None]


def run_judge(args: argparse.Namespace) -> int:
    """The `judge` command; returns the exit code."""
    stderr = sys.stderr
    src, dst = Path(args.input), Path(args.output)
    total = sum(1 for _ in _records(src))
    done = _completed(dst)
    if done:
        stderr.write(f"resuming: {done} judgments already in {dst}\n")
    options = JudgeOptions(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
        return_reasoning=args.return_reasoning,
    )
    progress = _Progress(total, done, stderr, enabled=not args.no_progress)
    code = 0
    with (
        JudgeClient(args.url, api_key=args.api_key, max_retries=args.max_retries) as client,
        dst.open("a") as out,
    ):
        batch: list[str] = []
        records = _records(src)
        for _ in range(done):
            next(records, None)
        position = done
        for line in records:
            batch.append(line)
            if len(batch) == args.batch_size:
                position, code = _flush(client, batch, position, options, out, progress)
                batch = []
                if code:
                    break
        if batch and not code:
            position, code = _flush(client, batch, position, options, out, progress)
    progress.close()
    if code == EXIT_UNAVAILABLE:
        stderr.write(f"the judge service is unavailable: stopped after {position}; rerun to resume\n")
    with dst.open(encoding="utf-8") as f:
        print(format_summary(summarize(json.loads(line) for line in f if line.strip())))
    return code


def _flush(
    client: JudgeClient,
    batch: list[str],
    position: int,
    options: JudgeOptions,
    out: TextIO,
    progress: _Progress,
) -> tuple[int, int]:
    judgments = _judge_batch(client, batch, position, options)
    # Stop at the first outage so a rerun judges it again instead of keeping a failure that was not the
    # item's.
    cut = next((i for i, j in enumerate(judgments) if j.reason == "unavailable"), len(judgments))
    for judgment in judgments[:cut]:
        out.write(judgment.model_dump_json(exclude_defaults=False) + "\n")
    out.flush()
    progress.update(judgments[:cut])
    return position + cut, (EXIT_UNAVAILABLE if cut < len(judgments) else 0)


def run_serve_reward(args: argparse.Namespace) -> int:
    """The `serve-reward` command: the OpenRLHF / slime reward server."""
    import os

    from ._base import resolve_urls
    from ._client import AsyncJudgeClient
    from ._constants import ENV_API_KEY
    from .adapters._admission import FALLBACK_IN_FLIGHT, admission_limit
    from .adapters.server import make_reward_server
    from .reagent_r import AsyncReagentRScorer

    api_key = args.api_key or os.environ.get(ENV_API_KEY) or None
    in_flight = args.max_in_flight or admission_limit(resolve_urls(args.url), api_key)
    if in_flight is None:
        in_flight = FALLBACK_IN_FLIGHT
        print(
            f"serve-reward: the judge does not tell its admission limit; up to {in_flight} judgments in flight, "
            "the judge's 429s pacing the rest",
            file=sys.stderr,
        )
    client = AsyncJudgeClient(args.url, api_key=api_key, max_retries=args.max_retries, max_concurrency=in_flight)
    scorer = AsyncReagentRScorer(client, lam=args.lam, on_failure="neutral")
    server = make_reward_server(scorer, args.host, args.port)
    host, port = server.server_address[:2]
    print(
        f"reward server on http://{host!s}:{port} (POST /get_reward: OpenRLHF, POST /slime: slime); "
        f"up to {in_flight} judgments in flight",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer_client",
        description="Judge a JSONL file of trajectories, or serve Reagent-R rewards to OpenRLHF / slime.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="judge URL(s), comma-separated (default: $RRM_JUDGE_URL)")
    common.add_argument("--api-key", help="Bearer key (default: $RRM_JUDGE_API_KEY)")
    common.add_argument("--max-retries", type=int, default=5)

    judge = sub.add_parser("judge", parents=[common], help="judge a JSONL file of trajectories")
    judge.add_argument("input", help="JSONL: one judge item per line")
    judge.add_argument("-o", "--output", required=True, help="JSONL of judgments (appended to: resumes)")
    judge.add_argument("--batch-size", type=int, default=256, help="items read and written per step")
    judge.add_argument("--max-tokens", type=int)
    judge.add_argument("--temperature", type=float)
    judge.add_argument("--seed", type=int)
    judge.add_argument("--return-reasoning", action="store_true")
    judge.add_argument("--no-progress", action="store_true")
    judge.set_defaults(run=run_judge)

    serve = sub.add_parser("serve-reward", parents=[common], help="serve Reagent-R rewards to OpenRLHF / slime")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--lam", type=float, default=DEFAULT_LAMBDA, help="λ of R = R_rule + λ·score")
    serve.add_argument(
        "--max-in-flight",
        type=int,
        help="judgments in flight at once (default: the judges' admission limit, from their /info)",
    )
    serve.set_defaults(run=run_serve_reward)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer_client` and the `rrm-judge` script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (JudgeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code

"""The service's memory under slow and idle clients: RSS before, during and after a crowd of connections that
send a byte a second (headers or bodies) or sit idle on keep-alive, while normal requests keep being judged.

    python -m load_tests.slow_clients                       # starts the demo judge itself (default settings)
    python -m load_tests.slow_clients --url http://127.0.0.1:8000 --pid 1234

Each slow client reconnects when the server cuts it off (header, body or keep-alive timeout), so the crowd stays
the same size for `--seconds`. Prints one line per sample and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from .bench import procs

__all__ = ["main"]


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident memory in MiB: of `pid` (the HTTP front end, where slow clients land), and of it with its children
    (vLLM's engine core is one)."""
    own = total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        rss = int(fields.get("VmRSS", "0 kB").split()[0])
        if int(status.parent.name) == pid:
            own += rss
            total += rss
        elif fields.get("PPid", "").strip() == str(pid):
            total += rss
    return own / 1024, total / 1024


async def _crowd_member(host: str, port: int, kind: str, stop_at: float, cut: list[int]) -> None:
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        try:
            if kind == "idle":
                writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                await writer.drain()
            elif kind == "header":
                writer.write(b"GET /healthz HTTP/1.1\r\n")
            elif kind == "body":
                writer.write(b"POST /judge HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
                await writer.drain()
            payload = b"x-slow: " if kind == "header" else b" "  # then one byte a second
            while time.monotonic() < stop_at and not reader.at_eof():
                if kind != "idle":
                    writer.write(payload[:1])
                    payload = payload[1:] or b"a"
                    await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(65536), 1.0)  # a byte a second; notice when cut off
            cut.append(1)
        except OSError:
            cut.append(1)
        finally:
            writer.close()


async def measure(url: str, pid: int, clients: int, idle: int, seconds: float, every_s: float) -> dict[str, object]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    before = rss_mib(pid)
    print(f"before: {before[0]:.0f} MiB (with the engine core {before[1]:.0f} MiB)", file=sys.stderr)
    stop_at = time.monotonic() + seconds
    cut: list[int] = []
    kinds = ["header"] * (clients // 2) + ["body"] * (clients - clients // 2) + ["idle"] * idle
    crowd = [asyncio.create_task(_crowd_member(host, port, k, stop_at, cut)) for k in kinds]
    samples: list[tuple[float, float]] = []
    codes: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        started = time.monotonic()
        while time.monotonic() < stop_at:
            body = {"items": [{"question": f"meanwhile {len(codes)}", "trajectory": "t"}]}
            codes.append((await client.post("/judge", json=body)).status_code)
            samples.append(rss_mib(pid))
            own, total = samples[-1]
            line = f"t={time.monotonic() - started:4.0f} s: {own:.0f} MiB ({total:.0f}), cut off {len(cut)}"
            print(line, file=sys.stderr)
            await asyncio.sleep(every_s)
    await asyncio.gather(*crowd)
    await asyncio.sleep(2)
    after = rss_mib(pid)
    print(f"after: {after[0]:.0f} MiB (with the engine core {after[1]:.0f} MiB)", file=sys.stderr)
    return {
        "clients_slow": clients,
        "clients_idle": idle,
        "seconds": seconds,
        "rss_before_mib": round(before[0]),
        "rss_during_min_mib": round(min(own for own, _ in samples)),
        "rss_during_max_mib": round(max(own for own, _ in samples)),
        "rss_after_mib": round(after[0]),
        "rss_with_engine_core_before_during_max_after_mib": [
            round(before[1]),
            round(max(total for _, total in samples)),
            round(after[1]),
        ],
        "connections_cut_off": len(cut),
        "normal_requests": len(codes),
        "normal_requests_ok": codes.count(200),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--url", help="a running judge (default: start the demo judge)")
    parser.add_argument("--pid", type=int, help="the running judge's process id (with --url)")
    parser.add_argument("--clients", type=int, default=200, help="slow clients (half headers, half bodies)")
    parser.add_argument("--idle", type=int, default=200, help="idle keep-alive clients")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rrm-slow-clients-") as scratch_dir:
        scratch = Path(scratch_dir)
        started: list[procs.Proc] = []
        try:
            url, pid = args.url, args.pid
            if url is None:
                port = procs.free_port()
                argv_ = [
                    sys.executable,
                    "-m",
                    "service",
                    "--model",
                    "demo",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ]
                started.append(procs.Proc("judge", argv_, procs.bench_env(scratch, demo=True), scratch / "judge.log"))
                url, pid = f"http://127.0.0.1:{port}", started[-1].pid
                procs.wait_http(f"{url}/readyz", started[-1], timeout=900)
            if pid is None:
                parser.error("--pid is needed with --url")
            result = asyncio.run(measure(url, pid, args.clients, args.idle, args.seconds, args.every))
        finally:
            for proc in started:
                proc.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

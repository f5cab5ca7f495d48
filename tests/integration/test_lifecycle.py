"""Process life cycle on real `python -m service` processes: drain on SIGTERM, exit non-zero when the engine dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRATCH, ServerProcess, free_port, wait_ready

pytestmark = pytest.mark.integration


def start(*flags: str, name: str) -> ServerProcess:
    server = ServerProcess(free_port(), SCRATCH / f"{name}.log", extra_args=list(flags))
    try:
        asyncio.run(wait_ready(server.url, lambda: server.proc.poll() is not None))
    except BaseException:
        server.stop()
        raise
    return server


def engine_core_processes(pid: int) -> list[int]:
    """Children of `pid` that are vLLM engine cores (titled VLLM::EngineCore; not the resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cmdline = (stat.parent / "cmdline").read_bytes()
        if int(fields[1]) == pid and (b"EngineCore" in cmdline or b"spawn_main" in cmdline):
            found.append(int(stat.parent.name))
    return found


def long_items(n: int, tag: str, max_tokens: int = 600) -> dict[str, object]:
    # Free-text decoding (the server runs without the grammar) runs every item to max_tokens: seconds of work.
    return {
        "items": [{"question": f"{tag} {i}", "trajectory": "t " * 40} for i in range(n)],
        "options": {"max_tokens": max_tokens},
    }


def test_sigterm_drains_admitted_work_then_exits_cleanly() -> None:
    server = start("--no-structured-output", "--drain-grace-s", "60", name="drain")
    try:

        async def scenario() -> tuple[list[httpx.Response], int, int, float, int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
                # 64 items of 250 free-text tokens: several seconds of engine work on the demo model.
                admitted = [
                    asyncio.create_task(client.post("/judge", json=long_items(16, f"r{k}", max_tokens=250)))
                    for k in range(4)
                ]
                while "rrm_items_pending 64.0" not in (await client.get("/metrics")).text:
                    await asyncio.sleep(0.05)
                os.kill(server.proc.pid, signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.sleep(0.3)
                refused = (await client.post("/judge", json=long_items(1, "late"))).status_code
                ready = (await client.get("/readyz")).status_code
                unanswered = sum(not task.done() for task in admitted)
                responses = await asyncio.gather(*admitted)
                return responses, refused, ready, signalled, unanswered

        responses, refused, ready, signalled, unanswered = asyncio.run(scenario())
        code = server.proc.wait(timeout=60)
        exited_after = time.monotonic() - signalled
    finally:
        server.stop()
    assert refused == 503 and ready == 503
    # The drain held real work: admitted requests were still unanswered after the refusal was seen.
    assert unanswered > 0
    assert [r.status_code for r in responses] == [200] * 4
    assert all(len(r.json()["judgments"]) == 16 for r in responses)
    assert all(j["reason"] != "aborted" for r in responses for j in r.json()["judgments"])
    assert code == 0 and exited_after < 60


def test_a_killed_engine_fails_requests_fast_and_the_process_exits_non_zero() -> None:
    server = start("--no-structured-output", name="killed-engine")
    try:
        engine_cores = engine_core_processes(server.proc.pid)
        assert engine_cores, "vLLM's engine core process was not found"

        async def scenario() -> tuple[int, float]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
                request = asyncio.create_task(client.post("/judge", json=long_items(8, "doomed")))
                while "rrm_items_in_flight 8.0" not in (await client.get("/metrics")).text:
                    await asyncio.sleep(0.05)
                for pid in engine_cores:
                    os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
                response = await request
                return response.status_code, time.monotonic() - killed

        status, waited = asyncio.run(scenario())
        code = server.proc.wait(timeout=60)
    finally:
        server.stop()
    assert status == 503 and waited < 10, (status, waited)
    assert code != 0

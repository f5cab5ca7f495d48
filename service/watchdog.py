"""Engine watchdog: an engine that died or stopped computing makes the process exit, so it gets restarted.

Progress means tokens: with requests in the engine, the engine must complete a step (prefill or decode, for any
request) within the stall timeout. A busy engine running one very long generation completes steps many times a
second, so it is never taken for a stalled one; an engine that stopped computing completes none.
"""

from __future__ import annotations

import asyncio
import time

from service.engine import EngineDead, EngineError
from service.lifecycle import Lifecycle
from service.serving import JudgeService

__all__ = ["watch_engine"]


async def watch_engine(judge: JudgeService, lifecycle: Lifecycle, interval_s: float, stall_timeout_s: float) -> None:
    """Every `interval_s`: ask the judge for the engine's health; with requests in the engine, require an engine
    step within `stall_timeout_s`; when idle, require a one-token probe generation to come back within it. An
    engine that fails any of these fails the service (`lifecycle.fail`)."""
    _, seen = judge.progress()
    last_step = time.monotonic()
    while lifecycle.failure is None:
        await asyncio.sleep(interval_s)
        try:
            await judge.check_health()
            in_flight, steps = judge.progress()
            now = time.monotonic()
            if steps != seen or not in_flight:  # a stall is counted only while requests are in the engine
                seen, last_step = steps, now
            if in_flight:
                if now - last_step > stall_timeout_s:
                    raise EngineDead(
                        f"the engine computed no tokens for {now - last_step:.0f} s with {in_flight} requests in it"
                    )
            else:
                await asyncio.wait_for(judge.probe(f"probe-{time.monotonic_ns()}"), stall_timeout_s)
                last_step = time.monotonic()
        except TimeoutError:
            lifecycle.fail(f"the engine did not answer a probe within {stall_timeout_s:.0f} s")
            return
        except EngineError as exc:  # EngineDead included: any failing probe means the engine cannot serve
            lifecycle.fail(str(exc) or type(exc).__name__)
            return

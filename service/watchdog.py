"""Engine watchdog: an engine that died or stopped making progress makes the process exit, so it gets restarted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from service.engine import EngineDead, EngineError, Sampling
from service.serving import JudgeService

__all__ = ["watch_engine"]


async def watch_engine(
    judge: JudgeService, probe_ids: list[int], interval_s: float, stall_timeout_s: float, on_dead: Callable[[str], None]
) -> None:
    """Every `interval_s`: ask the engine for its health; with work in flight, require progress within
    `stall_timeout_s`; when idle, require a one-token probe generation to come back within it."""
    while judge.dead is None:
        await asyncio.sleep(interval_s)
        try:
            await judge.engine.check_health()
            if judge.in_flight:
                stalled = time.monotonic() - judge.last_progress
                if stalled > stall_timeout_s:
                    raise EngineDead(f"the engine made no progress for {stalled:.0f} s with work in flight")
            else:
                probe = judge.engine.generate(probe_ids, Sampling(max_tokens=1), f"probe-{time.monotonic_ns()}")
                await asyncio.wait_for(probe, stall_timeout_s)
                judge.last_progress = time.monotonic()
        except TimeoutError:
            on_dead(f"the engine did not answer a probe within {stall_timeout_s:.0f} s")
            return
        except EngineError as exc:  # EngineDead included: any failing probe means the engine cannot serve
            on_dead(str(exc) or type(exc).__name__)
            return

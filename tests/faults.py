"""A fault-injecting wrapper around the real engine: the only test double the service's tests use.

Everything passes through to the real vLLM engine until a fault is switched on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.engine import Engine, EngineDead, EngineError, Generation, Sampling


class FaultyEngine:
    def __init__(self, real: Engine) -> None:
        self.real = real
        self.model_name = real.model_name
        self.max_model_len = real.max_model_len
        self.tokenizer = real.tokenizer
        self.dead = False  # every call raises EngineDead, as vLLM does once its engine core is gone
        # Judgments' generate never returns and the engine's step count stands still: an engine that stopped
        # computing with requests in it (the service's own idle probes still pass, so the stall is what is seen).
        self.hang = False
        self.fail_prompts_containing: str | None = None  # requests whose prompt holds this text raise EngineError
        self.raise_unexpected = False  # judgments' generate raises what the service does not expect: a bug
        self.progress_bug = False  # progress() raises what nobody expects: a bug in the watchdog's own task
        self.delay_s = 0.0
        self.calls = 0  # requests made for judgments
        self._frozen_progress: int | None = None

    async def generate(self, prompt_token_ids: list[int], sampling: Sampling, request_id: str) -> Generation:
        judging = not request_id.startswith(("probe-", "warmup"))  # not one of the service's own health probes
        if judging:
            self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.dead:
            raise EngineDead("injected: the engine core is gone")
        if self.hang and judging:
            await asyncio.Event().wait()
        if self.raise_unexpected and judging:
            raise RuntimeError("injected: a bug")
        poison = self.fail_prompts_containing
        if poison is not None and poison in self.tokenizer.decode(prompt_token_ids):
            raise EngineError("injected: this request failed in the engine")
        return await self.real.generate(prompt_token_ids, sampling, request_id)

    async def check_health(self) -> None:
        if self.dead:
            raise EngineDead("injected: the engine core is gone")
        await self.real.check_health()

    def progress(self) -> int:
        if self.progress_bug:
            raise RuntimeError("injected: a bug in the watchdog's task")
        if not self.hang:
            self._frozen_progress = None
            return self.real.progress()
        if self._frozen_progress is None:
            self._frozen_progress = self.real.progress()
        return self._frozen_progress

    def info(self) -> dict[str, Any]:
        return self.real.info()

    async def shutdown(self) -> None:
        """The real engine belongs to the test session; it is not shut down with one app."""

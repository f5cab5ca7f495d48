"""The application state that handlers read from `app.state.rrm`, and the drain (the life cycle itself is
`service.lifecycle.Lifecycle`)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from service.lifecycle import Lifecycle
from service.metrics import Metrics
from service.rendering import PromptTemplate
from service.serving import JudgeService
from service.settings import Settings
from service.template_source import configured_prompt

__all__ = ["AppState"]

log = logging.getLogger(__name__)


class AppState:
    """What the handlers need, built once and kept on `app.state.rrm`."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        # The system prompt is settled before anything else: a refused released prompt stops the start-up here.
        self.system_prompt = configured_prompt(settings)
        log.info("system prompt: %s, from %s", self.system_prompt.name, self.system_prompt.source)
        self.api_keys = settings.load_api_keys()
        self.lifecycle = Lifecycle(metrics)
        self.lifecycle.on_failure(self._stop_server)
        self.judge: JudgeService | None = None
        self.started_at = time.time()
        self.server: Any = None  # the uvicorn.Server, when run by `python -m service`

    @property
    def template(self) -> PromptTemplate | None:
        """The prompt template bound to the served tokenizer; None until the engine (and its tokenizer) is loaded."""
        return self.judge.template if self.judge is not None else None

    def fail(self, reason: str) -> None:
        """The process cannot serve (see Lifecycle.fail)."""
        self.lifecycle.fail(reason)

    def _stop_server(self, reason: str) -> None:
        if self.server is not None:
            self.server.should_exit = True  # `python -m service` then exits non-zero

    async def drain(self) -> None:
        """Stop taking work, let admitted work finish within the grace period, then ask the server to exit."""
        if not self.lifecycle.start_draining():
            return
        grace = self.settings.drain_grace_s
        log.info("draining: refusing new work, up to %.0f s for admitted work", grace)
        deadline = time.monotonic() + grace
        while self.judge is not None and self.judge.admission.items > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.judge is not None and self.judge.admission.items > 0:
            log.warning("grace period over with %d items pending: ending them", self.judge.admission.items)
            self.judge.end_all("the service is shutting down (drain grace period over)")
        log.info("drained")
        if self.server is not None:
            self.server.should_exit = True

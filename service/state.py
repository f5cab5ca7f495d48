"""The application state that handlers read from `app.state.rrm`; built once in create_app."""

from __future__ import annotations

import logging
import time
from typing import Any

from service.metrics import Metrics
from service.rendering import load_template
from service.serving import JudgeService
from service.settings import Settings

__all__ = ["AppState"]

log = logging.getLogger(__name__)


class AppState:
    """What the handlers need, built once and kept on `app.state.rrm`."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.template = load_template(settings.template_file)
        self.judge: JudgeService | None = None
        self.ready = False
        self.fatal_error: str | None = None
        self.started_at = time.time()
        self.server: Any = None  # the uvicorn.Server, when run by `python -m service`

    def fail(self, message: str) -> None:
        """The process cannot serve: record why and ask the server to exit (the exit code becomes non-zero)."""
        log.error("fatal: %s", message)
        self.fatal_error = message
        self.ready = False
        self.metrics.ready.set(0)
        if self.server is not None:
            self.server.should_exit = True

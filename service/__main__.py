"""`python -m service --model MODEL --host HOST --port PORT`: every setting is also an `RRM_*` variable."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn
from pydantic_settings import CliApp

from service.engine.versions import UntestedVllm, check_vllm
from service.settings import Settings
from service.state import AppState


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM/SIGINT drains (readiness off, new work 503, admitted work finishes) before it
    stops; a second signal stops at once."""

    def __init__(self, config: uvicorn.Config, state: AppState) -> None:
        super().__init__(config)
        self.state = state
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT) and self._drain_task is None and not self.should_exit:
            self._drain_task = asyncio.get_running_loop().create_task(self.state.drain())
            return
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> int:
    settings = CliApp.run(Settings, cli_args=sys.argv[1:] if argv is None else argv)
    from service.app import create_app
    from service.logs import configure_logging
    from service.template_source import TemplateUnavailable

    configure_logging(settings.log_level)
    try:
        warning = check_vllm(settings.allow_untested_vllm)
    except UntestedVllm as exc:
        # Before anything starts: an orchestrator sees the exit code and the reason, not a half-working engine.
        logging.getLogger("service").error("fatal: %s", exc)
        return 2
    if warning:
        logging.getLogger("service").warning("%s", warning)
    try:
        app = create_app(settings)
    except TemplateUnavailable as exc:
        logging.getLogger("service").error("refusing to start: %s", exc)
        return 2
    state: Any = app.state.rrm
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,  # after the drain: only idle keep-alive connections are left to close
    )
    server = DrainingServer(config, state)
    state.server = server
    server.run()
    # A server that stopped because the engine could not serve exits non-zero, so an orchestrator restarts it.
    return 1 if state.lifecycle.failure else 0


if __name__ == "__main__":
    sys.exit(main())

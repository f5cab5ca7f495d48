"""`python -m service --model MODEL --host HOST --port PORT`: every setting is also an `RRM_*` variable."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pydantic_settings import CliApp

from service.engine.versions import UntestedVllm, check_vllm
from service.server import DrainingServer, server_config
from service.settings import Settings


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
    server = DrainingServer(server_config(app, settings), state)
    state.server = server
    server.run()
    # A server that stopped because the engine could not serve exits non-zero, so an orchestrator restarts it.
    return 1 if state.lifecycle.failure else 0


if __name__ == "__main__":
    sys.exit(main())

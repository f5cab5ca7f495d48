"""`python -m service --model MODEL --host HOST --port PORT`: every setting is also an `RRM_*` variable."""

from __future__ import annotations

import sys

from pydantic_settings import CliApp

from service.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = CliApp.run(Settings, cli_args=sys.argv[1:] if argv is None else argv)
    import uvicorn

    from service.app import create_app
    from service.logs import configure_logging

    configure_logging(settings.log_level)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_config=None, access_log=False, timeout_keep_alive=30
        )
    )
    app.state.rrm.server = server
    server.run()
    # A server that stopped because the engine could not serve exits non-zero, so an orchestrator restarts it.
    return 1 if app.state.rrm.fatal_error else 0


if __name__ == "__main__":
    sys.exit(main())

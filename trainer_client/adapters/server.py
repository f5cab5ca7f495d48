"""A small stdlib HTTP server that RL frameworks can call for Reagent-R rewards (no web framework needed).

Routes:
    POST /get_reward   OpenRLHF remote reward (`--reward.remote_url`)
    POST /slime        slime remote RM (`--rm-url`)
    GET  /healthz      200 "ok"

Each request runs in its own thread and shares one `JudgeClient` (and so its retries, routing and concurrency
limit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .._exceptions import AuthenticationError, PermissionDeniedError
from ..reagent_r import ReagentRScorer
from .openrlhf import handle_openrlhf
from .slime import handle_slime

__all__ = ["make_reward_server"]

_log = logging.getLogger("trainer_client.reward_server")
_MAX_BODY = 64 * 2**20

Handler = Callable[[Mapping[str, Any], ReagentRScorer], dict[str, Any]]
_ROUTES: dict[str, Handler] = {"/get_reward": handle_openrlhf, "/slime": handle_slime}


def _phrase(text: str) -> str:
    """A status line's reason phrase: one line of printable Latin-1, at most 300 characters."""
    line = " ".join(text.split())[:300]
    return line.encode("latin-1", "replace").decode("latin-1")


def _handler_class(scorer: ReagentRScorer) -> type[BaseHTTPRequestHandler]:
    class RewardHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: dict[str, Any], reason: str | None = None) -> None:
            data = json.dumps(body).encode()
            # The reason phrase carries the message too: OpenRLHF's and slime's clients log only the status line.
            self.send_response(status, _phrase(reason) if reason else None)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            handler = _ROUTES.get(self.path.split("?")[0])
            if handler is None:
                self._reply(404, {"error": f"no route {self.path}; use one of {sorted(_ROUTES)}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._reply(413, {"error": "body too large"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                self._reply(200, handler(payload, scorer))
            except (ValueError, KeyError, TypeError) as exc:
                self._reply(400, {"error": str(exc)}, reason=f"Bad Request: {exc}")
            except (AuthenticationError, PermissionDeniedError) as exc:
                self._reply(502, {"error": f"the judge refused our key: {exc}"})

        def log_message(self, format: str, *args: Any) -> None:
            _log.debug("%s " + format, self.address_string(), *args)

    return RewardHandler


def make_reward_server(scorer: ReagentRScorer, host: str = "127.0.0.1", port: int = 5000) -> ThreadingHTTPServer:
    """Build (not start) the reward server; call `.serve_forever()` on it, or run it in a thread.

    Args:
        scorer: The `ReagentRScorer` answering every route (use `on_failure="rule_only"`).
        host: Interface to bind.
        port: Port to bind (0: any free port; read it back from `server.server_address`).

    Returns:
        A `ThreadingHTTPServer`.

    Example:
        >>> from trainer_client import JudgeClient, ReagentRScorer
        >>> server = make_reward_server(ReagentRScorer(JudgeClient("http://judge:8000")), port=0)
        >>> server.server_address[1] > 0
        True
        >>> server.server_close()
    """
    server = ThreadingHTTPServer((host, port), _handler_class(scorer))
    server.daemon_threads = True
    return server

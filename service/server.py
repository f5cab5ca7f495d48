"""The HTTP server around the app: uvicorn, with a request-header timeout of our own, and the drain on SIGTERM.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a client that opens a connection and
sends its request line and headers a byte at a time: `HeaderTimeoutProtocol` answers such a client 408 (in the one
JSON error shape, with a request id) and closes the connection. Slow bodies are bounded in the app
(`service.http.BodyLimitMiddleware`), where the request id and the error shape are at hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import uuid
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.protocol import ErrorBody, ErrorResponse
from service.settings import Settings

__all__ = ["DrainingServer", "HeaderTimeoutProtocol", "server_config"]

log = logging.getLogger("service.access")


def error_bytes(code: int, reason: str, message: str, type_: str, request_id: str) -> bytes:
    """A whole HTTP/1.1 error response in the one JSON shape (service.errors), closing the connection."""
    error = ErrorResponse(error=ErrorBody(type=type_, message=message, code=code, request_id=request_id))
    body = error.model_dump_json().encode("ascii")
    head = (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\nx-request-id: {request_id}\r\n\r\n"
    )
    return head.encode("ascii") + body


MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers; httptools itself sets no bound


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus: a request's line and headers must be complete within `header_timeout_s`
    of the connection opening (or, on a kept-alive connection, of the next request's first byte), and hold at most
    MAX_HEAD_BYTES (else 431)."""

    header_timeout_s = 10.0  # set per server by server_config

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._request_begun = False
        self._head_bytes = 0
        self._head_too_large = False
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout_s, self._headers_too_slow
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_too_large and not self.transport.is_closing():
            self._stop_header_timer()
            self._refuse(431, "Request Header Fields Too Large", f"request head larger than {MAX_HEAD_BYTES} bytes")

    def on_url(self, url: bytes) -> None:
        if self._count_head(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._count_head(len(name) + len(value)):
            super().on_header(name, value)

    def _count_head(self, n: int) -> bool:
        self._head_bytes += n
        self._head_too_large |= self._head_bytes > MAX_HEAD_BYTES
        return not self._head_too_large

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._head_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        self._request_begun = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._request_begun:  # a request was on its way: say why it is cut off
            message = f"request headers not complete within {self.header_timeout_s:g} s"
            self._refuse(408, "Request Timeout", message)
        self.transport.close()  # a connection that never sent a byte is closed without a word, like an idle one

    def _refuse(self, code: int, reason: str, message: str) -> None:
        request_id = uuid.uuid4().hex
        log.info(json.dumps({"request_id": request_id, "status": code, "error": message}))
        type_ = "request_timeout" if code == 408 else "headers_too_large"
        self.transport.write(error_bytes(code, reason, message, type_, request_id))
        self.transport.close()


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `python -m service` runs with (tests build their servers with it too)."""
    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": settings.header_timeout_s})
    kwargs: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        http=protocol,
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        timeout_graceful_shutdown=5,  # after the drain: only idle keep-alive connections are left to close
    )
    return uvicorn.Config(app, **(kwargs | overrides))


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM/SIGINT drains (readiness off, new work 503, admitted work finishes) before it
    stops; a second signal stops at once."""

    def __init__(self, config: uvicorn.Config, state: Any) -> None:
        super().__init__(config)
        self.state = state
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT) and self._drain_task is None and not self.should_exit:
            self._drain_task = asyncio.get_running_loop().create_task(self.state.drain())
            return
        super().handle_exit(sig, frame)

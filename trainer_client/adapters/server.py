"""The reward server OpenRLHF and slime call (`python -m trainer_client serve-reward`): stdlib asyncio, no web
framework.

Routes:
    POST /get_reward   OpenRLHF remote reward (`--reward.remote_url`)
    POST /slime        slime remote RM (`--rm-url`)
    GET  /healthz      200 "ok"

Both frameworks send one sample per request, many at once. Every request is judged as soon as it arrives, all of
them sharing one judge client, whose limit on requests in flight `serve-reward` sets from the judge's own admission
limit (`/info`'s `max_pending_items`; past it the judge answers 429 and the client backs off) rather than a client
default. Each request has a deadline derived from its framework's own timeout (OpenRLHF 180 s, slime 120 s, less
`DEADLINE_MARGIN_S` to answer in time): the judge is asked to finish by then (`timeout_s`), and a judgment still
running at the deadline, or whose framework hung up, is cancelled, which closes its connection to the judge and so
aborts the judge's work too. A timed-out judgment is a failed one (the framework's neutral value, see the
adapters), never a retry on top of work still running.

Malformed requests get HTTP 400 with the message in the body and in the status line (the frameworks' clients log only
the latter); nothing is scored from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import AuthenticationError, PermissionDeniedError
from .._types import JudgeOptions
from ..reagent_r import AsyncReagentRScorer, ReagentRScorer, RewardBreakdown
from . import openrlhf, slime

__all__ = ["DEADLINE_MARGIN_S", "RewardServer", "make_reward_server"]

_log = logging.getLogger("trainer_client.reward_server")
_MAX_BODY = 64 * 2**20
_MAX_HEADER = 64 * 2**10
_EOF_POLL_S = 0.2
DEADLINE_MARGIN_S = 5.0  # answered this long before the framework gives up

Scorer = ReagentRScorer | AsyncReagentRScorer
Parsed = tuple[list[str], list[str], list[Any]]


@dataclass(frozen=True)
class _Route:
    parse: Callable[[Mapping[str, Any]], Parsed]
    answer: Callable[[list[RewardBreakdown]], dict[str, Any]]
    framework_timeout_s: float


def _slime_parse(payload: Mapping[str, Any]) -> Parsed:
    question, response, label = slime.parse_slime(payload)
    return [question], [response], [label]


ROUTES: dict[str, _Route] = {
    "/get_reward": _Route(openrlhf.parse_openrlhf, openrlhf.openrlhf_answer, openrlhf.TIMEOUT_S),
    "/slime": _Route(_slime_parse, lambda b: slime.slime_answer(b[0]), slime.TIMEOUT_S),
}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _phrase(text: str) -> str:
    """A status line's reason phrase: one line of printable Latin-1, at most 300 characters."""
    line = " ".join(text.split())[:300]
    return line.encode("latin-1", "replace").decode("latin-1")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


class RewardServer:
    """The reward server: `serve_forever()` in a thread (or the main one), `shutdown()` from another.

    Args:
        scorer: An `AsyncReagentRScorer` (judgments are cancelled with their request) or a `ReagentRScorer` (run in
            worker threads; its judgments run to the end).
        host: Interface to bind.
        port: Port to bind (0: any free port; read it back from `server_address`).
        deadline_margin_s: How long before its framework's timeout a request is answered.
    """

    def __init__(
        self, scorer: Scorer, host: str = "127.0.0.1", port: int = 5000, *, deadline_margin_s: float = DEADLINE_MARGIN_S
    ) -> None:
        self.scorer, self.deadline_margin_s = scorer, deadline_margin_s
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, host, port, backlog=4096))
        self.server_address: tuple[str, int] = self._server.sockets[0].getsockname()[:2]
        self._stopped = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self.in_flight = 0  # requests being judged now
        self.cancelled = 0  # judgments cancelled because the framework hung up

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = self._loop.create_future()
        try:
            self._loop.run_until_complete(self._stop)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` (call from another thread) and wait for it."""
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._finish)
            self._stopped.wait(timeout=10)

    def _finish(self) -> None:
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)

    def server_close(self) -> None:
        """Close the listening socket and cancel what is still running (after `shutdown`)."""
        if self._loop.is_closed():
            return

        async def close() -> None:
            self._server.close()
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(RuntimeError):
            self._loop.run_until_complete(close())
        self._loop.close()

    # --- HTTP ------------------------------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as exc:
                    await self._reply(writer, exc.status, {"error": str(exc)}, reason=str(exc), close=True)
                    return
                if request is None:
                    return
                method, path, body, keep_alive = request
                status, answer, reason = await self._dispatch(method, path, body, reader)
                if status == 0:  # the framework hung up: nobody to answer
                    return
                await self._reply(writer, status, answer, reason=reason, close=not keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str, bytes, bool] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest(400, "request head too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(400, "chunked bodies are not supported: send Content-Length")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError as exc:
            raise _BadRequest(400, "Content-Length is not a number") from exc
        if length > _MAX_BODY:
            raise _BadRequest(413, "body too large")
        body = await reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return method, target.split("?")[0], body, keep_alive

    async def _reply(
        self, writer: asyncio.StreamWriter, status: int, body: dict[str, Any], *, reason: str | None, close: bool
    ) -> None:
        data = json.dumps(body).encode()
        phrase = _REASONS.get(status, "Error")
        if reason and status >= 400:
            phrase = _phrase(f"{phrase}: {reason}")
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + data)
        await writer.drain()

    async def _dispatch(
        self, method: str, path: str, body: bytes, reader: asyncio.StreamReader
    ) -> tuple[int, dict[str, Any], str | None]:
        if method == "GET" and path == "/healthz":
            return 200, {"status": "ok"}, None
        route = ROUTES.get(path)
        if route is None or method != "POST":
            return 404, {"error": f"no route {method} {path}; POST one of {sorted(ROUTES)}"}, None
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            questions, responses, labels = route.parse(payload)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": str(exc)}, str(exc)
        deadline = time.monotonic() + max(route.framework_timeout_s - self.deadline_margin_s, 1.0)
        self.in_flight += 1
        work = asyncio.ensure_future(self._score(questions, responses, labels, deadline))
        try:
            while True:
                done, _ = await asyncio.wait({work}, timeout=_EOF_POLL_S)
                if done:
                    break
                if reader.at_eof():  # the framework gave up on this request: abort its judgment
                    work.cancel()
                    self.cancelled += 1
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await work
                    return 0, {}, None
            breakdowns = work.result()
        except (AuthenticationError, PermissionDeniedError) as exc:
            return 502, {"error": f"the judge refused our key: {exc}"}, None
        except asyncio.TimeoutError:
            message = "the judge did not answer by this request's deadline"
            return 504, {"error": message}, message
        finally:
            self.in_flight -= 1
        return 200, route.answer(breakdowns), None

    async def _score(
        self, questions: list[str], responses: list[str], labels: list[Any], deadline: float
    ) -> list[RewardBreakdown]:
        remaining = max(deadline - time.monotonic(), 0.5)
        scorer = _with_deadline(self.scorer, remaining)
        if isinstance(scorer, AsyncReagentRScorer):
            coro: Awaitable[list[RewardBreakdown]] = scorer.score(questions, responses, labels)
            try:
                return await asyncio.wait_for(coro, remaining + 2.0)
            except asyncio.TimeoutError:
                _log.warning("a judgment outlived its deadline (%.0f s) and was cancelled", remaining)
                raise
        return await asyncio.to_thread(scorer.score, questions, responses, labels)


def _with_deadline(scorer: Scorer, seconds: float) -> Scorer:
    """The scorer with `timeout_s` (the judge's own deadline for the request) set to `seconds`, unless it already has
    a shorter one."""
    options = JudgeOptions.model_validate(scorer.judge_options or {})
    if options.timeout_s is not None and options.timeout_s <= seconds:
        return scorer
    copy = type(scorer).__new__(type(scorer))
    copy.__dict__.update(scorer.__dict__)
    copy.judge_options = options.model_copy(update={"timeout_s": round(min(seconds, 3600.0), 3)})
    return copy


def make_reward_server(
    scorer: Scorer, host: str = "127.0.0.1", port: int = 5000, *, deadline_margin_s: float = DEADLINE_MARGIN_S
) -> RewardServer:
    """Build (not start) the reward server; call `.serve_forever()` on it, or run it in a thread.

    Args:
        scorer: The scorer answering every route (`AsyncReagentRScorer` for cancellation; on_failure "neutral").
        host: Interface to bind.
        port: Port to bind (0: any free port; read it back from `server.server_address`).
        deadline_margin_s: How long before its framework's timeout a request is answered.

    Returns:
        A `RewardServer`.

    Example:
        >>> from trainer_client import JudgeClient, ReagentRScorer
        >>> server = make_reward_server(ReagentRScorer(JudgeClient("http://judge:8000")), port=0)
        >>> server.server_address[1] > 0
        True
        >>> server.server_close()
    """
    return RewardServer(scorer, host, port, deadline_margin_s=deadline_margin_s)

"""HTTP plumbing: request ids, metrics and access logs; the catch-all for unexpected errors (500); request bodies
bounded before admission (413, 429, 408); API keys; and strict JSON parsing of request bodies."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

__all__ = [
    "ApiKeyMiddleware",
    "BodyBudget",
    "BodyLimitMiddleware",
    "CatchAllMiddleware",
    "InvalidJson",
    "RequestContextMiddleware",
    "StrictJsonRoute",
    "body_admitted",
]

log = logging.getLogger("service.access")

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Gives each request an id (the caller's `X-Request-Id` if sane), counts it, times it and logs one line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.monotonic()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.monotonic() - started
            route = getattr(scope.get("route"), "path", None) or "other"
            self.metrics.requests.labels(route=route, code=str(status)).inc()
            self.metrics.request_duration.labels(route=route).observe(elapsed)
            if route not in ("/healthz", "/readyz", "/metrics"):
                fields: dict[str, Any] = {
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "route": route,
                    "status": status,
                    "latency_s": round(elapsed, 4),
                }
                fields.update(scope["state"].get("log_fields", {}))
                log.info(json.dumps(fields))


class CatchAllMiddleware:
    """An exception no handler mapped becomes a logged 500 in the one error shape, with `Connection: close`.

    It sits inside `RequestContextMiddleware`, so the 500 carries the request id header and is counted. Closing
    the connection is the safe choice after an error of unknown cause (the request body may be half read); the
    header tells the client so, instead of the server dropping a keep-alive connection without a word. An error
    after the response has started cannot be answered any more: it is re-raised and the server closes the
    connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id)
            if started:
                raise
            from service.errors import error_response

            response = error_response(500, "internal error", request_id=request_id, headers={"Connection": "close"})
            await response(scope, receive, send)


class InvalidJson(ValueError):
    """A request body that is not strict JSON: malformed, invalid Unicode (a lone surrogate), or too deep."""


def _strict_json(body: bytes) -> Any:
    """Parse with pydantic's parser (jiter): it refuses lone UTF-16 surrogates (`"\\ud800"`) and NaN/Infinity,
    and stops at a fixed nesting depth instead of running into Python's recursion limit.

    Example:
        >>> _strict_json(b'{"a": [1, "\\ud83d\\ude00"]}')
        {'a': [1, '😀']}
        >>> _strict_json(b'["\\udc00"]')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        service.http.InvalidJson: not valid Unicode: a lone UTF-16 surrogate (... at line 1 column 8)
    """
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        text = str(exc)
        if "surrogate" in text or "hex escape" in text:
            raise InvalidJson(f"not valid Unicode: a lone UTF-16 surrogate ({text})") from None
        if "recursion limit" in text:
            raise InvalidJson(f"nested deeper than {JSON_MAX_DEPTH} levels of arrays and objects ({text})") from None
        raise InvalidJson(text) from None


JSON_MAX_DEPTH = 200  # jiter's fixed recursion limit, counted over the whole body


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = _strict_json(await self.body())
            except InvalidJson as exc:
                # FastAPI turns a JSONDecodeError (and only that) into its 422 json_invalid error.
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON bodies are parsed strictly (see `_strict_json`), so invalid Unicode or absurd nesting is
    a 422 naming the problem, never a string that fails later in the tokenizer or a RecursionError."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Any:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict_handler


class BodyBudget:
    """The bytes of request bodies read and not yet admitted, over all requests: what memory holds before
    admission control has seen a request."""

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.used = 0
        self.metrics = metrics

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        self.metrics.body_bytes_reading.set(self.used)
        return True

    def give_back(self, n: int) -> None:
        self.used -= n
        self.metrics.body_bytes_reading.set(self.used)


class BodyLimitMiddleware:
    """Reads request bodies before any handler runs, bounded three ways, each refused in the one error shape:
    larger than `max_body_bytes` (declared or streamed): 413; more bytes being read and parsed, over all requests,
    than the budget allows: 429 (`Retry-After: 1`); not all there within `timeout_s` of the headers: 408. The two
    that leave a body half read close the connection.

    A body's bytes count against the budget from their arrival until the handler starts (parsed and validated:
    the request is then admission control's), or until the request ends without one.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, budget: BodyBudget, timeout_s: float) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.budget = budget
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send, 413, f"request body larger than {self.limit} bytes")
            return
        held = 0

        def release() -> None:
            nonlocal held
            self.budget.give_back(held)
            held = 0

        scope.setdefault("state", {})["release_body_budget"] = release
        try:
            body = await self._read(scope, receive, send, declared)
            if body is None:
                return
            held = body[1]
            await self.app(scope, _replay(body[0], receive), send)
        finally:
            release()

    async def _read(self, scope: Scope, receive: Receive, send: Send, declared: str | None) -> tuple[bytes, int] | None:
        """The whole body and the budget it holds, or None when the request was answered (or the client left)."""
        if declared is not None and declared.isdigit() and int(declared) > self.budget.limit - self.budget.used:
            await self._over_budget(scope, receive, send)
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        self.budget.give_back(size)
                        return None
                    chunk = message.get("body", b"")
                    if size + len(chunk) > self.limit:
                        self.budget.give_back(size)
                        await self._reject(scope, receive, send, 413, f"request body larger than {self.limit} bytes")
                        return None
                    if not self.budget.take(len(chunk)):
                        self.budget.give_back(size)
                        await self._over_budget(scope, receive, send)
                        return None
                    size += len(chunk)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            self.budget.give_back(size)
            text = f"request body not complete within {self.timeout_s:g} s"
            await self._reject(scope, receive, send, 408, text, close=True)
            return None
        return b"".join(chunks), size

    async def _over_budget(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"the service is reading {self.budget.used} bytes of request bodies, its limit before admission is "
            f"{self.budget.limit}: retry shortly"
        )
        await self._reject(scope, receive, send, 429, message, close=True, headers={"Retry-After": "1"})

    @staticmethod
    async def _reject(
        scope: Scope,
        receive: Receive,
        send: Send,
        code: int,
        message: str,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        from service.errors import error_response

        headers = (headers or {}) | ({"Connection": "close"} if close else {})
        response = error_response(
            code, message, request_id=scope.get("state", {}).get("request_id"), headers=headers or None
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the client to go away (disconnect detection)

    return replay


def body_admitted(request: Request) -> None:
    """The handler has the request parsed and validated: its body no longer counts against the reading budget."""
    release = getattr(request.state, "release_body_budget", None)
    if release is not None:
        release()


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyMiddleware:
    """With keys configured, every route but `open_paths` needs `Authorization: Bearer <key>`.

    Missing or malformed credentials: 401; a key that is not one of ours: 403. Keys are compared as SHA-256
    digests with `hmac.compare_digest`, against every configured key, so timing says nothing about a key's
    content or length. Keys are never logged.
    """

    def __init__(self, app: ASGIApp, keys: list[str], open_paths: frozenset[str]) -> None:
        self.app = app
        self.digests = [_digest(k) for k in keys]
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.digests or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await self._refuse(scope, receive, send, 401, "an API key is required: Authorization: Bearer <key>")
            return
        offered = _digest(token.strip())
        matched = False
        for digest in self.digests:
            matched |= hmac.compare_digest(offered, digest)
        if not matched:
            await self._refuse(scope, receive, send, 403, "the API key is not valid")
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, code: int, message: str) -> None:
        from service.errors import error_response

        response = error_response(
            code, message, request_id=scope.get("state", {}).get("request_id"), headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)

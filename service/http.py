"""HTTP plumbing: request ids, metrics and access logs; the catch-all for unexpected errors (500); the request body
limit (413); API keys; and strict JSON parsing of request bodies."""

from __future__ import annotations

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
    "BodyLimitMiddleware",
    "CatchAllMiddleware",
    "InvalidJson",
    "RequestContextMiddleware",
    "StrictJsonRoute",
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


class BodyLimitMiddleware:
    """Answers 413 to bodies over the limit, declared (Content-Length) or streamed, before any handler runs."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to go away (disconnect detection)

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        from service.errors import error_response

        response = error_response(
            413, f"request body larger than {self.limit} bytes", request_id=scope.get("state", {}).get("request_id")
        )
        await response(scope, receive, send)


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

"""Every error leaves the service in one JSON shape: `{"error": {"type", "message", "code", "request_id", ...}}`.

Handlers here map the exceptions the service raises on purpose; anything else is answered by
`service.http.CatchAllMiddleware`, in the same shape.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.admission import Overloaded
from service.protocol import ErrorBody, ErrorResponse
from service.serving import InvalidRequest, ServiceUnavailable

__all__ = ["AsciiJSONResponse", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    422: "validation_error",
    429: "overloaded",
    431: "headers_too_large",
    499: "client_closed",
    500: "internal_error",
    503: "not_ready",
}


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an error may quote anything the client sent (a field name holding a lone
    surrogate, say), and escaped JSON can always be encoded."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    code: int,
    message: str,
    *,
    request_id: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    type_: str | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            type=type_ or _TYPES.get(code, "error"), message=message, code=code, request_id=request_id, details=details
        )
    )
    return AsciiJSONResponse(body.model_dump(), status_code=code, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [_detail(e) for e in exc.errors()]
        return error_response(
            422, "the request does not match the schema", request_id=_request_id(request), details=details
        )

    @app.exception_handler(InvalidRequest)
    async def _invalid(request: Request, exc: InvalidRequest) -> JSONResponse:
        return error_response(400, str(exc), request_id=_request_id(request), details=exc.details)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(
            429, str(exc), request_id=_request_id(request), headers={"Retry-After": str(exc.retry_after_s)}
        )

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return error_response(503, str(exc), request_id=_request_id(request), headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, str(exc.detail), request_id=_request_id(request), headers=headers)


def _detail(error: Any) -> dict[str, Any]:
    msg = str(error.get("msg", ""))
    if error.get("type") == "json_invalid" and (ctx := error.get("ctx")):
        msg = f"{msg}: {ctx.get('error')}"  # what is wrong with the JSON (invalid Unicode, nesting, syntax)
    loc = [x if isinstance(x, int) else str(x) for x in error.get("loc", ())]
    return {"loc": loc, "msg": msg, "type": str(error.get("type", ""))}

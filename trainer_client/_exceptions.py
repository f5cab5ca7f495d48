"""Errors raised by the trainer client.

```
JudgeError                          everything this package raises
├── APIConnectionError              no answer: refused, reset, DNS, protocol error …   (retried)
│   └── APITimeoutError             … or a connect / read / write / pool timeout        (retried)
├── APIStatusError                  the service answered with an error status
│   ├── BadRequestError             400  bad items
│   ├── AuthenticationError         401  missing or wrong Bearer key (never masked)
│   ├── PermissionDeniedError       403  key not allowed (never masked)
│   ├── NotFoundError               404  wrong base URL
│   ├── PayloadTooLargeError        413  body over the service's limit: lower chunk_size
│   ├── UnprocessableEntityError    422  request does not match the schema
│   ├── RateLimitError              429  (retried, honouring Retry-After)
│   └── InternalServerError         5xx  (retried)
│       └── ServiceUnavailableError 503  not ready or draining (retried, honouring Retry-After)
└── APIResponseValidationError      a 2xx whose body is not the expected JudgeResponse
```

A failed *judgment* (the service answered, but could not judge one item) is not an exception: it is a
`Judgment` with `status="failed"` and a `reason`, which reward code masks.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from ._retry import parse_retry_after
from ._types import ErrorBody, ErrorResponse

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "InternalServerError",
    "JudgeError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "make_status_error",
]


class JudgeError(Exception):
    """Base class. `retries_taken` says how many times the request was re-sent before this error stuck."""

    def __init__(self, message: str, *, endpoint: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.request_id = request_id
        self.retries_taken = 0


class APIConnectionError(JudgeError):
    """The request got no HTTP answer."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""


class APIResponseValidationError(JudgeError):
    """The service answered 2xx with a body the client cannot read as a `JudgeResponse`."""


class APIStatusError(JudgeError):
    """The service answered with an error status; `error` is its JSON error body when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: ErrorBody | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, request_id=request_id)
        self.status_code = status_code
        self.error = error
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404."""


class PayloadTooLargeError(APIStatusError):
    """413."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """5xx."""


class ServiceUnavailableError(InternalServerError):
    """503."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def make_status_error(response: httpx.Response, *, endpoint: str | None = None) -> APIStatusError:
    """Map an error response to its exception class, reading the service's `{"error": {...}}` body if present.

    Args:
        response: An HTTP response with status >= 400.
        endpoint: The base URL it came from, for the message.

    Returns:
        The matching `APIStatusError` subclass (`InternalServerError` for unlisted 5xx, `APIStatusError`
        otherwise).

    Example:
        >>> err = make_status_error(httpx.Response(429, headers={"Retry-After": "2"}))
        >>> type(err).__name__, err.retry_after
        ('RateLimitError', 2.0)
    """
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    error = _error_body(response)
    text = error.message if error is not None else response.text[:200]
    request_id = (error.request_id if error is not None else None) or response.headers.get("x-request-id")
    return cls(
        f"{status} from {endpoint or 'the judge service'}: {text}",
        status_code=status,
        error=error,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        endpoint=endpoint,
        request_id=request_id,
    )


def _error_body(response: httpx.Response) -> ErrorBody | None:
    """The service's `{"error": {...}}` body; None from a proxy or anything else that answers in its own shape."""
    try:
        return ErrorResponse.model_validate_json(response.content).error
    except (ValidationError, ValueError):
        return None

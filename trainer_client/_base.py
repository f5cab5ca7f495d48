"""What the sync and async clients share: configuration, chunking, response handling and the retry decision.

The twins in `_client.py` only add the I/O loop; everything that does not need `await` lives here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from ._constants import (
    DEADLINE_READ_MARGIN,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_URL,
)
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    JudgeError,
    PermissionDeniedError,
    make_status_error,
)
from ._retry import calculate_retry_delay, should_retry_status
from ._routing import Endpoint, EndpointPool
from ._types import ClientFailureReason, JudgeItem, JudgeOptions, JudgeRequest, JudgeResponse, Judgment, Usage

__all__ = ["BaseJudgeClient", "ItemLike", "JudgeResult"]

ItemLike = JudgeItem | Mapping[str, Any]
OptionsLike = JudgeOptions | Mapping[str, Any] | None


@dataclass
class JudgeResult(Sequence[Judgment]):
    """The judgments of one `judge()` call, in input order, plus what it took to get them.

    It is a sequence of `Judgment`: `result[i]` is the judgment of `items[i]`.
    """

    judgments: list[Judgment]
    retries_taken: int = 0  # re-sends over all chunks of this call
    request_ids: list[str] = field(default_factory=list)
    model: str | None = None
    template_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    errors: list[JudgeError] = field(default_factory=list)  # chunk errors turned into failures

    def __len__(self) -> int:
        return len(self.judgments)

    def __getitem__(self, index: Any) -> Any:
        return self.judgments[index]

    def __iter__(self) -> Iterator[Judgment]:
        return iter(self.judgments)

    @property
    def scores(self) -> list[float | None]:
        """Score per item, `None` where the judgment failed (mask these; never read them as 0)."""
        return [j.score if j.ok else None for j in self.judgments]

    @property
    def failures(self) -> list[Judgment]:
        return [j for j in self.judgments if not j.ok]


@dataclass
class _ChunkOutcome:
    start: int
    size: int
    request_id: str
    ids: list[str | None] = field(default_factory=list)
    deadline_s: float | None = None  # the request's own server-side deadline (options.timeout_s)
    response: JudgeResponse | None = None
    error: JudgeError | None = None
    retries_taken: int = 0


def resolve_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """One URL, a comma-separated string, a list, or (None) the `RRM_JUDGE_URL` environment variable."""
    if base_url is None:
        base_url = os.environ.get(ENV_URL, "")
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [u for u in (u.strip() for u in urls) if u]
    if not urls:
        raise ValueError(f"no judge URL: pass base_url=... or set {ENV_URL}")
    return urls


class BaseJudgeClient:
    """Configuration and the pieces of a `judge()` call that need no I/O."""

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_retries < 0 or max_concurrency < 1 or chunk_size < 1:
            raise ValueError("max_retries must be >= 0, max_concurrency and chunk_size >= 1")
        self.pool = EndpointPool(resolve_urls(base_url))
        self.api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY) or None
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.chunk_size = chunk_size
        self._default_headers = dict(default_headers or {})

    @property
    def base_urls(self) -> list[str]:
        return [e.url for e in self.pool.endpoints]

    @staticmethod
    def _request_timeout(base: httpx.Timeout, deadline_s: float | None) -> httpx.Timeout:
        """The timeout of one attempt: the client's, except that reading follows the request's own deadline.

        Example:
            >>> BaseJudgeClient._request_timeout(httpx.Timeout(5.0, read=330.0), 900.0).read
            930.0
        """
        if deadline_s is None:
            return base
        return httpx.Timeout(
            connect=base.connect, read=deadline_s + DEADLINE_READ_MARGIN, write=base.write, pool=base.pool
        )

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)

    def _headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **self._default_headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if request_id:
            headers["X-Request-Id"] = request_id
        return headers

    def _plan(
        self, items: Sequence[ItemLike], options: OptionsLike, request_id: str | None
    ) -> list[tuple[_ChunkOutcome, bytes]]:
        """Validate items locally (a bad one raises `pydantic.ValidationError` before anything is sent) and
        cut them into request bodies of at most `chunk_size` items."""
        parsed = [item if isinstance(item, JudgeItem) else JudgeItem.model_validate(item) for item in items]
        opts = options if isinstance(options, JudgeOptions) else JudgeOptions.model_validate(options or {})
        base_id = request_id or uuid.uuid4().hex
        starts = range(0, len(parsed), self.chunk_size)
        plan = []
        for k, start in enumerate(starts):
            chunk = parsed[start : start + self.chunk_size]
            body = JudgeRequest(items=chunk, options=opts).model_dump_json(exclude_none=True).encode()
            rid = base_id if len(starts) == 1 else f"{base_id}-{k}"
            out = _ChunkOutcome(
                start=start, size=len(chunk), request_id=rid, ids=[it.id for it in chunk], deadline_s=opts.timeout_s
            )
            plan.append((out, body))
        return plan

    def _settle(
        self, endpoint: Endpoint, outcome: httpx.Response | httpx.TransportError, size: int
    ) -> JudgeResponse | JudgeError:
        """Turn one attempt's outcome into a `JudgeResponse` or a `JudgeError`, and record the endpoint's
        health."""
        if isinstance(outcome, httpx.TransportError):
            cls = APITimeoutError if isinstance(outcome, httpx.TimeoutException) else APIConnectionError
            self.pool.record(endpoint, ok=False)
            return cls(f"{type(outcome).__name__} talking to {endpoint.url}: {outcome}", endpoint=endpoint.url)
        if outcome.status_code >= 400:
            error = make_status_error(outcome, endpoint=endpoint.url)
            if should_retry_status(outcome.status_code):
                self.pool.record(endpoint, ok=False, cooldown=error.retry_after)
            return error
        self.pool.record(endpoint, ok=True)
        try:
            response = JudgeResponse.model_validate_json(outcome.content)
        except ValidationError as exc:
            return APIResponseValidationError(f"unreadable response from {endpoint.url}: {exc}", endpoint=endpoint.url)
        if len(response.judgments) != size:
            return APIResponseValidationError(
                f"{endpoint.url} returned {len(response.judgments)} judgments for {size} items",
                endpoint=endpoint.url,
            )
        return response

    def _retry_delay(self, error: JudgeError, retries_taken: int, endpoint: Endpoint) -> float | None:
        """Seconds to wait before re-sending, or None to give up. Failover to another healthy replica is
        immediate."""
        retryable = isinstance(error, APIConnectionError) or (
            isinstance(error, APIStatusError) and should_retry_status(error.status_code)
        )
        if not retryable or retries_taken >= self.max_retries:
            return None
        if self.pool.has_healthy_alternative(endpoint.url):
            return 0.0
        retry_after = error.retry_after if isinstance(error, APIStatusError) else None
        return calculate_retry_delay(retries_taken, retry_after=retry_after)

    def _assemble(self, outcomes: list[_ChunkOutcome], *, raise_on_error: bool) -> JudgeResult:
        """Stitch chunk outcomes into one result in input order; raise or turn chunk errors into failures."""
        result = JudgeResult(judgments=[])
        for out in outcomes:
            result.retries_taken += out.retries_taken
            if out.error is not None:
                out.error.retries_taken = out.retries_taken
                if raise_on_error or isinstance(out.error, (AuthenticationError, PermissionDeniedError)):
                    raise out.error
                result.errors.append(out.error)
                result.judgments.extend(_failed_judgments(out))
                continue
            assert out.response is not None
            resp = out.response
            result.request_ids.append(resp.id)
            result.model, result.template_id = resp.model, resp.template_id
            result.usage.prompt_tokens += resp.usage.prompt_tokens
            result.usage.completion_tokens += resp.usage.completion_tokens
            for local, judgment in enumerate(sorted(resp.judgments, key=lambda j: j.index)):
                result.judgments.append(judgment.model_copy(update={"index": out.start + local}))
        return result


def _failed_judgments(out: _ChunkOutcome) -> list[Judgment]:
    error = out.error
    refused = isinstance(error, APIStatusError) and not should_retry_status(error.status_code)
    reason: ClientFailureReason = "rejected" if refused else "unavailable"
    return [
        Judgment(index=out.start + i, id=item_id, status="failed", reason=reason, detail=str(error))
        for i, item_id in enumerate(out.ids)
    ]

"""`JudgeClient` and `AsyncJudgeClient`: the same keyword-only API, differing only in `await`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx

from ._base import BaseJudgeClient, ItemLike, JudgeResult, OptionsLike, _ChunkOutcome
from ._constants import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._types import JudgeResponse

__all__ = ["AsyncJudgeClient", "JudgeClient"]

# Module-level so tests can replace them; looked up at call time.
_sleep = time.sleep
_asleep = asyncio.sleep


class JudgeClient(BaseJudgeClient):
    """Blocking client. Thread-safe: one instance may serve many threads (its concurrency limit is shared).

    Args:
        base_url: One URL, several (a list or a comma-separated string: replicas), or None for
            `RRM_JUDGE_URL`.
        api_key: Bearer key, or None for `RRM_JUDGE_API_KEY` (no auth when neither is set).
        timeout: Seconds for every phase, or an `httpx.Timeout` (connect / read / write / pool).
        max_retries: Re-sends per request on connection errors, timeouts, 429 and 5xx (never other 4xx).
        max_concurrency: HTTP requests in flight at once, over all endpoints and threads.
        chunk_size: Items per HTTP request; bigger batches are split and the chunks sent in parallel.
        default_headers: Extra headers on every request.
        http_client: An `httpx.Client` to use instead of building one (its own timeout and limits then apply;
            `close()` closes it).

    Example:
        >>> with JudgeClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     result = client.judge([{"question": "2+2?", "trajectory": "4"}])
        ...     result.scores
        [0.83]
    """

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
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            chunk_size=chunk_size,
            default_headers=default_headers,
        )
        self._http = http_client or httpx.Client(timeout=self.timeout, limits=self._limits())
        self._limit = threading.BoundedSemaphore(self.max_concurrency)

    def judge(
        self,
        items: Sequence[ItemLike],
        *,
        options: OptionsLike = None,
        request_id: str | None = None,
        raise_on_error: bool = True,
    ) -> JudgeResult:
        """Judge trajectories; one judgment per item, in input order.

        Args:
            items: `JudgeItem`s or dicts of the same shape (`question` plus `messages` or `trajectory`).
            options: `JudgeOptions` or a dict (max_tokens, temperature, seed, return_reasoning, timeout_s).
            request_id: Sent as `X-Request-Id` (suffixed `-k` per chunk when the batch is split).
            raise_on_error: When a chunk still fails after its retries, raise its `JudgeError` (True), or give
                its items failed judgments with reason `unavailable` / `rejected` (False). 401/403 always
                raise.

        Returns:
            A `JudgeResult`: a sequence of `Judgment` with `.scores`, `.retries_taken`, `.request_ids`.

        Example:
            >>> client.judge([{"question": "q", "trajectory": "t"}]).scores  # doctest: +SKIP
            [0.5]
        """
        plan = self._plan(items, options, request_id)
        if len(plan) <= 1:
            outcomes = [self._send_chunk(out, body) for out, body in plan]
        else:
            with ThreadPoolExecutor(max_workers=min(len(plan), self.max_concurrency)) as pool:
                outcomes = list(pool.map(lambda p: self._send_chunk(*p), plan))
        return self._assemble(outcomes, raise_on_error=raise_on_error)

    def _send_chunk(self, out: _ChunkOutcome, body: bytes) -> _ChunkOutcome:
        headers = {**self._headers(out.request_id), "Content-Type": "application/json"}
        timeout = self._request_timeout(self._http.timeout, out.deadline_s)
        avoid: str | None = None
        while True:
            with self._limit:
                endpoint = self.pool.acquire(avoid=avoid)
                try:
                    try:
                        attempt: httpx.Response | httpx.TransportError = self._http.post(
                            f"{endpoint.url}/judge", content=body, headers=headers, timeout=timeout
                        )
                    except httpx.TransportError as exc:
                        attempt = exc
                    # Health is recorded before the release: a failing replica answers fast, and would otherwise
                    # look like the least loaded one for an instant and draw the next request.
                    result = self._settle(endpoint, attempt, out.size)
                finally:
                    self.pool.release(endpoint)
            if isinstance(result, JudgeResponse):
                out.response = result
                return out
            delay = self._retry_delay(result, out.retries_taken, endpoint)
            if delay is None:
                out.error = result
                return out
            out.retries_taken += 1
            avoid = endpoint.url
            if delay > 0:
                _sleep(delay)

    def check_ready(self) -> dict[str, bool]:
        """GET /readyz on every endpoint; a not-ready one is avoided for a cooldown.

        Returns:
            URL → ready.
        """
        status = {}
        for endpoint in self.pool.endpoints:
            try:
                ok = self._http.get(f"{endpoint.url}/readyz", headers=self._headers()).status_code == 200
            except httpx.TransportError:
                ok = False
            self.pool.record(endpoint, ok=ok)
            status[endpoint.url] = ok
        return status

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncJudgeClient(BaseJudgeClient):
    """Asyncio twin of `JudgeClient`, with the same arguments (`http_client` is an `httpx.AsyncClient`).

    Use one instance inside one event loop (httpx's async connections belong to the loop that opened them).

    Example:
        >>> async with AsyncJudgeClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     result = await client.judge([{"question": "2+2?", "trajectory": "4"}])
    """

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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            chunk_size=chunk_size,
            default_headers=default_headers,
        )
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout, limits=self._limits())
        self._limit: asyncio.Semaphore | None = None
        self._limit_loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # A semaphore belongs to one loop; a client reused under a new loop (e.g. successive asyncio.run) gets
        # a new one.
        loop = asyncio.get_running_loop()
        if self._limit is None or self._limit_loop is not loop:
            self._limit, self._limit_loop = asyncio.Semaphore(self.max_concurrency), loop
        return self._limit

    async def judge(
        self,
        items: Sequence[ItemLike],
        *,
        options: OptionsLike = None,
        request_id: str | None = None,
        raise_on_error: bool = True,
    ) -> JudgeResult:
        """Judge trajectories; one judgment per item, in input order. Same arguments as `JudgeClient.judge`.

        Example:
            >>> (await client.judge([{"question": "q", "trajectory": "t"}])).scores  # doctest: +SKIP
            [0.5]
        """
        plan = self._plan(items, options, request_id)
        outcomes = await asyncio.gather(*(self._send_chunk(out, body) for out, body in plan))
        return self._assemble(list(outcomes), raise_on_error=raise_on_error)

    async def _send_chunk(self, out: _ChunkOutcome, body: bytes) -> _ChunkOutcome:
        headers = {**self._headers(out.request_id), "Content-Type": "application/json"}
        timeout = self._request_timeout(self._http.timeout, out.deadline_s)
        avoid: str | None = None
        while True:
            async with self._semaphore():
                endpoint = self.pool.acquire(avoid=avoid)
                try:
                    try:
                        attempt: httpx.Response | httpx.TransportError = await self._http.post(
                            f"{endpoint.url}/judge", content=body, headers=headers, timeout=timeout
                        )
                    except httpx.TransportError as exc:
                        attempt = exc
                    # Health is recorded before the release: a failing replica answers fast, and would otherwise
                    # look like the least loaded one for an instant and draw the next request.
                    result = self._settle(endpoint, attempt, out.size)
                finally:
                    self.pool.release(endpoint)
            if isinstance(result, JudgeResponse):
                out.response = result
                return out
            delay = self._retry_delay(result, out.retries_taken, endpoint)
            if delay is None:
                out.error = result
                return out
            out.retries_taken += 1
            avoid = endpoint.url
            if delay > 0:
                await _asleep(delay)

    async def check_ready(self) -> dict[str, bool]:
        """GET /readyz on every endpoint; a not-ready one is avoided for a cooldown."""
        status = {}
        for endpoint in self.pool.endpoints:
            try:
                response = await self._http.get(f"{endpoint.url}/readyz", headers=self._headers())
                ok = response.status_code == 200
            except httpx.TransportError:
                ok = False
            self.pool.record(endpoint, ok=ok)
            status[endpoint.url] = ok
        return status

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncJudgeClient:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: Any) -> None:
        await self.close()

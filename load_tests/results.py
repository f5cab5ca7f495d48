"""What one load-test request came back with, classified from the HTTP exchange alone.

Outcomes (exactly one per request sent):

    ok               200 with one judgment per item (the judgments themselves may be ok or failed)
    http_429         429: the service shed load (its Retry-After is kept)
    http_5xx         500..599
    http_error       any other non-200 status (400, 413, 422, 3xx, ...)
    bad_response     200 whose body is not the judge response shape, or has the wrong number of judgments
    timeout          the client's HTTP timeout fired
    transport_error  connection refused/reset and other transport failures
    cancelled        still in flight when the run's time ran out
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["OUTCOMES", "Outcome", "RequestResult", "classify_response", "parse_retry_after"]

Outcome = Literal["ok", "http_429", "http_5xx", "http_error", "bad_response", "timeout", "transport_error", "cancelled"]
OUTCOMES: tuple[Outcome, ...] = (
    "ok",
    "http_429",
    "http_5xx",
    "http_error",
    "bad_response",
    "timeout",
    "transport_error",
    "cancelled",
)


@dataclass(frozen=True)
class RequestResult:
    """One request's fate.

    Attributes:
        index: Position of the request in the workload.
        n_items: Items the request carried.
        sent_at: Seconds from the start of the run to the send.
        latency_s: Seconds from the send to the full response (or the error).
        outcome: See the module docstring.
        status_code: HTTP status, when a response came.
        error_type: The error body's ``error.type``, or the exception's class name.
        retry_after_s: A 429's Retry-After, in seconds, when given as a number.
        judgments_ok: Judgments with status ok.
        failed_reasons: Count of failed judgments per reason.
        cached: Judgments answered from the service's cache.
        prompt_tokens: The response's ``usage.prompt_tokens``.
        completion_tokens: The response's ``usage.completion_tokens``.
        scheduled_at: Open loop only: seconds from the start at which the request was due.
    """

    index: int
    n_items: int
    sent_at: float
    latency_s: float
    outcome: Outcome
    status_code: int | None = None
    error_type: str | None = None
    retry_after_s: float | None = None
    judgments_ok: int = 0
    failed_reasons: dict[str, int] = field(default_factory=dict)
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scheduled_at: float | None = None

    @property
    def judgments(self) -> int:
        """Judgments returned (ok and failed)."""
        return self.judgments_ok + sum(self.failed_reasons.values())


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds; None when absent or an HTTP date (which a loopback test never needs).

    Example:
        >>> parse_retry_after("2"), parse_retry_after(None)
        (2.0, None)
    """
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _error_type(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _judge_fields(body: Any, n_items: int) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("judgments"), list):
        return None
    judgments = body["judgments"]
    if len(judgments) != n_items or not all(isinstance(j, dict) for j in judgments):
        return None
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    reasons = Counter(str(j.get("reason") or "unknown") for j in judgments if j.get("status") != "ok")
    return {
        "judgments_ok": sum(j.get("status") == "ok" for j in judgments),
        "failed_reasons": dict(reasons),
        "cached": sum(bool(j.get("cached")) for j in judgments),
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
    }


def classify_response(
    *,
    index: int,
    n_items: int,
    sent_at: float,
    latency_s: float,
    status_code: int,
    headers: dict[str, str],
    content: bytes,
    scheduled_at: float | None = None,
) -> RequestResult:
    """Turn an HTTP response into a `RequestResult`.

    Args:
        index: Position of the request in the workload.
        n_items: Items sent, to check that one judgment came back per item.
        sent_at: Seconds from the run's start to the send.
        latency_s: Seconds the request took.
        status_code: The response status.
        headers: Response headers, names lower-cased.
        content: Raw response body.
        scheduled_at: Open loop: when the request was due.

    Returns:
        The classified result; for a 200, judgment counts, failure reasons, cache hits and token usage.

    Example:
        >>> body = b'{"judgments": [{"status": "failed", "reason": "length"}], "usage": {"prompt_tokens": 9}}'
        >>> r = classify_response(index=0, n_items=1, sent_at=0.0, latency_s=0.1, status_code=200,
        ...                       headers={}, content=body)
        >>> r.outcome, r.failed_reasons, r.prompt_tokens
        ('ok', {'length': 1}, 9)
    """
    base: dict[str, Any] = {
        "index": index,
        "n_items": n_items,
        "sent_at": sent_at,
        "latency_s": latency_s,
        "status_code": status_code,
        "scheduled_at": scheduled_at,
    }
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = None
    if status_code == 200:
        try:
            fields = _judge_fields(body, n_items)
        except (TypeError, ValueError):
            fields = None
        if fields is None:
            return RequestResult(**base, outcome="bad_response", error_type="not_a_judge_response")
        return RequestResult(**base, outcome="ok", **fields)
    if status_code == 429:
        retry = parse_retry_after(headers.get("retry-after"))
        return RequestResult(**base, outcome="http_429", error_type=_error_type(body), retry_after_s=retry)
    outcome: Outcome = "http_5xx" if 500 <= status_code <= 599 else "http_error"
    return RequestResult(**base, outcome=outcome, error_type=_error_type(body))

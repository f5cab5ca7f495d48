"""The retry policy as small pure functions: what to retry, and how long to wait."""

from __future__ import annotations

import email.utils
import math
import random
import time

from ._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY, RETRY_JITTER

__all__ = ["calculate_retry_delay", "parse_retry_after", "should_retry_status"]


def should_retry_status(status_code: int) -> bool:
    """Whether a response status is worth another try: 429 and 5xx only, never any other 4xx.

    Args:
        status_code: The HTTP status.

    Returns:
        True for 429 and 500-599.

    Example:
        >>> [should_retry_status(s) for s in (400, 429, 503)]
        [False, True, True]
    """
    return status_code == 429 or 500 <= status_code <= 599


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date).

    Args:
        value: The header's value, or None when absent.
        now: The current Unix time (for tests); defaults to `time.time()`.

    Returns:
        A non-negative number of seconds, or None when absent or unreadable.

    Example:
        >>> parse_retry_after("1.5"), parse_retry_after("soon")
        (1.5, None)
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            date = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = date.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def calculate_retry_delay(
    retries_taken: int, *, retry_after: float | None = None, jitter: float | None = None
) -> float:
    """Seconds to sleep before retry number `retries_taken + 1`.

    delay = min(Retry-After, MAX_RETRY_AFTER) when the server sent one, else
    delay = min(INITIAL_RETRY_DELAY · 2^retries_taken, MAX_RETRY_DELAY) · (1 − RETRY_JITTER · u),
    with u ~ U[0, 1).

    Args:
        retries_taken: Retries already made for this request (0 before the first retry).
        retry_after: The server's `Retry-After`, in seconds, if any.
        jitter: `u` above, for tests; drawn at random when None.

    Returns:
        The delay in seconds.

    Example:
        >>> calculate_retry_delay(0, jitter=0.0), calculate_retry_delay(10, jitter=0.0)
        (0.5, 8.0)
        >>> calculate_retry_delay(0, retry_after=120)
        60.0
    """
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    u = random.random() if jitter is None else jitter
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_taken, 32), MAX_RETRY_DELAY)
    return base * (1.0 - RETRY_JITTER * u)

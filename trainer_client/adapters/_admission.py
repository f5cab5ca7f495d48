"""How many judgments an adapter keeps in flight: the judge's own admission limit, not a client default."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import httpx

from .._base import resolve_urls
from .._constants import ENV_API_KEY

__all__ = ["FALLBACK_IN_FLIGHT", "admission_limit", "in_flight_limit"]

FALLBACK_IN_FLIGHT = 1024  # when a judge's /info does not say its limit: its 429s pace the rest


def admission_limit(urls: Sequence[str], api_key: str | None) -> int | None:
    """The judges' admission limit: the sum of `/info`'s `max_pending_items` over the replicas (None if one of them
    does not say, or cannot be reached)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    total = 0
    for url in urls:
        try:
            info = httpx.get(f"{url.rstrip('/')}/info", headers=headers, timeout=10.0).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            print(f"trainer_client: could not read {url}/info ({exc})", file=sys.stderr)
            return None
        limit = info.get("max_pending_items") if isinstance(info, dict) else None
        if not isinstance(limit, int) or limit < 1:
            return None
        total += limit
    return total


def in_flight_limit(base_url: str | Sequence[str] | None, api_key: str | None = None) -> int:
    """`admission_limit` for these judge URL(s) (None: `RRM_JUDGE_URL`), else `FALLBACK_IN_FLIGHT`."""
    key = api_key or os.environ.get(ENV_API_KEY) or None
    return admission_limit(resolve_urls(base_url), key) or FALLBACK_IN_FLIGHT

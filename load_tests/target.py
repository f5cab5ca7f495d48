"""Where load may go: loopback only, unless the caller explicitly allows a remote target.

Load tests send a lot of traffic; pointing one at a shared or production host by a typo should be impossible
by default. Only literal loopback addresses (127.0.0.0/8, ::1) and the name ``localhost`` pass; any other host
name is refused without resolving it, even one that would resolve to loopback.
"""

from __future__ import annotations

import ipaddress

import httpx

__all__ = ["RemoteTargetError", "check_target", "is_loopback_host"]


class RemoteTargetError(ValueError):
    """The target URL is not a loopback address and remote targets were not allowed."""


def is_loopback_host(host: str) -> bool:
    """Whether `host` is ``localhost`` or a literal loopback IP address.

    Example:
        >>> is_loopback_host("127.0.0.1"), is_loopback_host("::1"), is_loopback_host("example.com")
        (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_target(url: str, *, allow_remote: bool = False) -> str:
    """Validate a service base URL and return it without a trailing slash.

    Args:
        url: Base URL of the service, e.g. ``http://127.0.0.1:8000``.
        allow_remote: Allow hosts other than loopback (the CLI's ``--allow-remote``).

    Returns:
        The base URL, trailing slash removed.

    Raises:
        ValueError: The URL is not http(s) or has no host.
        RemoteTargetError: The host is not loopback and `allow_remote` is false.

    Example:
        >>> check_target("http://127.0.0.1:8000/")
        'http://127.0.0.1:8000'
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    if not allow_remote and not is_loopback_host(parsed.host):
        raise RemoteTargetError(
            f"refusing to send load to non-loopback host {parsed.host!r}; pass allow_remote (--allow-remote) to do so"
        )
    return url.rstrip("/")

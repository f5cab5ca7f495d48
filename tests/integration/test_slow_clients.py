"""Slow and idle clients on a real server around the real engine, configured as `python -m service` is: cut off
after the header, body and keep-alive timeouts, the bytes read before admission bounded, normal requests served
meanwhile."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import ServeApp

pytestmark = pytest.mark.integration

LIMITS = {
    "header_timeout_s": 1.0,
    "body_timeout_s": 1.0,
    "keep_alive_timeout_s": 1.0,
    "max_body_bytes": 64 * 1024,
    "max_body_bytes_reading": 128 * 1024,
}


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parsed = urlparse(url)
    return await asyncio.open_connection(parsed.hostname, parsed.port)


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a test deadline, not a timing assertion)."""
    return await asyncio.wait_for(reader.read(), 30)


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def assert_error(raw: bytes, code: int) -> dict[str, str]:
    status, headers, body = parse(raw)
    assert status == code, raw[:300]
    assert set(body["error"]) == {"type", "message", "code", "request_id", "details"}
    assert body["error"]["code"] == code and body["error"]["request_id"] == headers["x-request-id"]
    assert headers["connection"] == "close"
    return headers


def post_head(length: int) -> bytes:
    return (
        f"POST /judge HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


async def test_slow_and_idle_clients_are_cut_off_and_normal_requests_are_served(serve_app: ServeApp) -> None:
    async with serve_app(**LIMITS) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def slow_headers() -> bytes:
            reader, writer = await connect(url)
            writer.write(b"POST /judge HTTP/1.1\r\nhost: x\r\n")  # ... and the rest never comes
            return await until_closed(reader)

        async def silent() -> bytes:
            reader, _ = await connect(url)
            return await until_closed(reader)

        async def slow_body() -> bytes:
            reader, writer = await connect(url)
            writer.write(post_head(100) + b'{"items":')
            return await until_closed(reader)

        async def idle_keep_alive() -> tuple[int, bytes]:
            reader, writer = await connect(url)
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            raw = await until_closed(reader)  # answered, then closed once idle for the keep-alive timeout
            return int(raw.split()[1]), raw

        async def huge_head() -> bytes:
            reader, writer = await connect(url)
            writer.write(b"GET /healthz HTTP/1.1\r\nx-huge: " + b"h" * 70_000 + b"\r\n\r\n")
            return await until_closed(reader)

        async def normal() -> list[int]:
            body = {"items": [{"question": "meanwhile", "trajectory": "t"}]}
            return [(await client.post("/judge", json=body)).status_code for _ in range(3)]

        headers, quiet, body, (kept_status, _), huge, codes = await asyncio.gather(
            slow_headers(), silent(), slow_body(), idle_keep_alive(), huge_head(), normal()
        )
    assert_error(headers, 408)
    assert b"headers not complete within 1 s" in headers
    assert quiet == b""  # a connection that never sent a byte is closed without an answer
    assert_error(body, 408)
    assert b"body not complete within 1 s" in body
    assert kept_status == 200
    assert_error(huge, 431)
    assert codes == [200, 200, 200]


async def test_bytes_being_read_before_admission_are_bounded(serve_app: ServeApp) -> None:
    async with (
        serve_app(**LIMITS | {"body_timeout_s": 5.0}) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        for _ in range(2):  # two bodies of 60 KiB, all but their last byte sent: 120 KiB of the 128 KiB budget
            reader, writer = await connect(url)
            writer.write(post_head(60 * 1024) + b" " * (60 * 1024 - 1))
            await writer.drain()
            held.append((reader, writer))  # keep the writer: dropping it closes the connection
        while "rrm_body_bytes_reading 122878.0" not in (await client.get("/metrics")).text:
            await asyncio.sleep(0.05)  # until the server has read them
        reader, writer = await connect(url)
        writer.write(post_head(60 * 1024))  # a third such body does not fit
        raw = await until_closed(reader)
        headers = assert_error(raw, 429)
        assert headers["retry-after"] == "1" and b"limit before admission is 131072" in raw
        small = await client.post("/judge", json={"items": [{"question": "small", "trajectory": "t"}]})
        assert small.status_code == 200  # a small body still fits
        for reader, _ in held:  # the held bodies end with the body timeout, and give their bytes back
            assert_error(await until_closed(reader), 408)
        reader, writer = await connect(url)
        writer.write(post_head(60 * 1024) + b" " * (60 * 1024))
        status, _, _ = parse(await until_closed(reader))
        assert status == 422  # read in full this time (and refused as the JSON it is not)

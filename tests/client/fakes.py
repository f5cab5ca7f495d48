"""A fake judge service behind `httpx.MockTransport`: the only test double the client tests need.

It speaks the wire contract (parses each `JudgeRequest`, answers a `JudgeResponse`), and can be told to fail:
`FakeJudge(script=["connect", 503, "ok"])` makes the first call raise a connection error, the second answer 503,
and the rest succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx

Action = str | int  # "ok", "connect", "timeout", "garbage", or an HTTP status


def default_score(item: dict[str, Any]) -> float:
    """A deterministic score in [0, 1] from the item's content."""
    digest = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).digest()
    return round(digest[0] / 255, 4)


def error_body(status: int, message: str = "injected") -> dict[str, Any]:
    return {"error": {"type": "injected", "message": message, "code": status, "request_id": None, "details": None}}


class FakeJudge:
    """Callable handler for `httpx.MockTransport`.

    Args:
        script: Actions for the first calls to /judge, in order; later calls answer "ok".
        score: Item → score, or None to make that item's judgment fail (reason `parse_error`).
        retry_after: `Retry-After` header value sent with 429/503 answers, if any.
    """

    def __init__(
        self,
        script: list[Action] | None = None,
        *,
        score: Callable[[dict[str, Any]], float | None] = default_score,
        retry_after: str | None = None,
        critique: str = "Check the arithmetic.",
        max_pending_items: int = 2048,
    ) -> None:
        self.max_pending_items = max_pending_items
        self.script = list(script or [])
        self.score = score
        self.retry_after = retry_after
        self.critique = critique
        self.calls: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/readyz") or request.url.path.endswith("/healthz"):
            return httpx.Response(200, json={"status": "ok"})
        if request.url.path.endswith("/info"):
            return httpx.Response(200, json={"model": "fake-judge", "max_pending_items": self.max_pending_items})
        self.calls.append(request)
        action = self.script.pop(0) if self.script else "ok"
        if action == "connect":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if action == "timeout":
            raise httpx.ReadTimeout("injected: read timeout", request=request)
        if action == "garbage":
            return httpx.Response(200, json={"unexpected": True})
        if isinstance(action, int):
            headers = {"Retry-After": self.retry_after} if self.retry_after and action in (429, 503) else {}
            return httpx.Response(action, json=error_body(action), headers=headers)
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        judgments = []
        for index, item in enumerate(body["items"]):
            score = self.score(item)
            if score is None:
                judgments.append({"index": index, "id": item.get("id"), "status": "failed", "reason": "parse_error"})
            else:
                judgments.append(
                    {"index": index, "id": item.get("id"), "status": "ok", "score": score, "critique": self.critique}
                )
        request_id = request.headers.get("x-request-id", "generated")
        response = {
            "id": request_id,
            "model": "fake-judge",
            "template_id": "t0",
            "judgments": judgments,
            "usage": {"prompt_tokens": 10 * len(judgments), "completion_tokens": 5 * len(judgments)},
        }
        return httpx.Response(200, json=response, headers={"X-Request-Id": request_id})


def sync_client(judge: FakeJudge, url: str | list[str] = "http://judge.test", **kwargs: Any) -> Any:
    from trainer_client import JudgeClient

    return JudgeClient(url, http_client=httpx.Client(transport=httpx.MockTransport(judge)), **kwargs)


def async_client(judge: FakeJudge, url: str | list[str] = "http://judge.test", **kwargs: Any) -> Any:
    from trainer_client import AsyncJudgeClient

    return AsyncJudgeClient(url, http_client=httpx.AsyncClient(transport=httpx.MockTransport(judge)), **kwargs)


def fails_on_bad(item: dict[str, Any]) -> float | None:
    """A score function for the conformance tests: a completion containing "bad" fails (parse_error), others 0.8."""
    messages = item.get("messages") or [{}]
    text = messages[-1].get("content") or item.get("trajectory") or ""
    return None if "bad" in text else 0.8


def serve_over_http(judge: FakeJudge, port: int = 0) -> Any:
    """Serve `judge` over real HTTP on 127.0.0.1 (for code that builds its own client from a URL); returns the
    started `ThreadingHTTPServer` (`server.server_address[1]` is the port; `shutdown()` it)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                method, f"http://judge{self.path}", headers=dict(self.headers), content=self.rfile.read(length)
            )
            response = judge(request)
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024  # a burst of connections must not wait in a 5-deep backlog
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

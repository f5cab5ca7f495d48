"""The driver's command line against a real loopback HTTP server (stdlib), through a real httpx client."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from load_tests.cli import main
from load_tests.fake_judge import judge_body
from load_tests.workload import main as workload_main


class _Judge(BaseHTTPRequestHandler):
    seen_auth: list[str | None] = []  # noqa: RUF012 - shared by the server's handler instances on purpose

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen_auth.append(self.headers.get("authorization"))
        status, payload = (200, judge_body(body)) if self.path == "/judge" else (404, {"error": {"type": "nf"}})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    _Judge.seen_auth = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cli_runs_and_writes_the_report(server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    argv = ["--url", server_url, "--requests", "6", "--concurrency", "2", "--items-per-request", "4"]
    assert main([*argv, "--json", str(out), "--api-key", "k1", "--max-tokens", "64"]) == 0
    report = json.loads(out.read_text())
    assert report["requests_ok"] == 6 and report["judgments"] == 24 and report["failed_by_reason"]["length"] == 6
    assert report["config"]["options"] == {"max_tokens": 64} and report["config"]["api_key"] == "***"
    assert _Judge.seen_auth == ["Bearer k1"] * 6
    captured = capsys.readouterr()
    assert "judgments/s" in captured.out and "[closed] 6/6 done" in captured.err


def test_cli_sends_a_workload_file(server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workload = tmp_path / "w.jsonl"
    assert workload_main(["--preset", "grpo", "--n", "3", "--out", str(workload)]) == 0
    argv = [
        "--url",
        server_url,
        "--workload",
        str(workload),
        "--requests",
        "10",
        "--no-progress",
        "--json",
        "-",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["requests_sent"] == 3 and report["items_sent"] == 24
    assert "judgments/s" in captured.err and "[closed]" not in captured.err


def test_cli_refuses_a_remote_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--url", "http://192.0.2.1:8000", "--requests", "1"])
    assert exc.value.code == 2 and "non-loopback" in capsys.readouterr().err


def test_python_m_entry_point(server_url: str) -> None:
    cmd = [sys.executable, "-m", "load_tests.driver", "--url", server_url, "--requests", "2", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "responses: 2 ok" in done.stdout

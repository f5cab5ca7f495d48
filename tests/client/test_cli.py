"""`python -m trainer_client judge`: streaming, resuming, failures and the summary."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import trainer_client._cli as cli
from trainer_client import JudgeClient
from trainer_client._summary import format_summary, summarize

from .fakes import FakeJudge


def _write_input(path: Path, n: int, bad: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    lines = []
    for i in range(n):
        item: dict[str, Any] = {"id": f"t{i}", "question": f"q{i}", "trajectory": f"a{i}"}
        if i in bad:
            item.pop("trajectory")  # invalid: neither messages nor trajectory
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n\n")  # a trailing blank line is ignored


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> FakeJudge:
    judge = FakeJudge(score=lambda item: None if item["question"] == "q3" else 0.9)

    def make_client(url: Any, **kwargs: Any) -> JudgeClient:
        http = httpx.Client(transport=httpx.MockTransport(judge))
        return JudgeClient(url or "http://judge.test", http_client=http, **kwargs)

    monkeypatch.setattr(cli, "JudgeClient", make_client)
    return judge


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_judges_a_file_in_order_with_summary(
    tmp_path: Path, fake: FakeJudge, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 10, bad={5})
    code, out, err = _run(
        ["judge", str(src), "-o", str(dst), "--url", "http://judge.test", "--batch-size", "4"], capsys
    )
    assert code == 0
    records = _read(dst)
    assert [r["index"] for r in records] == list(range(10))
    assert [r["id"] for r in records] == [f"t{i}" for i in range(10)]
    assert records[3]["reason"] == "parse_error" and records[5]["reason"] == "rejected"
    assert "judged 10: 8 ok, 2 failed" in out and "parse_error 1" in out and "rejected 1" in out
    assert "mean 0.900" in out
    assert "judged 10/10" in err  # the progress line


def test_resumes_after_a_torn_line(tmp_path: Path, fake: FakeJudge, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 6)
    done = [json.dumps({"index": i, "id": f"t{i}", "status": "ok", "score": 0.1}) for i in range(2)]
    dst.write_text("\n".join(done) + "\n" + '{"index": 2, "sta')  # killed mid-write
    code, _, err = _run(["judge", str(src), "-o", str(dst), "--no-progress"], capsys)
    assert code == 0 and "resuming: 2" in err
    records = _read(dst)
    assert [r["index"] for r in records] == list(range(6))
    assert records[0]["score"] == 0.1  # kept, not re-judged
    assert sum(len(b["items"]) for b in fake.bodies) == 4


def test_outage_stops_with_code_2_and_rerun_finishes(
    tmp_path: Path, fake: FakeJudge, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 6)
    fake.script = ["ok"] + [503] * 6  # batch 1 fine, batch 2 unavailable after retries
    code, _, err = _run(
        ["judge", str(src), "-o", str(dst), "--batch-size", "3", "--max-retries", "2", "--no-progress"], capsys
    )
    assert code == cli.EXIT_UNAVAILABLE and "rerun to resume" in err
    assert len(_read(dst)) == 3
    code, _, _ = _run(["judge", str(src), "-o", str(dst), "--batch-size", "3", "--no-progress"], capsys)
    assert code == 0 and [r["index"] for r in _read(dst)] == list(range(6))


def test_one_bad_item_does_not_sink_its_batch(
    tmp_path: Path, fake: FakeJudge, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 3)
    fake.script = [400]  # the batch is refused once; items are then re-sent one by one
    code, _, _ = _run(["judge", str(src), "-o", str(dst), "--no-progress"], capsys)
    records = _read(dst)
    assert code == 0 and [r["status"] for r in records] == ["ok", "ok", "ok"]


def test_auth_failure_is_an_error(tmp_path: Path, fake: FakeJudge, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    _write_input(src, 2)
    fake.script = [401]
    code, _, err = _run(["judge", str(src), "-o", str(tmp_path / "o.jsonl"), "--no-progress"], capsys)
    assert code == 1 and "401" in err


def test_summary_formatting() -> None:
    records = [{"status": "ok", "score": s} for s in (0.0, 0.1, 0.5, 0.95, 1.0)]
    records += [{"status": "failed", "reason": "timeout"}] * 2
    text = format_summary(summarize(records))
    assert text.splitlines()[0] == "judged 7: 5 ok, 2 failed"
    assert "failures: timeout 2" in text and "median 0.500" in text
    assert text.splitlines()[-1].endswith(" 2") and "[0.8, 1.0]" in text


def test_progress_writes_a_carriage_return_line_on_ttys() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = cli._Progress(total=4, done=0, stream=stream, enabled=True)
    progress.update([])
    progress.close()
    assert stream.getvalue().startswith("\rjudged 0/4") and stream.getvalue().endswith("\n")


def test_module_entry_point_shows_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trainer_client", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "judge" in result.stdout and "serve-reward" in result.stdout

"""Percentiles, response classification and report aggregation: the numbers a benchmark will quote."""

from __future__ import annotations

import json

import pytest

from load_tests.progress import format_progress
from load_tests.report import build_report, format_summary
from load_tests.results import RequestResult, classify_response, parse_retry_after
from load_tests.stats import latency_stats, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([float(i) for i in range(1, 101)], 95, 95.05),
        ([float(i) for i in range(1, 101)], 99, 99.01),
        ([0.0, 10.0], 25, 2.5),
    ],
)
def test_percentile_matches_numpy_linear(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_stats() -> None:
    s = latency_stats([0.3, 0.1, 0.2, 0.4])
    assert (s.n, s.p50, s.max) == (4, pytest.approx(0.25), 0.4)
    assert s.mean == pytest.approx(0.25)
    assert latency_stats([]).p99 is None


def _classify(status: int, body: object, n_items: int = 2, headers: dict[str, str] | None = None) -> RequestResult:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return classify_response(
        index=3,
        n_items=n_items,
        sent_at=1.0,
        latency_s=0.5,
        status_code=status,
        headers=headers or {},
        content=content,
    )


def test_classify_ok_counts_statuses_reasons_cache_and_usage() -> None:
    body = {
        "judgments": [
            {"status": "ok", "cached": True},
            {"status": "failed", "reason": "timeout"},
            {"status": "failed", "reason": "timeout"},
        ],
        "usage": {"prompt_tokens": 300, "completion_tokens": 30},
    }
    r = _classify(200, body, n_items=3)
    assert r.outcome == "ok" and r.judgments_ok == 1 and r.judgments == 3
    assert r.failed_reasons == {"timeout": 2} and r.cached == 1
    assert (r.prompt_tokens, r.completion_tokens) == (300, 30)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "error_type"),
    [
        (
            200,
            {"judgments": [{"status": "ok"}]},
            "bad_response",
            "not_a_judge_response",
        ),  # 1 judgment, 2 items
        (200, b"<html>", "bad_response", "not_a_judge_response"),
        (200, {"judgments": [{"status": "ok"}, {}], "usage": {"prompt_tokens": "x"}}, "bad_response", None),
        (503, {"error": {"type": "not_ready"}}, "http_5xx", "not_ready"),
        (500, b"", "http_5xx", None),
        (413, {"error": {"type": "too_large"}}, "http_error", "too_large"),
        (422, {"detail": []}, "http_error", None),
    ],
)
def test_classify_errors(status: int, body: object, outcome: str, error_type: str | None) -> None:
    r = _classify(status, body)
    assert r.outcome == outcome and r.status_code == status
    if error_type is not None:
        assert r.error_type == error_type


def test_classify_429_keeps_retry_after() -> None:
    r = _classify(429, {"error": {"type": "overloaded"}}, headers={"retry-after": "3"})
    assert (r.outcome, r.retry_after_s, r.error_type) == ("http_429", 3.0, "overloaded")
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def _ok(latency: float, ok: int, failed: dict[str, int] | None = None, **kw: int) -> RequestResult:
    n = ok + sum((failed or {}).values())
    return RequestResult(0, n, 0.0, latency, "ok", 200, judgments_ok=ok, failed_reasons=failed or {}, **kw)


def test_report_counts_rates_and_item_weighted_latency() -> None:
    results = [
        _ok(1.0, 1, prompt_tokens=100, completion_tokens=10, cached=1),
        _ok(2.0, 1, {"parse_error": 1, "length": 1}, prompt_tokens=300, completion_tokens=30),
        RequestResult(2, 4, 0.1, 0.01, "http_429", 429, retry_after_s=1.0, error_type="overloaded"),
        RequestResult(3, 4, 0.2, 0.02, "http_5xx", 503, error_type="not_ready"),
        RequestResult(4, 4, 0.3, 5.0, "timeout", error_type="ReadTimeout"),
        RequestResult(5, 4, 0.4, 0.1, "cancelled"),
    ]
    r = build_report(results, config={"mode": "closed"}, elapsed_s=2.0, planned=8, skipped=1, stopped_by="duration")
    assert (r.requests_sent, r.requests_ok, r.requests_429, r.requests_5xx) == (6, 2, 1, 1)
    assert (r.requests_other_errors, r.requests_cancelled, r.requests_skipped) == (1, 1, 1)
    assert (r.judgments, r.judgments_ok, r.judgments_failed, r.cached) == (4, 2, 2, 1)
    assert r.failed_by_reason == {"length": 1, "parse_error": 1}
    assert r.items_sent == 1 + 3 + 16
    assert (r.judgments_per_s, r.ok_judgments_per_s, r.requests_per_s) == (2.0, 1.0, 1.0)
    assert (r.prompt_tokens_per_s, r.completion_tokens_per_s) == (200.0, 20.0)
    assert r.latency_request.p50 == pytest.approx(1.5)  # two requests: 1 s and 2 s
    assert r.latency_item.n == 4 and r.latency_item.p50 == pytest.approx(2.0)  # 1 item at 1 s, 3 at 2 s
    assert r.error_types == {"ReadTimeout": 1, "not_ready": 1, "overloaded": 1}
    assert sum(r.outcomes.values()) == 6
    data = json.loads(r.to_json())
    assert data["latency_item"]["n"] == 4 and data["stopped_by"] == "duration"
    summary = format_summary(r)
    assert "2.00 judgments/s" in summary and "parse_error 1" in summary and "http_429 1" in summary


def test_empty_report_is_well_formed() -> None:
    r = build_report([], config={}, elapsed_s=0.0, planned=3)
    assert r.judgments_per_s == 0.0 and r.latency_request.n == 0
    assert "sent of 3 planned" in format_summary(r)


def test_progress_line() -> None:
    results = [
        _ok(0.1, 2),
        RequestResult(1, 2, 0.0, 0.1, "http_429", 429),
        RequestResult(2, 2, 0, 1, "timeout"),
    ]
    line = format_progress(results, total=10, in_flight=3, elapsed_s=2.0, mode="open")
    assert line.startswith("[open] 3/10 done, 3 in flight")
    assert "ok 1  429 1  5xx 0  err 1" in line and "1.0 judgments/s" in line

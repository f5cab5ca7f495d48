"""The retry policy: pure functions, then the clients against a fake service that fails on purpose."""

from __future__ import annotations

import email.utils

import pytest

from trainer_client import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    JudgeError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from trainer_client._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY
from trainer_client._retry import calculate_retry_delay, parse_retry_after, should_retry_status

from .fakes import FakeJudge, async_client, sync_client

ITEMS = [{"question": "What is 2+2?", "trajectory": "4"}]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, False),
        (401, False),
        (404, False),
        (408, False),
        (413, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_should_retry_status(status: int, expected: bool) -> None:
    assert should_retry_status(status) is expected


def test_parse_retry_after_seconds_date_and_junk() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    date = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert parse_retry_after(date, now=1_000_000.0) == pytest.approx(10.0)


def test_backoff_doubles_caps_and_jitters() -> None:
    assert [calculate_retry_delay(n, jitter=0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert calculate_retry_delay(0, jitter=0.0) == INITIAL_RETRY_DELAY
    assert calculate_retry_delay(50, jitter=0.0) == MAX_RETRY_DELAY
    assert calculate_retry_delay(2, jitter=1.0) == pytest.approx(2.0 * 0.75)
    assert all(0.375 <= calculate_retry_delay(0) <= 0.5 for _ in range(100))


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert calculate_retry_delay(3, retry_after=1.5) == 1.5
    assert calculate_retry_delay(0, retry_after=10_000) == MAX_RETRY_AFTER


FAILURES = ["connect", "timeout", 429, 500, 502, 503]


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize("failures", [0, 1, 2, 3])
def test_sync_client_retries_until_success(kind: str | int, failures: int, sleeps: list[float]) -> None:
    judge = FakeJudge([kind] * failures)
    with sync_client(judge, max_retries=3) as client:
        result = client.judge(ITEMS)
    assert len(judge.calls) == failures + 1
    assert result.retries_taken == failures
    assert result[0].ok
    assert len(sleeps) == failures  # one endpoint: every retry waits


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize("failures", [0, 1, 2, 3])
async def test_async_client_retries_until_success(kind: str | int, failures: int, sleeps: list[float]) -> None:
    judge = FakeJudge([kind] * failures)
    async with async_client(judge, max_retries=3) as client:
        result = await client.judge(ITEMS)
    assert len(judge.calls) == failures + 1
    assert result.retries_taken == failures
    assert result[0].ok
    assert len(sleeps) == failures


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("connect", APIConnectionError),
        ("timeout", APITimeoutError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, ServiceUnavailableError),
    ],
)
def test_gives_up_after_max_retries(kind: str | int, error: type[JudgeError], sleeps: list[float]) -> None:
    judge = FakeJudge([kind] * 10)
    with sync_client(judge, max_retries=2) as client, pytest.raises(error) as caught:
        client.judge(ITEMS)
    assert len(judge.calls) == 3
    assert caught.value.retries_taken == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
    ],
)
def test_never_retries_4xx(status: int, error: type[JudgeError], sleeps: list[float]) -> None:
    judge = FakeJudge([status])
    with sync_client(judge, max_retries=5) as client, pytest.raises(error) as caught:
        client.judge(ITEMS)
    assert len(judge.calls) == 1
    assert sleeps == []
    assert caught.value.retries_taken == 0
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.error is not None and caught.value.error.type == "injected"  # type: ignore[attr-defined]


def test_garbage_200_is_a_validation_error_not_retried(sleeps: list[float]) -> None:
    judge = FakeJudge(["garbage"])
    with sync_client(judge) as client, pytest.raises(APIResponseValidationError):
        client.judge(ITEMS)
    assert len(judge.calls) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_header_sets_the_wait(status: int, sleeps: list[float]) -> None:
    judge = FakeJudge([status, status], retry_after="2.5")
    with sync_client(judge) as client:
        result = client.judge(ITEMS)
    assert sleeps == [2.5, 2.5]
    assert result.retries_taken == 2


def test_huge_retry_after_is_capped(sleeps: list[float]) -> None:
    judge = FakeJudge([429], retry_after="86400")
    with sync_client(judge) as client:
        client.judge(ITEMS)
    assert sleeps == [MAX_RETRY_AFTER]


def test_exhausted_retries_become_masked_failures_when_asked(sleeps: list[float]) -> None:
    judge = FakeJudge([503] * 10)
    items = [{"id": f"i{k}", "question": "q", "trajectory": "t"} for k in range(3)]
    with sync_client(judge, max_retries=1) as client:
        result = client.judge(items, raise_on_error=False)
    assert [j.status for j in result] == ["failed"] * 3
    assert {j.reason for j in result} == {"unavailable"}
    assert [j.id for j in result] == ["i0", "i1", "i2"]
    assert result.scores == [None, None, None]  # never 0
    assert result.retries_taken == 1 and len(result.errors) == 1


def test_refused_requests_become_rejected_failures(sleeps: list[float]) -> None:
    judge = FakeJudge([400])
    with sync_client(judge) as client:
        result = client.judge(ITEMS, raise_on_error=False)
    assert result[0].reason == "rejected" and result.scores == [None]


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_raise_even_when_masking(status: int, sleeps: list[float]) -> None:
    judge = FakeJudge([status])
    with sync_client(judge) as client, pytest.raises((AuthenticationError, PermissionDeniedError)):
        client.judge(ITEMS, raise_on_error=False)

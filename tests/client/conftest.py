"""Fixtures of the client tests (the live-service fixtures `judge_url` and `demo_model_dir` come from
tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

import trainer_client._client as client_module


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the client's sleeps (sync and async) by a recorder: retry tests run instantly and see the delays."""
    recorded: list[float] = []

    def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    async def fake_asleep(seconds: float, *args: Any) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(client_module, "_sleep", fake_sleep)
    monkeypatch.setattr(client_module, "_asleep", fake_asleep)
    return recorded

"""Fixtures of the load-test tests."""

from __future__ import annotations

import pytest

from load_tests.fake_judge import FakeJudge


@pytest.fixture
def fake_judge() -> FakeJudge:
    return FakeJudge()

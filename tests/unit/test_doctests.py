"""The examples in the service's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    [
        "service.parsing",
        "service.rendering",
        "service.truncation",
        "service.validation",
        "service.app",
        "service.engine.versions",
        "service.http",
        "service.defence",
        "service.template_source",
        "service.serving",
    ],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0

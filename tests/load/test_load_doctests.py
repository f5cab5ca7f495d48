"""The docstring examples of `load_tests` run and hold (they are part of its documentation)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import load_tests

MODULES = sorted(m.name for m in pkgutil.iter_modules(load_tests.__path__, "load_tests."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

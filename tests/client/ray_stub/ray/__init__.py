"""Stands in for Ray in the verl conformance test: verl's reward path imports the name `ray` (type hints,
`@ray.remote` on classes it never starts) but calls nothing of it. Decorators are no-ops; anything else raises."""

from typing import Any


class ObjectRef:
    """Only used in type annotations on the path under test."""


def remote(*args: Any, **kwargs: Any) -> Any:
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda target: target


def __getattr__(name: str) -> Any:
    raise AttributeError(f"ray is not installed for the conformance tests (ray.{name} was used)")

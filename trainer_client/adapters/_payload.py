"""Checking what a framework sent before anything is scored: one error type, messages that name the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PayloadError", "check_label", "label_list", "text_list"]


class PayloadError(ValueError):
    """A framework sent something the adapter cannot score; the message names the field."""


def _seq(payload: Mapping[str, Any], key: str, where: str) -> list[Any]:
    if key not in payload:
        raise PayloadError(f"{where}: the field {key!r} is missing")
    value = payload[key]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise PayloadError(f"{where}: {key!r} must be a list, not {type(value).__name__}")
    if not value:
        raise PayloadError(f"{where}: {key!r} is an empty list")
    return list(value)


def text_list(payload: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> list[str]:
    """`payload[key]`: a non-empty list of strings (each non-blank unless `allow_empty`)."""
    values = _seq(payload, key, where)
    for k, value in enumerate(values):
        if not isinstance(value, str):
            raise PayloadError(f"{where}: {key}[{k}] must be a string, not {type(value).__name__}")
        if not allow_empty and not value.strip():
            raise PayloadError(f"{where}: {key}[{k}] is empty")
    return values


def check_label(value: Any, name: str, hint: str) -> Any:
    """A ground truth: a non-blank string, a number, or a non-empty list of those."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PayloadError(f"{name} is missing or empty ({hint})")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, list, tuple)):
        raise PayloadError(f"{name} must be a string, a number or a list of strings, not {type(value).__name__}")
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, (str, int, float)) and str(v).strip() for v in value):
            raise PayloadError(f"{name} must be a non-empty list of non-empty answers")
        return [str(v) for v in value]
    return str(value)


def label_list(payload: Mapping[str, Any], key: str, where: str, *, hint: str) -> list[Any]:
    """`payload[key]`: one ground truth per sample (see `check_label`)."""
    return [check_label(v, f"{where}: {key}[{k}]", hint) for k, v in enumerate(_seq(payload, key, where))]

"""Settings: one class, read from flags and RRM_* variables, with cross-field rules checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import CliApp

from service.settings import DEMO_MODEL, Settings


def test_defaults_follow_the_paper() -> None:
    s = Settings(model="some/model")
    assert (s.max_tokens, s.temperature, s.max_items_per_request) == (1400, 0.0, 256)
    assert s.structured_output and s.enable_prefix_caching and s.truncation == "truncate"
    assert s.think_max_chars is None  # a real model's blocks are not bounded


def test_auto_is_the_demo_model_without_a_gpu() -> None:
    if Path("/dev/nvidiactl").exists():
        pytest.skip("a GPU is visible here")
    assert Settings().model == DEMO_MODEL


def test_the_demo_model_gets_bounded_blocks_and_a_context() -> None:
    s = Settings(model="demo")
    assert s.is_demo and s.think_max_chars and s.critique_max_chars and s.max_model_len == 4096


def test_environment_variables_have_the_rrm_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRM_MAX_TOKENS", "900")
    monkeypatch.setenv("RRM_TENSOR_PARALLEL_SIZE", "4")
    monkeypatch.setenv("RRM_ENGINE_ARGS", '{"quantization": "fp8"}')
    s = Settings(model="x")
    assert (s.max_tokens, s.tensor_parallel_size, s.engine_args) == (900, 4, {"quantization": "fp8"})


def test_cli_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRM_PORT", "9000")
    s = CliApp.run(
        Settings,
        cli_args=[
            "--model",
            "m",
            "--port",
            "8123",
            "--no-structured-output",
            "--gpu-memory-utilization",
            "0.8",
            "--truncation",
            "reject",
        ],
    )
    assert (s.model, s.port, s.structured_output, s.gpu_memory_utilization, s.truncation) == (
        "m",
        8123,
        False,
        0.8,
        "reject",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 2000, "max_model_len": 2048}, "leaves no room"),
        ({"engine_args": {"tensor_parallel_size": 2}}, "engine_args may not set"),
        ({"template_file": Path("/no/such/template.txt")}, "does not exist"),
        ({"temperature": -1}, "greater than or equal"),
        ({"gpu_memory_utilization": 1.5}, "less than or equal"),
        ({"truncation": "drop"}, "truncate"),
        ({"max_items_per_request": 0}, "greater than or equal"),
    ],
)
def test_bad_configurations_fail_at_start_up(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(model="x", **kwargs)  # type: ignore[arg-type]

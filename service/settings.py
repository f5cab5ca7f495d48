"""The one settings class, read once at start-up from CLI flags, `RRM_*` environment variables and defaults.

Rules that span fields are validated here, so a bad configuration fails at start-up, not on the first request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEMO_MODEL", "PRODUCTION_MODEL", "Settings"]

DEMO_MODEL = "demo"
PRODUCTION_MODEL = "bunny127/Agent-RRM"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agent-rrm"


class Settings(BaseSettings):
    """Settings of the judge service; each field is also a flag (`--max-tokens`) and a variable (`RRM_MAX_TOKENS`)."""

    model_config = SettingsConfigDict(
        env_prefix="RRM_",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_prog_name="python -m service",
        extra="ignore",
        protected_namespaces=(),
    )

    # --- what is served -------------------------------------------------------------------------------------
    model: str = Field(
        default="auto",
        description="`auto` (bunny127/Agent-RRM when a GPU is visible, else the demo model), `demo` (the tiny "
        "offline model, meaningless text), a Hugging Face model id, or a local folder.",
    )
    served_model_name: str | None = Field(default=None, description="Name reported in responses.")
    template: Literal["auto", "released", "builtin"] = Field(
        default="auto",
        description="The judge's system prompt: `released` (the prompt Agent-RRM was trained with, fetched from the "
        "paper's repository at a pinned revision and hash-checked), `builtin` (this project's own wording), or "
        "`auto` (released for every model but the demo model, which uses builtin).",
    )
    template_file: Path | None = Field(
        default=None, description="A file holding the system prompt, used byte for byte (overrides `template`)."
    )
    released_template_file: Path | None = Field(
        default=None,
        description="Offline hosts: a local copy of the released prompt (the pinned tool_env.py, or the prompt "
        "alone), checked against the pinned SHA-256 instead of downloading it.",
    )
    template_fallback: Literal["refuse", "builtin"] = Field(
        default="refuse",
        description="When the released prompt cannot be had: refuse to start, or serve the builtin wording "
        "(logged and shown in /info; Agent-RRM was not trained on it).",
    )
    input_mode: Literal["auto", "multiturn"] = Field(
        default="auto",
        description="`auto`: a plain-text completion (a `trajectory` string, or `messages` with one final assistant "
        "turn and no tools) is the trajectory text itself, as in the paper's pipeline; other `messages` are "
        "rendered turn by turn. `multiturn`: every `messages` item is rendered turn by turn.",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Where the demo model is built and the released prompt kept."
    )
    download_dir: Path | None = Field(default=None, description="Where vLLM puts downloaded weights.")

    # --- HTTP -----------------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_items_per_request: int = Field(default=256, ge=1, le=100_000)
    max_body_bytes: int = Field(default=32 * 2**20, ge=1024, description="Larger request bodies get 413.")
    max_body_bytes_reading: int | None = Field(
        default=None,
        ge=1024,
        description="Bytes of request bodies being read, parsed and validated at once, over all requests, before "
        "admission; a body that would pass it gets 429 (None: 4 x max_body_bytes).",
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="A request's line and headers must arrive within this (else 408, closed)."
    )
    body_timeout_s: float = Field(
        default=60.0, gt=0, description="A request's body must arrive within this of its headers (else 408, closed)."
    )
    keep_alive_timeout_s: float = Field(default=30.0, gt=0, description="Idle keep-alive connections are closed.")
    max_item_chars: int = Field(
        default=2_000_000, ge=100, description="Items whose question + trajectory exceed this get 400."
    )

    # --- judging --------------------------------------------------------------------------------------------
    max_tokens: int = Field(default=1400, ge=16, description="Tokens the judge may write (paper: 1400).")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature (paper: 0).")
    structured_output: bool = Field(
        default=True, description="Constrain decoding to the three-block format (vLLM structured outputs)."
    )
    think_max_chars: int | None = Field(
        default=None, ge=1, description="Bound on the <think> block's length in the grammar (None: unbounded)."
    )
    critique_max_chars: int | None = Field(default=None, ge=1, description="Same, for the <critique> block.")
    request_timeout_s: float | None = Field(
        default=300.0, gt=0, description="Default deadline of a /judge request; late items fail with `timeout`."
    )
    truncation: Literal["truncate", "reject"] = Field(
        default="truncate", description="Over-long trajectories: shorten them (keeping the ends), or answer 400."
    )

    # --- engine (passed to vLLM) ----------------------------------------------------------------------------
    max_model_len: int | None = Field(default=None, ge=256, description="Context length; None: the model's.")
    dtype: str = "auto"
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    max_num_seqs: int | None = Field(default=None, ge=1, description="Most sequences the engine runs at once.")
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool = True
    enforce_eager: bool | None = Field(default=None, description="None: eager on CPU, CUDA graphs on GPU.")
    seed: int = 0
    cpu_kvcache_space_gib: int | None = Field(default=None, ge=1, description="KV cache size on CPU hosts.")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description='Further vLLM engine arguments, as JSON (e.g. \'{"quantization": "fp8"}\').'
    )
    allow_untested_vllm: bool = Field(
        default=False,
        description="Start even if the installed vLLM is outside the range this service is tested with "
        "(service/engine/versions.py); without it such a vLLM is refused at start-up.",
    )

    # --- overload, faults, drain ----------------------------------------------------------------------------
    max_pending_items: int = Field(
        default=2048, ge=1, description="Admission limit: items admitted and not yet judged. Past it: 429."
    )
    max_pending_prompt_tokens: int | None = Field(
        default=None, ge=1, description="Admission limit on the prompt tokens of pending items (None: no limit)."
    )
    drain_grace_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM: how long admitted work may run before the process exits."
    )
    engine_check_interval_s: float = Field(default=5.0, gt=0, description="How often the engine watchdog looks.")
    engine_stall_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="No engine step computing tokens for this long, with requests in the engine, means it is dead.",
    )
    cache_size: int = Field(
        default=8192, ge=0, description="Judgments kept in the LRU cache (0: no cache and no deduplication)."
    )

    # --- security -------------------------------------------------------------------------------------------
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Bearer API keys, as a JSON list; empty (and no key file): no auth."
    )
    api_key_file: Path | None = Field(
        default=None, description="A file with one API key per line (e.g. a mounted Kubernetes Secret)."
    )
    metrics_auth: bool = Field(default=True, description="With keys set, /metrics needs a key too.")

    @model_validator(mode="after")
    def _check_spanning_rules(self) -> Settings:
        if self.model == "auto":
            self.model = PRODUCTION_MODEL if _gpu_visible() else DEMO_MODEL
        if self.model == DEMO_MODEL:
            # A random-weight model rambles: bound its blocks so judgments end well inside max_tokens.
            self.think_max_chars = self.think_max_chars or 120
            self.critique_max_chars = self.critique_max_chars or 60
            self.max_model_len = self.max_model_len or 4096
        if self.max_model_len is not None and self.max_tokens >= self.max_model_len - 64:
            raise ValueError(
                f"max_tokens ({self.max_tokens}) leaves no room for a prompt in max_model_len ({self.max_model_len})"
            )
        self.max_body_bytes_reading = self.max_body_bytes_reading or 4 * self.max_body_bytes
        if self.max_body_bytes_reading < self.max_body_bytes:
            raise ValueError("max_body_bytes_reading must be at least max_body_bytes: such a body could never be read")
        if self.max_items_per_request > self.max_pending_items:
            raise ValueError("max_items_per_request must not exceed max_pending_items: such a request could never run")
        if self.api_key_file is not None and not self.api_key_file.is_file():
            raise ValueError(f"api_key_file {self.api_key_file} does not exist")
        if self.template_file is not None and not self.template_file.is_file():
            raise ValueError(f"template_file {self.template_file} does not exist")
        if self.released_template_file is not None and not self.released_template_file.is_file():
            raise ValueError(f"released_template_file {self.released_template_file} does not exist")
        if self.engine_args.keys() & _OWNED_ENGINE_ARGS:
            raise ValueError(
                f"engine_args may not set {sorted(self.engine_args.keys() & _OWNED_ENGINE_ARGS)}: use the settings"
            )
        return self

    def load_api_keys(self) -> list[str]:
        """Every configured key: the inline ones and those in the key file (blank lines and # comments skipped)."""
        keys = [k.get_secret_value() for k in self.api_keys]
        if self.api_key_file is not None:
            lines = self.api_key_file.read_text("utf-8").splitlines()
            keys += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return [k for k in keys if k]

    @property
    def is_demo(self) -> bool:
        return self.model == DEMO_MODEL


def _gpu_visible() -> bool:
    """A cheap look for an NVIDIA GPU (no torch import at settings time)."""
    return Path("/dev/nvidiactl").exists()


# Engine arguments the settings own: set through their own fields, never through `engine_args`.
_OWNED_ENGINE_ARGS = frozenset(
    {
        "model",
        "tokenizer",
        "max_model_len",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "data_parallel_size",
        "gpu_memory_utilization",
        "max_num_seqs",
        "enable_prefix_caching",
        "enforce_eager",
        "seed",
        "dtype",
    }
)

"""The engine seam: prompts and sampling settings in, text and token counts out. Knows nothing of HTTP or judgments.

`VllmEngine` is the real implementation (vLLM's AsyncLLM, embedded in the process); a fault-injecting wrapper for
tests goes around it at this seam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Engine", "EngineDead", "EngineError", "Generation", "Sampling"]


class EngineError(Exception):
    """The engine failed on one request; other requests may still succeed."""


class EngineDead(EngineError):
    """The engine is gone; no request will succeed until the process is restarted."""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    regex: str | None = None  # structured decoding; None: free text


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    metrics: dict[str, float] = field(default_factory=dict)


class Engine(Protocol):
    model_name: str
    max_model_len: int
    tokenizer: Any  # the model's Hugging Face tokenizer (what rendering needs of it: service.rendering.Tokenizer)

    async def generate(self, prompt_token_ids: list[int], sampling: Sampling, request_id: str) -> Generation:
        """Run one request to completion. Cancelling the awaiting task aborts the engine request."""
        ...

    async def check_health(self) -> None:
        """Raise EngineDead if the engine can no longer answer."""
        ...

    def progress(self) -> int:
        """A count that grows with every engine step that computed tokens (prefill or decode) for some request.

        The watchdog reads it: a busy engine advances it many times a second, even while every request it runs
        is long; an engine that stopped computing does not.
        """
        ...

    def info(self) -> dict[str, Any]: ...

    async def shutdown(self) -> None: ...

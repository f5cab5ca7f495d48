"""The real engine: vLLM's AsyncLLM embedded in the service process.

Every item of every concurrent request is submitted at once; vLLM's continuous batching and prefix cache do the
rest. This is the only module that imports vLLM.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from service.engine import EngineDead, EngineError, Generation, Sampling
from service.settings import DEMO_MODEL, Settings

__all__ = ["StepCounter", "VllmEngine", "configure_cpu_environment", "resolve_model_path"]

log = logging.getLogger(__name__)


def resolve_model_path(settings: Settings) -> str:
    """The model to load: the demo model is built on first use; anything else goes to vLLM as given."""
    if settings.model == DEMO_MODEL:
        from service.demo_model import build_demo_model

        return str(build_demo_model(settings.cache_dir))
    return settings.model


def configure_cpu_environment(settings: Settings) -> None:
    """Environment that vLLM reads at import: only set what the operator has not set."""
    if rpc := os.environ.get("VLLM_RPC_BASE_PATH"):
        Path(rpc).mkdir(parents=True, exist_ok=True)  # vLLM's engine dies at start if this folder is missing
    if Path("/dev/nvidiactl").exists():
        return
    # In-process engine core: 8 s to start instead of 20 s on a small CPU host, and one process less competing
    # for cores with the HTTP front end.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    kv = settings.cpu_kvcache_space_gib or (1 if settings.is_demo else None)
    if kv is not None:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv))


class StepCounter:
    """Counts the engine steps that did work, as vLLM reports them to its stat loggers (once per scheduler step,
    prefill chunks included), without streaming every request's tokens through the event loop."""

    def __init__(self) -> None:
        self.steps = 0

    def logger_factory(self) -> Any:
        """A per-engine stat logger factory for AsyncLLM's `stat_loggers` (each data-parallel rank counts here)."""
        from vllm.v1.metrics.loggers import StatLoggerBase

        counter = self

        class ProgressLogger(StatLoggerBase):  # type: ignore[misc]
            def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
                pass

            def record(
                self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None, engine_idx: int = 0
            ) -> None:
                if iteration_stats is not None or (scheduler_stats is not None and scheduler_stats.num_running_reqs):
                    counter.steps += 1

            def log_engine_initialized(self) -> None:
                pass

        return ProgressLogger


class VllmEngine:
    """Engine protocol over vLLM's AsyncLLM."""

    def __init__(
        self, llm: Any, model_name: str, tokenizer: Any, engine_info: dict[str, Any], steps: StepCounter | None = None
    ) -> None:
        self._llm = llm
        self.model_name = model_name
        self.tokenizer = tokenizer
        self.max_model_len: int = int(llm.model_config.max_model_len)
        self._info = engine_info
        self._steps = steps or StepCounter()

    @classmethod
    async def start(cls, settings: Settings) -> VllmEngine:
        """Load the model and start the engine (blocking work runs in a thread, so /healthz keeps answering)."""
        configure_cpu_environment(settings)
        model = await asyncio.to_thread(resolve_model_path, settings)
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        on_cpu = not Path("/dev/nvidiactl").exists()
        enforce_eager = settings.enforce_eager if settings.enforce_eager is not None else on_cpu
        kwargs: dict[str, Any] = dict(
            model=model,
            served_model_name=settings.served_model_name or settings.model,
            max_model_len=settings.max_model_len,
            dtype=settings.dtype,
            tensor_parallel_size=settings.tensor_parallel_size,
            pipeline_parallel_size=settings.pipeline_parallel_size,
            data_parallel_size=settings.data_parallel_size,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            max_num_seqs=settings.max_num_seqs,
            max_num_batched_tokens=settings.max_num_batched_tokens,
            enable_prefix_caching=settings.enable_prefix_caching,
            enforce_eager=enforce_eager,
            seed=settings.seed,
            download_dir=str(settings.download_dir) if settings.download_dir else None,
            disable_log_stats=False,  # keeps vLLM's Prometheus metrics (vllm:*) alive
        )
        if on_cpu:
            # vLLM 0.32's CPU runner kills its engine core ("CPU Generator does not use offset") when a seeded
            # request's prefill is split into chunks; whole-prompt prefill avoids that code path.
            kwargs["enable_chunked_prefill"] = False
        kwargs.update(settings.engine_args)
        log.info("starting vLLM engine for %s", model)
        steps = StepCounter()
        llm = await asyncio.to_thread(
            AsyncLLM.from_engine_args, AsyncEngineArgs(**kwargs), stat_loggers=[steps.logger_factory()]
        )
        info = {k: v for k, v in kwargs.items() if k != "model"} | {"model_path": model, "on_cpu": on_cpu}
        return cls(llm, settings.served_model_name or settings.model, llm.get_tokenizer(), info, steps)

    async def generate(self, prompt_token_ids: list[int], sampling: Sampling, request_id: str) -> Generation:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
        from vllm.v1.engine.exceptions import EngineDeadError

        params = SamplingParams(
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            seed=sampling.seed,
            structured_outputs=StructuredOutputsParams(regex=sampling.regex) if sampling.regex else None,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        final = None
        try:
            async for output in self._llm.generate(TokensPrompt(prompt_token_ids=prompt_token_ids), params, request_id):
                final = output
        except EngineDeadError as exc:
            raise EngineDead(str(exc) or "the vLLM engine is dead") from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # vLLM raises several classes per request; all mean "this request failed"
            if self._llm.errored:
                raise EngineDead(f"the vLLM engine died: {exc}") from exc
            raise EngineError(f"{type(exc).__name__}: {exc}") from exc
        if final is None or not final.outputs:
            raise EngineError("the engine returned no output")
        completion = final.outputs[0]
        return Generation(
            text=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=len(prompt_token_ids),
            completion_tokens=len(completion.token_ids),
        )

    async def check_health(self) -> None:
        if self._llm.errored:
            raise EngineDead("the vLLM engine is dead")
        try:
            await self._llm.check_health()
        except Exception as exc:
            raise EngineDead(f"the vLLM engine failed its health check: {exc}") from exc

    def progress(self) -> int:
        return self._steps.steps

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    async def shutdown(self) -> None:
        await asyncio.to_thread(self._llm.shutdown)
        # AsyncLLM.__del__ shuts down again, and at interpreter exit its module globals are gone: it then prints a
        # TypeError. It has been shut down here, so make the second call a no-op.
        self._llm.shutdown = lambda *args, **kwargs: None

"""create_app and its lifespan: the engine starts in the background, so /healthz answers while the model loads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import get_args

from fastapi import FastAPI

from service import __version__
from service.engine import Engine
from service.errors import install_error_handlers
from service.http import ApiKeyMiddleware, BodyBudget, BodyLimitMiddleware, CatchAllMiddleware, RequestContextMiddleware
from service.metrics import Metrics
from service.protocol import FailureReason
from service.rendering import prompt_template
from service.routes import router
from service.serving import JudgeService
from service.settings import Settings
from service.state import AppState
from service.watchdog import watch_engine

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the FastAPI app. With `engine`, use it (tests share one engine); else start vLLM in the lifespan.

    Example:
        >>> app = create_app(Settings(model="demo"))  # nothing heavy happens until the lifespan starts
    """
    state = AppState(settings, Metrics(failure_reasons=get_args(FailureReason)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        starter = asyncio.create_task(_start_engine(state, engine))
        state.lifecycle.supervise(starter, "engine start and watchdog")
        try:
            yield
        finally:
            starter.cancel()
            await asyncio.gather(starter, return_exceptions=True)
            if engine is None and state.judge is not None:
                await state.judge.engine.shutdown()

    app = FastAPI(
        title="Agent-RRM judge service",
        version=__version__,
        description="Batched judgments of agent trajectories by Agent-RRM: reasoning, critique and a score in [0, 1].",
        lifespan=lifespan,
    )
    app.state.rrm = state
    install_error_handlers(app)
    app.include_router(router)
    # Outermost last: request ids and access logs see everything (a 500 included); keys are checked before any
    # body is read.
    budget = BodyBudget(settings.max_body_bytes_reading or 4 * settings.max_body_bytes, state.metrics)
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, budget=budget, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(ApiKeyMiddleware, keys=state.api_keys, open_paths=_open_paths(settings))
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)
    return app


def _open_paths(settings: Settings) -> frozenset[str]:
    """Routes that need no API key: the probes an orchestrator calls, and /metrics if so configured."""
    return frozenset({"/healthz", "/readyz"} | (set() if settings.metrics_auth else {"/metrics"}))


async def _start_engine(state: AppState, engine: Engine | None) -> None:
    try:
        if engine is None:
            from service.engine.vllm_engine import VllmEngine

            engine = await VllmEngine.start(state.settings)
        template = prompt_template(state.system_prompt, engine.tokenizer, state.settings.input_mode)
        state.judge = JudgeService(engine, template, state.settings, state.metrics, state.lifecycle)
        # Ready means answering: one real generation must come back before the first request is let in.
        await state.judge.probe("warmup")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.fail(f"engine failed to start: {type(exc).__name__}: {exc}")
        return
    state.metrics.build_info.labels(version=__version__, model=engine.model_name, template_id=template.id).set(1)
    state.lifecycle.set_ready()
    log.info(
        "ready: model=%s template=%s (%s, from %s; input mode %s)",
        engine.model_name,
        template.id,
        template.name,
        template.source,
        template.input_mode,
    )
    s = state.settings
    await watch_engine(state.judge, state.lifecycle, s.engine_check_interval_s, s.engine_stall_timeout_s)

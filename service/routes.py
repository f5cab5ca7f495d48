"""HTTP handlers: thin. Each gets the state, makes one call, returns; errors are mapped in service.errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service import __version__
from service.engine import EngineDead
from service.http import StrictJsonRoute, body_admitted
from service.protocol import ErrorResponse, InfoResponse, JudgeRequest, JudgeResponse, RenderResponse
from service.serving import ServiceUnavailable
from service.state import AppState

__all__ = ["router"]

T = TypeVar("T")
router = APIRouter(route_class=StrictJsonRoute)  # bodies: strict JSON (valid Unicode, bounded depth)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 408, 413, 422, 429, 500, 503)
}


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.rrm
    return state


State = Annotated[AppState, Depends(get_state)]


@router.post("/judge", response_model=JudgeResponse, responses=_ERRORS)
async def judge(body: JudgeRequest, request: Request, state: State) -> JudgeResponse:
    """Judge a batch of agent trajectories: one judgment per item, in input order."""
    body_admitted(request)
    if not state.lifecycle.accepting or state.judge is None:
        raise ServiceUnavailable(_why_not_accepting(state))
    request.state.log_fields = {"items": len(body.items)}
    return await _unless_disconnected(request, state.judge.judge(body, request.state.request_id))


@router.post("/render", response_model=RenderResponse, responses=_ERRORS)
async def render(body: JudgeRequest, request: Request, state: State) -> RenderResponse:
    """The prompt each item would be judged with — text, token count, truncation, template id — without judging."""
    body_admitted(request)
    if not state.lifecycle.accepting or state.judge is None:
        raise ServiceUnavailable(_why_not_accepting(state))
    return await state.judge.render(body)


@router.get("/healthz", responses=_ERRORS)
async def healthz(state: State) -> dict[str, str]:
    """Liveness: the process is up (503 only once it has given up and is exiting)."""
    if state.lifecycle.failure:
        raise HTTPException(503, state.lifecycle.failure)
    return {"status": "alive"}


@router.get("/readyz", responses=_ERRORS)
async def readyz(state: State) -> dict[str, str]:
    """Readiness: the engine is loaded and answering."""
    if not state.lifecycle.accepting or state.judge is None:
        raise HTTPException(503, _why_not_accepting(state), headers={"Retry-After": "5"})
    try:
        await state.judge.check_health()
    except EngineDead as exc:
        state.fail(str(exc))
        raise HTTPException(503, str(exc)) from exc
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    """Prometheus metrics: the service's `rrm_*` and the engine's `vllm:*`."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/info", response_model=InfoResponse)
async def info(state: State) -> InfoResponse:
    """What is served: model, template id, judging defaults and engine settings."""
    s, judge = state.settings, state.judge
    return InfoResponse(
        model=judge.model_name if judge else s.model,
        demo_model=s.is_demo,
        template_id=state.template.id if state.template else None,
        template_name=state.system_prompt.name,
        template_source=state.system_prompt.source,
        input_mode=s.input_mode,
        defence=state.template.defence.describe() if state.template else None,
        version=__version__,
        max_items_per_request=s.max_items_per_request,
        max_pending_items=s.max_pending_items,
        max_model_len=judge.max_model_len if judge else (s.max_model_len or 0),
        default_max_tokens=s.max_tokens,
        default_temperature=s.temperature,
        structured_output=s.structured_output,
        truncation=s.truncation,
        engine=judge.engine_info() if judge else {},
    )


def _why_not_accepting(state: AppState) -> str:
    if state.lifecycle.failure:
        return f"the service is failing: {state.lifecycle.failure}"
    if state.lifecycle.phase == "draining":
        return "the service is shutting down; send the work to another replica"
    return "the engine is not ready yet"


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, cancelling it (and so aborting its engine requests) if the client goes away first."""
    task = asyncio.ensure_future(work)

    async def wait_for_disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(wait_for_disconnect())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise HTTPException(499, "client closed the request")
    return task.result()

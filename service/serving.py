"""The judge: validate, render, submit every item to the engine at once, parse, count. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from service.engine import Engine, EngineDead, EngineError, Generation, Sampling
from service.metrics import Metrics
from service.parsing import ParseFailure, judgment_regex, parse_judgment
from service.protocol import JudgeItem, JudgeOptions, JudgeRequest, JudgeResponse, Judgment, Usage
from service.rendering import PromptTemplate, PromptTooLong, RenderedPrompt, build_prompt
from service.settings import Settings

__all__ = ["InvalidRequest", "JudgeService", "ServiceUnavailable"]

log = logging.getLogger(__name__)


class InvalidRequest(Exception):
    """The request cannot be judged as sent (400); `details` names each bad item."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details


class ServiceUnavailable(Exception):
    """The engine cannot take work (503)."""


@dataclass(frozen=True)
class _Plan:
    sampling: Sampling
    return_reasoning: bool
    deadline: float | None  # monotonic time


class JudgeService:
    """Turns judge requests into engine requests and engine output into judgments."""

    def __init__(self, engine: Engine, template: PromptTemplate, settings: Settings, metrics: Metrics) -> None:
        self.engine = engine
        self.template = template
        self.settings = settings
        self.metrics = metrics
        self._regex = (
            judgment_regex(settings.think_max_chars, settings.critique_max_chars)
            if settings.structured_output
            else None
        )

    async def judge(self, request: JudgeRequest, request_id: str) -> JudgeResponse:
        """Judge every item of `request`; judgments come back in input order.

        Raises InvalidRequest when an item cannot be judged, ServiceUnavailable when the engine is dead. A failure
        of one item's judgment is a `failed` judgment, not an exception.
        """
        started = time.monotonic()
        self._validate(request.items)
        plan = self._plan(request.options, started)
        budget = self.engine.max_model_len - plan.sampling.max_tokens
        # Tokenising long trajectories is CPU work: keep it off the event loop.
        prompts = await asyncio.to_thread(self._render_all, request.items, budget)
        self.metrics.items.inc(len(request.items))
        self.metrics.request_items.observe(len(request.items))
        tasks = [
            asyncio.create_task(self._judge_one(i, item, prompt, plan, f"{request_id}-{i}", started))
            for i, (item, prompt) in enumerate(zip(request.items, prompts, strict=True))
        ]
        try:
            judgments = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()  # a cancelled task aborts its engine request
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        usage = Usage(
            prompt_tokens=sum(j.usage.prompt_tokens for j in judgments),
            completion_tokens=sum(j.usage.completion_tokens for j in judgments),
        )
        return JudgeResponse(
            id=request_id,
            model=self.engine.model_name,
            template_id=self.template.id,
            judgments=list(judgments),
            usage=usage,
        )

    def _validate(self, items: list[JudgeItem]) -> None:
        limit = self.settings.max_items_per_request
        if len(items) > limit:
            raise InvalidRequest(f"{len(items)} items in one request; the limit is {limit}")
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if not item.question.strip():
                problems.append({"index": index, "id": item.id, "problem": "empty question"})
            elif item.messages is not None and not item.messages:
                problems.append({"index": index, "id": item.id, "problem": "empty trajectory (no messages)"})
            elif item.trajectory is not None and not item.trajectory.strip():
                problems.append({"index": index, "id": item.id, "problem": "empty trajectory"})
            elif _item_chars(item) > self.settings.max_item_chars:
                problems.append(
                    {
                        "index": index,
                        "id": item.id,
                        "problem": f"item larger than {self.settings.max_item_chars} characters",
                    }
                )
        if problems:
            raise InvalidRequest(f"{len(problems)} item(s) cannot be judged", problems)

    def _plan(self, options: JudgeOptions, started: float) -> _Plan:
        max_tokens = options.max_tokens or self.settings.max_tokens
        if max_tokens > self.engine.max_model_len - 64:
            raise InvalidRequest(
                f"max_tokens {max_tokens} leaves no room for the prompt (context {self.engine.max_model_len})"
            )
        temperature = self.settings.temperature if options.temperature is None else options.temperature
        timeout = options.timeout_s or self.settings.request_timeout_s
        return _Plan(
            sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=options.seed, regex=self._regex),
            return_reasoning=options.return_reasoning,
            deadline=started + timeout if timeout else None,
        )

    def _render_all(self, items: list[JudgeItem], budget: int) -> list[RenderedPrompt]:
        prompts: list[RenderedPrompt] = []
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                prompt = build_prompt(self.engine.tokenizer, self.template, item, budget)
            except PromptTooLong as exc:
                problems.append({"index": index, "id": item.id, "problem": str(exc)})
                continue
            if prompt.truncated and self.settings.truncation == "reject":
                problems.append(
                    {
                        "index": index,
                        "id": item.id,
                        "problem": f"trajectory longer than the prompt budget of {budget} tokens",
                    }
                )
            prompts.append(prompt)
        if problems:
            raise InvalidRequest(f"{len(problems)} item(s) do not fit the judge's context", problems)
        return prompts

    async def _judge_one(
        self, index: int, item: JudgeItem, prompt: RenderedPrompt, plan: _Plan, engine_id: str, started: float
    ) -> Judgment:
        base: dict[str, Any] = {"index": index, "id": item.id, "truncated": prompt.truncated}
        if prompt.truncated:
            self.metrics.truncations.inc()
        self.metrics.queue_duration.observe(time.monotonic() - started)
        self.metrics.items_in_flight.inc()
        try:
            generation = await self._generate(prompt.token_ids, plan, engine_id)
        except TimeoutError:
            judgment = Judgment(
                **base,
                status="failed",
                reason="timeout",
                detail="not finished by the request's deadline; engine work aborted",
            )
        except EngineDead as exc:
            raise ServiceUnavailable(str(exc)) from exc
        except EngineError as exc:
            log.warning("engine error on %s: %s", engine_id, exc)
            judgment = Judgment(**base, status="failed", reason="engine_error", detail=str(exc)[:500])
        else:
            judgment = self._to_judgment(base, generation, plan.return_reasoning)
        finally:
            self.metrics.items_in_flight.dec()
        self._count(judgment, started)
        return judgment

    async def _generate(self, token_ids: list[int], plan: _Plan, engine_id: str) -> Generation:
        if plan.deadline is None:
            return await self.engine.generate(token_ids, plan.sampling, engine_id)
        remaining = plan.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return await asyncio.wait_for(self.engine.generate(token_ids, plan.sampling, engine_id), remaining)

    @staticmethod
    def _to_judgment(base: dict[str, Any], generation: Generation, return_reasoning: bool) -> Judgment:
        usage = Usage(prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
        if generation.finish_reason == "abort":
            return Judgment(
                **base,
                status="failed",
                reason="aborted",
                detail="the engine aborted the request",
                finish_reason="abort",
                usage=usage,
            )
        parsed = parse_judgment(generation.text, generation.finish_reason)
        if isinstance(parsed, ParseFailure):
            return Judgment(
                **base,
                status="failed",
                reason=parsed.reason,
                detail=parsed.detail,
                finish_reason=generation.finish_reason,
                usage=usage,
            )
        return Judgment(
            **base,
            status="ok",
            score=parsed.score,
            critique=parsed.critique,
            reasoning=parsed.reasoning if return_reasoning else None,
            finish_reason=generation.finish_reason,
            usage=usage,
        )

    def _count(self, judgment: Judgment, started: float) -> None:
        m = self.metrics
        m.item_duration.observe(time.monotonic() - started)
        m.judgments.labels(status=judgment.status, reason=judgment.reason or "").inc()
        if judgment.score is not None:
            m.score.observe(judgment.score)
        m.prompt_tokens.inc(judgment.usage.prompt_tokens)
        m.completion_tokens.inc(judgment.usage.completion_tokens)


def _item_chars(item: JudgeItem) -> int:
    if item.trajectory is not None:
        return len(item.question) + len(item.trajectory)
    total = len(item.question)
    for message in item.messages or ():
        total += len(message.content or "") + len(message.reasoning_content or "")
        for call in message.tool_calls or ():
            arguments = call.function.arguments
            total += len(call.function.name) + (len(arguments) if isinstance(arguments, str) else len(str(arguments)))
    return total

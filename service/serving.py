"""The judge: validate, render, submit every item to the engine at once, parse, count. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from array import array
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from service.admission import Admission
from service.cache import ResultCache, cache_key
from service.engine import Engine, EngineDead, EngineError, Generation, Sampling
from service.lifecycle import Lifecycle
from service.metrics import Metrics
from service.parsing import ParseFailure, judgment_regex, parse_judgment
from service.protocol import (
    FailureReason,
    JudgeItem,
    JudgeOptions,
    JudgeRequest,
    JudgeResponse,
    Judgment,
    RenderedItem,
    RenderResponse,
    Usage,
)
from service.rendering import PromptTemplate, PromptTooLong, RenderedPrompt, build_prompt, item_mode
from service.settings import Settings
from service.truncation import PromptMemo, build_prompts
from service.validation import item_problems

__all__ = ["InvalidRequest", "JudgeService", "ServiceUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Token ids of recently rendered prompts kept for repeats (~36 bytes a token in a Python list: ~70 MB).
_PROMPT_MEMO_TOKENS = 2_000_000


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

    def __init__(
        self, engine: Engine, template: PromptTemplate, settings: Settings, metrics: Metrics, lifecycle: Lifecycle
    ) -> None:
        self.engine = engine
        self.lifecycle = lifecycle
        lifecycle.on_failure(self.end_all)
        self.template = template
        self.settings = settings
        self.metrics = metrics
        self._regex = (
            judgment_regex(settings.think_max_chars, settings.critique_max_chars)
            if settings.structured_output
            else None
        )
        self.admission = Admission(settings.max_pending_items, settings.max_pending_prompt_tokens, metrics)
        self.cache: ResultCache[Generation] = ResultCache(
            settings.cache_size, keep=lambda g: g.finish_reason != "abort"
        )
        # Prompts of recent items, so that a repeat (which the judgment cache answers) is not tokenised again.
        self.prompts = PromptMemo(_PROMPT_MEMO_TOKENS if settings.cache_size else 0)
        self._ended: str | None = None  # why the work in flight was ended (see end_all)
        self.in_flight = 0  # items whose engine request is running
        self._probe_ids: list[int] | None = None
        self._item_tasks: set[asyncio.Task[Judgment]] = set()

    async def judge(self, request: JudgeRequest, request_id: str) -> JudgeResponse:
        """Judge every item of `request`; judgments come back in input order.

        An item that cannot be judged (blank, too large, too long for the context) is a `failed` judgment with
        reason `invalid_item` or `too_long`, and the others are judged; with `options.reject_invalid_items` it
        makes the whole request InvalidRequest (400) instead. A failure of one item's judgment is a `failed`
        judgment, not an exception. Raises InvalidRequest for a request malformed as a whole, ServiceUnavailable
        when the engine is dead.
        """
        if self.lifecycle.failure:
            raise ServiceUnavailable(self.lifecycle.failure)
        started = time.monotonic()
        items = request.items
        self._check_size(items)
        plan = self._plan(request.options, started)
        refuse = request.options.reject_invalid_items
        failed = self._unjudgeable(
            item_problems(items, self.settings.max_item_chars), "invalid_item", "cannot be judged", refuse
        )
        todo = [i for i in range(len(items)) if i not in failed]
        self.admission.admit_items(len(todo))
        self.metrics.items_queued.inc(len(todo))
        tokens = 0
        try:
            try:  # tokenising long trajectories is CPU work: keep it off the event loop
                budget = self.engine.max_model_len - plan.sampling.max_tokens
                rendered = await asyncio.to_thread(self._render_all, [(i, items[i]) for i in todo], budget)
            finally:
                self.metrics.items_queued.dec(len(todo))
            too_long = [r for r in rendered if isinstance(r, dict)]
            failed |= self._unjudgeable(too_long, "too_long", "do not fit the judge's context", refuse)
            prompts = {i: r for i, r in zip(todo, rendered, strict=True) if not isinstance(r, dict)}
            needed = sum(len(p.token_ids) for p in prompts.values())
            self.admission.admit_prompt_tokens(needed)
            tokens = needed
            self.metrics.items.inc(len(items))
            self.metrics.request_items.observe(len(items))
            judged = await self._judge_all(items, prompts, plan, request_id, started)
        finally:
            self.admission.release(len(todo), tokens)
        for judgment in failed.values():
            self._count(judgment, started)
        judgments = [failed[i] if i in failed else judged[i] for i in range(len(items))]
        usage = Usage(
            prompt_tokens=sum(j.usage.prompt_tokens for j in judgments),
            completion_tokens=sum(j.usage.completion_tokens for j in judgments),
        )
        return JudgeResponse(
            id=request_id,
            model=self.engine.model_name,
            template_id=self.template.id,
            judgments=judgments,
            usage=usage,
        )

    # --- what the app and the watchdog ask of the engine, through the judge --------------------------------

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    @property
    def max_model_len(self) -> int:
        return self.engine.max_model_len

    def engine_info(self) -> dict[str, Any]:
        return self.engine.info()

    async def check_health(self) -> None:
        """Raise EngineDead if the engine can no longer answer."""
        await self.engine.check_health()

    def progress(self) -> tuple[int, int]:
        """(items whose engine request is running, the engine's count of steps that computed tokens)."""
        return self.in_flight, self.engine.progress()

    async def probe(self, request_id: str) -> None:
        """One real one-token generation of a judge-shaped prompt: the engine answers end to end.

        A judge-shaped prompt rather than a token or two: vLLM 0.32's CPU engine core dies on prompts under ~10
        tokens. The first probe (the warm-up) also puts the system prompt in the prefix cache.
        """
        if self._probe_ids is None:
            item = JudgeItem(question="Is the service ready?", trajectory="The agent answered: yes.")
            prompt = build_prompt(self.engine.tokenizer, self.template, item, self.engine.max_model_len - 1)
            self._probe_ids = prompt.token_ids
        await self.engine.generate(self._probe_ids, Sampling(max_tokens=1), request_id)

    async def render(self, request: JudgeRequest) -> RenderResponse:
        """Each item's prompt as /judge would build it (same limits and budget), without generating.

        Raises InvalidRequest for what makes /judge refuse the whole request (too many items, a bad max_tokens);
        an item that cannot be judged gets its `problem` instead.
        """
        items = request.items
        limit = self.settings.max_items_per_request
        if len(items) > limit:
            raise InvalidRequest(f"{len(items)} items in one request; the limit is {limit}")
        budget = self.engine.max_model_len - self._plan(request.options, time.monotonic()).sampling.max_tokens
        rendered = await asyncio.to_thread(self._render_each, items, budget)
        return RenderResponse(
            model=self.engine.model_name, template_id=self.template.id, prompt_budget=budget, items=rendered
        )

    def _render_each(self, items: list[JudgeItem], budget: int) -> list[RenderedItem]:
        problems = {p["index"]: p["problem"] for p in item_problems(items, self.settings.max_item_chars)}
        rendered: list[RenderedItem] = []
        for index, item in enumerate(items):
            base: dict[str, Any] = {"index": index, "id": item.id}
            if index in problems:
                rendered.append(RenderedItem(**base, problem=problems[index], reason="invalid_item"))
                continue
            try:
                prompt = build_prompt(self.engine.tokenizer, self.template, item, budget)
            except PromptTooLong as exc:
                mode = item_mode(item, self.template.input_mode)
                rendered.append(RenderedItem(**base, input_mode=mode, problem=str(exc), reason="too_long"))
                continue
            problem = None
            if prompt.truncated and self.settings.truncation == "reject":
                problem = f"trajectory longer than the prompt budget of {budget} tokens (truncation=reject)"
            rendered.append(
                RenderedItem(
                    **base,
                    input_mode=prompt.mode,
                    prompt=self.engine.tokenizer.decode(prompt.token_ids),
                    prompt_tokens=len(prompt.token_ids),
                    truncated=prompt.truncated,
                    problem=problem,
                    reason="too_long" if problem else None,
                )
            )
        return rendered

    @staticmethod
    def _unjudgeable(
        problems: list[dict[str, Any]], reason: FailureReason, what: str, refuse: bool
    ) -> dict[int, Judgment]:
        """Items that cannot be judged, as failed judgments by index; or, when refusing, InvalidRequest (400)."""
        if problems and refuse:
            raise InvalidRequest(f"{len(problems)} item(s) {what}", problems)
        return {
            p["index"]: Judgment(index=p["index"], id=p["id"], status="failed", reason=reason, detail=p["problem"])
            for p in problems
        }

    async def _judge_all(
        self, items: list[JudgeItem], prompts: dict[int, RenderedPrompt], plan: _Plan, request_id: str, started: float
    ) -> dict[int, Judgment]:
        tasks = [
            asyncio.create_task(self._judge_one(i, items[i], prompt, plan, f"{request_id}-{i}", started))
            for i, prompt in prompts.items()
        ]
        self._item_tasks.update(tasks)
        try:
            return {j.index: j for j in await asyncio.gather(*tasks)}
        except BaseException:
            for task in tasks:
                task.cancel()  # a cancelled task aborts its engine request
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._ended:
                raise ServiceUnavailable(self._ended) from None
            raise
        finally:
            self._item_tasks.difference_update(tasks)

    def end_all(self, reason: str) -> None:
        """End all work in flight: its requests get 503 with `reason` (the service failed, or its drain is over)."""
        if self._ended is None:
            self._ended = reason
        for task in list(self._item_tasks):
            task.cancel()

    def _check_size(self, items: list[JudgeItem]) -> None:
        limit = self.settings.max_items_per_request
        if len(items) > limit:
            raise InvalidRequest(f"{len(items)} items in one request; the limit is {limit}")

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

    def _render_all(self, items: list[tuple[int, JudgeItem]], budget: int) -> list[RenderedPrompt | dict[str, Any]]:
        """Each item's prompt, or the problem (index, id, problem) that keeps it out of the judge's context."""
        rendered: list[RenderedPrompt | dict[str, Any]] = []
        built = build_prompts(self.engine.tokenizer, self.template, [item for _, item in items], budget, self.prompts)
        for (index, item), prompt in zip(items, built, strict=True):
            if isinstance(prompt, PromptTooLong):
                rendered.append({"index": index, "id": item.id, "problem": str(prompt)})
                continue
            if prompt.truncated and self.settings.truncation == "reject":
                problem = f"trajectory longer than the prompt budget of {budget} tokens"
                rendered.append({"index": index, "id": item.id, "problem": problem})
                continue
            rendered.append(prompt)
        return rendered

    async def _judge_one(
        self, index: int, item: JudgeItem, prompt: RenderedPrompt, plan: _Plan, engine_id: str, started: float
    ) -> Judgment:
        base: dict[str, Any] = {"index": index, "id": item.id, "truncated": prompt.truncated}
        if prompt.truncated:
            self.metrics.truncations.inc()
        self.metrics.queue_duration.observe(time.monotonic() - started)
        cached = False
        try:
            generation, cached = await self._with_deadline(self._generate(prompt.token_ids, plan, engine_id), plan)
        except TimeoutError:
            judgment = Judgment(
                **base,
                status="failed",
                reason="timeout",
                detail="not finished by the request's deadline; engine work aborted",
            )
        except EngineDead as exc:
            self.lifecycle.fail(str(exc))
            raise ServiceUnavailable(str(exc)) from exc
        except EngineError as exc:
            log.warning("engine error on %s: %s", engine_id, exc)
            judgment = Judgment(**base, status="failed", reason="engine_error", detail=str(exc)[:500])
        else:
            judgment = self._to_judgment(base | {"cached": cached}, generation, plan.return_reasoning)
        self.admission.finished()
        self._count(judgment, started)
        return judgment

    async def _generate(self, token_ids: list[int], plan: _Plan, engine_id: str) -> tuple[Generation, bool]:
        """The engine's output for this prompt, and whether it came from the cache (or identical work in flight)."""
        sampling = plan.sampling
        prompt_bytes = array("I", token_ids).tobytes()
        if sampling.seed is not None:
            sampling = replace(sampling, seed=item_seed(sampling.seed, prompt_bytes))
        if self.cache.capacity == 0 or (sampling.temperature > 0 and sampling.seed is None):
            return await self._engine_generate(token_ids, sampling, engine_id), False
        key = cache_key(self.engine.model_name, self.template.id, sampling, prompt_bytes)
        generation, hit = await self.cache.get_or_run(
            key, lambda: self._engine_generate(token_ids, sampling, engine_id)
        )
        (self.metrics.cache_hits if hit else self.metrics.cache_misses).inc()
        return generation, hit

    async def _engine_generate(self, token_ids: list[int], sampling: Sampling, engine_id: str) -> Generation:
        self.in_flight += 1
        self.metrics.items_in_flight.inc()
        try:
            generation = await self.engine.generate(token_ids, sampling, engine_id)
        finally:
            self.in_flight -= 1
            self.metrics.items_in_flight.dec()
        self.metrics.prompt_tokens.inc(generation.prompt_tokens)
        self.metrics.completion_tokens.inc(generation.completion_tokens)
        return generation

    @staticmethod
    async def _with_deadline(work: Awaitable[T], plan: _Plan) -> T:
        if plan.deadline is None:
            return await work
        remaining = plan.deadline - time.monotonic()
        if remaining <= 0:
            if asyncio.iscoroutine(work):
                work.close()
            raise TimeoutError
        return await asyncio.wait_for(work, remaining)

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


def item_seed(seed: int, prompt_bytes: bytes) -> int:
    """The engine's sampling seed for one item: derived from the request's `seed` and the item's prompt.

    One seed for every item of a request would give every item the same random draws; items whose score
    distributions are close (a GRPO group's attempts) would then all sample the same score. Deriving the seed from
    the prompt keeps sampling repeatable (same seed, same prompt: same judgment, so the cache still answers
    repeats) while different prompts are sampled independently.

    >>> item_seed(0, b"a") == item_seed(0, b"a"), item_seed(0, b"a") == item_seed(0, b"b")
    (True, False)
    """
    digest = hashlib.blake2b(prompt_bytes, digest_size=8, key=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") >> 1  # vLLM takes a signed 64-bit seed

"""The wire contract of the judge service: pydantic models only.

The OpenAPI document is generated from these models, and the trainer client's own copy of the types is checked
against that document in a test, so this module is the single source of truth for what travels over HTTP.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "ErrorBody",
    "ErrorResponse",
    "FailureReason",
    "InfoResponse",
    "JudgeItem",
    "JudgeOptions",
    "JudgeRequest",
    "JudgeResponse",
    "Judgment",
    "Message",
    "RenderResponse",
    "RenderedItem",
    "ToolCall",
    "ToolCallFunction",
    "Usage",
]

FailureReason = Literal[
    "parse_error",  # the model's text is not exactly <think>…</think><critique>…</critique><score>x</score>
    "length",  # the model hit max_tokens before closing its blocks
    "engine_error",  # the engine raised for this item
    "timeout",  # the item was not finished by its deadline; its engine work was aborted
    "aborted",  # the engine request was cancelled (client gone, server draining)
    "invalid_item",  # the item cannot be judged as sent: blank question or trajectory, larger than max_item_chars
    "too_long",  # the item does not fit the judge's context (or is over it with truncation=reject)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCallFunction(_Strict):
    name: str = Field(description="Name of the tool the agent called.", max_length=256)
    arguments: str | dict[str, Any] = Field(
        default="",
        description="Arguments as the agent wrote them: a JSON string (OpenAI style) or an object.",
    )


class ToolCall(_Strict):
    id: str | None = Field(default=None, description="Tool-call id, used to pair the call with its result.")
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who wrote this turn.")
    content: str | None = Field(default=None, description="Text of the turn (a tool's output for role=tool).")
    reasoning_content: str | None = Field(
        default=None, description="The agent's private thoughts for this turn, if the framework keeps them apart."
    )
    tool_calls: list[ToolCall] | None = Field(default=None, description="Tool calls made by an assistant turn.")
    tool_call_id: str | None = Field(default=None, description="For role=tool: the id of the call answered.")
    name: str | None = Field(default=None, description="For role=tool: the tool's name.", max_length=256)


_NOT_BLANK: JsonDict = {"pattern": r"\S"}  # in the schema; a blank value is answered with 400 naming the item


class JudgeItem(_Strict):
    # Exactly one of `messages` and `trajectory`: checked below, and stated in the schema for generated clients.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["messages"]}, {"required": ["trajectory"]}]}
    )

    id: str | None = Field(
        default=None, max_length=256, description="Caller's identifier for this item; echoed in its judgment."
    )
    question: str = Field(description="The task the agent was given. Must not be blank.", json_schema_extra=_NOT_BLANK)
    messages: list[Message] | SkipJsonSchema[None] = Field(
        default=None,
        description="The trajectory as OpenAI-style chat messages (thoughts, tool calls, tool results, answer).",
        json_schema_extra={"minItems": 1},
    )
    trajectory: str | SkipJsonSchema[None] = Field(
        default=None,
        description="The trajectory as one string (instead of `messages`), e.g. the agent's final message: used as "
        "written, as the paper's pipeline did (only the injection defence changes it).",
        json_schema_extra=_NOT_BLANK,
    )

    @model_validator(mode="after")
    def _exactly_one_trajectory(self) -> JudgeItem:
        if (self.messages is None) == (self.trajectory is None):
            raise ValueError("give exactly one of `messages` or `trajectory`")
        return self


class JudgeOptions(_Strict):
    max_tokens: int | None = Field(
        default=None, ge=16, le=32768, description="Tokens the judge may write per item (default: server's, 1400)."
    )
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="Sampling temperature (default: server's, 0.0)."
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="Sampling seed, for repeatable sampling (each item gets its own, derived from it and its prompt).",
    )
    return_reasoning: bool = Field(default=False, description="Return each judgment's <think> text.")
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Deadline for the whole request; items not done by then fail with reason `timeout`.",
    )
    reject_invalid_items: bool = Field(
        default=False,
        description="An item that cannot be judged (reasons `invalid_item`, `too_long`) makes the whole request 400 "
        "instead of coming back as a failed judgment while the others are judged.",
    )


class JudgeRequest(_Strict):
    items: list[JudgeItem] = Field(
        min_length=1, description="Trajectories to judge (1..max_items_per_request, server setting, default 256)."
    )
    options: JudgeOptions = Field(default_factory=JudgeOptions)


class Usage(BaseModel):
    prompt_tokens: int = Field(default=0, description="Tokens in the rendered prompt(s).")
    completion_tokens: int = Field(default=0, description="Tokens the judge wrote.")


class Judgment(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    id: str | None = Field(default=None, description="The item's `id`, echoed.")
    status: Literal["ok", "failed"] = Field(description="`ok`: score is valid. `failed`: see `reason`.")
    reason: FailureReason | None = Field(default=None, description="Why the judgment failed; null when ok.")
    detail: str | None = Field(default=None, description="Human-readable detail of the failure.")
    score: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Score in [0, 1]; null unless status is ok. Never 0 for a failure."
    )
    critique: str | None = Field(default=None, description="The <critique> text, meant to be shown to the agent.")
    reasoning: str | None = Field(default=None, description="The <think> text, when options.return_reasoning.")
    truncated: bool = Field(default=False, description="The trajectory was shortened to fit the context.")
    cached: bool = Field(default=False, description="Answered from the judgment cache.")
    finish_reason: str | None = Field(default=None, description="The engine's finish reason (stop, length, abort).")
    usage: Usage = Field(default_factory=Usage)


class JudgeResponse(BaseModel):
    id: str = Field(description="Request id (the X-Request-Id header, or one the server made).")
    model: str = Field(description="Name of the judge model.")
    template_id: str = Field(
        description="Hash of everything that shaped the prompts: system prompt, input mode and rendering versions, "
        "injection defence, tokenizer and chat template."
    )
    judgments: list[Judgment] = Field(description="One judgment per item, in input order.")
    usage: Usage = Field(description="Token totals over the request.")


class ErrorBody(BaseModel):
    type: str = Field(description="Machine-readable error class, e.g. `invalid_request`, `not_ready`.")
    message: str = Field(description="What went wrong, for a person.")
    code: int = Field(description="The HTTP status code.")
    request_id: str | None = None
    details: list[dict[str, Any]] | None = Field(default=None, description="Per-field or per-item problems.")


class ErrorResponse(BaseModel):
    """The one shape every error leaves the service in."""

    error: ErrorBody


class RenderedItem(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    id: str | None = Field(default=None, description="The item's `id`, echoed.")
    input_mode: Literal["completion", "multiturn"] | None = Field(
        default=None, description="`completion`: the text as written (the paper's pipeline); `multiturn`: turn by turn."
    )
    prompt: str | None = Field(
        default=None, description="The whole prompt the judge would see (chat template included), decoded from its ids."
    )
    prompt_tokens: int = Field(default=0, description="Tokens in the prompt.")
    truncated: bool = Field(default=False, description="The trajectory was shortened to fit the context.")
    problem: str | None = Field(default=None, description="Why the item cannot be judged; null when it can.")
    reason: Literal["invalid_item", "too_long"] | None = Field(
        default=None, description="The failure reason /judge would give this item; null when it can be judged."
    )


class RenderResponse(BaseModel):
    model: str = Field(description="Name of the judge model.")
    template_id: str = Field(description="The template id /judge would report for these prompts.")
    prompt_budget: int = Field(description="Prompt tokens an item may take: the context minus max_tokens.")
    items: list[RenderedItem] = Field(description="One rendered prompt per item, in input order.")


class InfoResponse(BaseModel):
    model: str
    demo_model: bool = Field(description="True when serving the tiny offline model, whose text is meaningless.")
    template_id: str | None = Field(
        description="Hash of everything that shapes the prompt; null until the engine and its tokenizer are loaded."
    )
    template_name: str = Field(
        description="Which system prompt: `released:kxfan2002/Reagent@c106530` (Agent-RRM's own), "
        "`builtin:default` or `file`."
    )
    template_source: str = Field(description="Where the system prompt's bytes came from.")
    input_mode: Literal["auto", "multiturn"]
    defence: dict[str, Any] | None = Field(
        default=None,
        description="The strings untrusted text may not produce (derived from the served tokenizer), what they are "
        "changed to, and what is left as written; null until the tokenizer is loaded.",
    )
    version: str
    max_items_per_request: int
    max_pending_items: int = Field(description="Admission limit: items admitted and not yet judged; past it, 429.")
    max_model_len: int
    default_max_tokens: int
    default_temperature: float
    structured_output: bool
    truncation: Literal["truncate", "reject"]
    engine: dict[str, Any] = Field(description="Engine settings in effect.")

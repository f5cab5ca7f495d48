"""The client's own copy of the service's wire contract.

The client must install and import without the service, so it cannot import `service.protocol`; instead
`tests/client/test_contract.py` compares these models with the service's, field by field, so the two cannot
drift.

One deliberate difference: `Judgment.reason` also admits the client-only reasons in `ClientFailureReason`,
which the client writes itself when a request fails as a whole (see
`JudgeClient.judge(raise_on_error=False)`). The service never sends them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "CLIENT_FAILURE_REASONS",
    "ClientFailureReason",
    "ErrorBody",
    "ErrorResponse",
    "FailureReason",
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

# Sent by the service. `invalid_item` (blank or oversized item) and `too_long` (does not fit the judge's context)
# come back for items that cannot be judged while the rest of the request is judged; they are not worth retrying.
FailureReason = Literal["parse_error", "length", "engine_error", "timeout", "aborted", "invalid_item", "too_long"]

# Written by the client, never sent by the service:
#   unavailable — the request for this item failed after all retries (connection, timeout, 429, 5xx);
#   rejected    — the service refused the request for this item with a 4xx (400, 404, 413, 422).
ClientFailureReason = Literal["unavailable", "rejected"]
CLIENT_FAILURE_REASONS: tuple[str, ...] = ("unavailable", "rejected")


class _Strict(BaseModel):
    # Requests forbid unknown fields, like the service: a typo fails here rather than as a 422.
    model_config = ConfigDict(extra="forbid")


class ToolCallFunction(_Strict):
    name: str = Field(description="Name of the tool the agent called.", max_length=256)
    arguments: str | dict[str, Any] = Field(default="", description="JSON string or object, as the agent wrote it.")


class ToolCall(_Strict):
    id: str | None = Field(default=None, description="Tool-call id, pairing the call with its result.")
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who wrote this turn.")
    content: str | None = Field(default=None, description="Text of the turn (a tool's output for role=tool).")
    reasoning_content: str | None = Field(default=None, description="The agent's private thoughts, if kept apart.")
    tool_calls: list[ToolCall] | None = Field(default=None, description="Tool calls made by an assistant turn.")
    tool_call_id: str | None = Field(default=None, description="For role=tool: the id of the call answered.")
    name: str | None = Field(default=None, description="For role=tool: the tool's name.", max_length=256)


_NOT_BLANK: JsonDict = {"pattern": r"\S"}


class JudgeItem(_Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["messages"]}, {"required": ["trajectory"]}]}
    )

    id: str | None = Field(default=None, max_length=256, description="Caller's id; echoed in the judgment.")
    question: str = Field(description="The task the agent was given. Must not be blank.", json_schema_extra=_NOT_BLANK)
    messages: list[Message] | SkipJsonSchema[None] = Field(
        default=None, description="The trajectory as chat messages.", json_schema_extra={"minItems": 1}
    )
    trajectory: str | SkipJsonSchema[None] = Field(
        default=None, description="The trajectory pre-rendered as one string.", json_schema_extra=_NOT_BLANK
    )

    @model_validator(mode="after")
    def _exactly_one_trajectory(self) -> JudgeItem:
        if (self.messages is None) == (self.trajectory is None):
            raise ValueError("give exactly one of `messages` or `trajectory`")
        return self


class JudgeOptions(_Strict):
    max_tokens: int | None = Field(default=None, ge=16, le=32768, description="Tokens the judge may write.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Sampling seed.")
    return_reasoning: bool = Field(default=False, description="Return each judgment's <think> text.")
    timeout_s: float | None = Field(default=None, gt=0, le=3600, description="Server-side deadline of the request.")
    reject_invalid_items: bool = Field(
        default=False, description="An item that cannot be judged makes the whole request 400 (not a failed item)."
    )


class JudgeRequest(_Strict):
    items: list[JudgeItem] = Field(min_length=1, description="Trajectories to judge.")
    options: JudgeOptions = Field(default_factory=JudgeOptions)


class Usage(BaseModel):
    prompt_tokens: int = Field(default=0, description="Tokens in the rendered prompt(s).")
    completion_tokens: int = Field(default=0, description="Tokens the judge wrote.")


class Judgment(BaseModel):
    index: int = Field(description="Position of the item in the caller's input.")
    id: str | None = Field(default=None, description="The item's `id`, echoed.")
    status: Literal["ok", "failed"] = Field(description="`ok`: score is valid. `failed`: see `reason`.")
    reason: FailureReason | ClientFailureReason | None = Field(default=None, description="Why it failed.")
    detail: str | None = Field(default=None, description="Human-readable detail of the failure.")
    score: float | None = Field(default=None, ge=0.0, le=1.0, description="Score in [0, 1]; null unless ok.")
    critique: str | None = Field(default=None, description="The <critique> text, meant for the agent.")
    reasoning: str | None = Field(default=None, description="The <think> text, when asked for.")
    truncated: bool = Field(default=False, description="The trajectory was shortened to fit the context.")
    cached: bool = Field(default=False, description="Answered from the judgment cache.")
    finish_reason: str | None = Field(default=None, description="The engine's finish reason.")
    usage: Usage = Field(default_factory=Usage)

    @property
    def ok(self) -> bool:
        """True when the judgment holds a valid score."""
        return self.status == "ok" and self.score is not None


class JudgeResponse(BaseModel):
    id: str = Field(description="Request id (X-Request-Id).")
    model: str = Field(description="Name of the judge model.")
    template_id: str = Field(description="Hash of everything that shaped the prompts (see the service's README).")
    judgments: list[Judgment] = Field(description="One judgment per item, in input order.")
    usage: Usage = Field(description="Token totals over the request.")


class RenderedItem(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    id: str | None = Field(default=None, description="The item's `id`, echoed.")
    input_mode: Literal["completion", "multiturn"] | None = Field(
        default=None, description="How the item was rendered: as written (the paper's pipeline) or turn by turn."
    )
    prompt: str | None = Field(default=None, description="The whole prompt the judge would see.")
    prompt_tokens: int = Field(default=0, description="Tokens in the prompt.")
    truncated: bool = Field(default=False, description="The trajectory was shortened to fit the context.")
    problem: str | None = Field(default=None, description="Why the item cannot be judged; null when it can.")
    reason: Literal["invalid_item", "too_long"] | None = Field(
        default=None, description="The failure reason /judge would give this item; null when it can be judged."
    )


class RenderResponse(BaseModel):
    """The answer of `POST /render`: each item's exact prompt, without judging."""

    model: str = Field(description="Name of the judge model.")
    template_id: str = Field(description="The template id /judge would report for these prompts.")
    prompt_budget: int = Field(description="Prompt tokens an item may take: the context minus max_tokens.")
    items: list[RenderedItem] = Field(description="One rendered prompt per item, in input order.")


class ErrorBody(BaseModel):
    type: str = Field(description="Machine-readable error class.")
    message: str = Field(description="What went wrong, for a person.")
    code: int = Field(description="The HTTP status code.")
    request_id: str | None = None
    details: list[dict[str, Any]] | None = Field(default=None, description="Per-field or per-item problems.")


class ErrorResponse(BaseModel):
    error: ErrorBody

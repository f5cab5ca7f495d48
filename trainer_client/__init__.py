"""Client for the Agent-RRM judge service, with Reagent-C/R/U and RL-framework adapters.

Imports no torch, vLLM or service code: `pip install ./trainer_client` is enough.

    from trainer_client import JudgeClient
    with JudgeClient("http://localhost:8000") as client:
        result = client.judge([{"question": "2+2?", "trajectory": "4"}])
        result.scores   # [0.8] — None where a judgment failed
"""

from __future__ import annotations

from ._base import JudgeResult
from ._chat import ChatMessage, Completion, judge_item, to_messages
from ._client import AsyncJudgeClient, JudgeClient
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    JudgeError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from ._types import (
    JudgeItem,
    JudgeOptions,
    JudgeResponse,
    Judgment,
    Message,
    ToolCall,
    ToolCallFunction,
    Usage,
)
from .reagent_c import Refinement, arefine, question_messages, refine, refinement_messages, refinement_turns
from .reagent_r import (
    DEFAULT_LAMBDA,
    AsyncReagentRScorer,
    FailurePolicy,
    ReagentRScorer,
    RewardBreakdown,
    reagent_r_breakdowns,
    reagent_r_reward,
)
from .reagent_u import (
    GroupSample,
    ReagentUGroup,
    areagent_u_groups,
    build_group,
    pooled_advantages,
    reagent_u_groups,
)
from .rules import rule_reward, rule_rewards

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LAMBDA",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncJudgeClient",
    "AsyncReagentRScorer",
    "AuthenticationError",
    "BadRequestError",
    "ChatMessage",
    "Completion",
    "FailurePolicy",
    "GroupSample",
    "InternalServerError",
    "JudgeClient",
    "JudgeError",
    "JudgeItem",
    "JudgeOptions",
    "JudgeResponse",
    "JudgeResult",
    "Judgment",
    "Message",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReagentRScorer",
    "ReagentUGroup",
    "Refinement",
    "RewardBreakdown",
    "ServiceUnavailableError",
    "ToolCall",
    "ToolCallFunction",
    "UnprocessableEntityError",
    "Usage",
    "areagent_u_groups",
    "arefine",
    "build_group",
    "judge_item",
    "pooled_advantages",
    "question_messages",
    "reagent_r_breakdowns",
    "reagent_r_reward",
    "reagent_u_groups",
    "refine",
    "refinement_messages",
    "refinement_turns",
    "rule_reward",
    "rule_rewards",
    "to_messages",
]

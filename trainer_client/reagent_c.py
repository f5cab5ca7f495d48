"""Reagent-C: text-augmented refinement (Fan et al., "Exploring Reasoning Reward Model for Agents", 2026).

    o⁽¹⁾ ~ π(·|q);   c = critique of RRM(q, o⁽¹⁾);   o⁽²⁾ ~ π(·|q, o⁽¹⁾, c)

Training-free: one round in the paper; `rounds=n` repeats it, each round refining the previous round's attempt
with that attempt's critique (the context stays q + latest attempt + its critique, not the whole history).

The paper does not publish its refinement prompt. Ours puts the context as a chat: the question as the user's
turn, the first attempt as the assistant's turn, then a user turn carrying the critique and asking for a corrected,
complete attempt. When the first judgment failed there is no critique; the follow-up turn then asks the policy
to review its attempt on its own, so every sample still gets a refined attempt.

A *policy* is any callable `policy(contexts) -> completions` taking a batch of chat contexts (lists of
`{"role", "content"}` messages) and returning one completion per context, synchronously or as an awaitable.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._chat import ChatMessage, Completion, judge_item
from ._client import AsyncJudgeClient, JudgeClient
from ._types import JudgeOptions, Judgment

__all__ = [
    "CRITIQUE_PROMPT",
    "SELF_REVIEW_PROMPT",
    "Policy",
    "Refinement",
    "arefine",
    "question_messages",
    "refine",
    "refinement_messages",
    "refinement_turns",
]

Policy = Callable[[list[list[ChatMessage]]], Sequence[Completion] | Awaitable[Sequence[Completion]]]

CRITIQUE_PROMPT = (
    "A reviewer examined your previous attempt and wrote this critique:\n\n{critique}\n\n"
    "Taking the critique into account, write a new, complete attempt at the original question, "
    "keeping the same answer format."
)
SELF_REVIEW_PROMPT = (
    "Review your previous attempt for mistakes, then write a new, complete attempt at the original question, "
    "keeping the same answer format."
)


def question_messages(question: str, *, system_prompt: str | None = None) -> list[ChatMessage]:
    """The context of a first attempt: [system], user q."""
    head: list[ChatMessage] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*head, {"role": "user", "content": question}]


def refinement_messages(
    question: str,
    attempt: Completion,
    critique: str | None,
    *,
    system_prompt: str | None = None,
    template: str = CRITIQUE_PROMPT,
) -> list[ChatMessage]:
    """The context (q, o⁽¹⁾, c) of a refined attempt, as chat messages for the policy.

    Args:
        question: q.
        attempt: o⁽¹⁾, text or chat messages (an agent trajectory keeps its turns).
        critique: c; None or blank → the self-review prompt instead.
        system_prompt: Optional system turn, as given for the first attempt.
        template: The critique turn; `{critique}` is replaced by c.

    Returns:
        [system], user q, assistant o⁽¹⁾ (or its turns), user critique-and-ask.

    Example:
        >>> msgs = refinement_messages("2+2?", "5", "Arithmetic error.")
        >>> [m["role"] for m in msgs], "Arithmetic error." in msgs[-1]["content"]
        (['user', 'assistant', 'user'], True)
    """
    return [
        *question_messages(question, system_prompt=system_prompt),
        *refinement_turns(attempt, critique, template=template),
    ]


def refinement_turns(
    attempt: Completion, critique: str | None, *, template: str = CRITIQUE_PROMPT
) -> list[ChatMessage]:
    """What follows a first attempt's context to make the refinement's: the attempt, then the critique turn.

    Append them to any chat prompt (a system turn, few-shot turns, the question) to get (q, o⁽¹⁾, c).

    Args:
        attempt: o⁽¹⁾, text or chat messages.
        critique: c; None or blank → the self-review prompt.
        template: The critique turn; `{critique}` is replaced by c.

    Returns:
        assistant o⁽¹⁾ (or its turns), user critique-and-ask.

    Example:
        >>> [m["role"] for m in refinement_turns("5", "Arithmetic error.")]
        ['assistant', 'user']
    """
    turns = [{"role": "assistant", "content": attempt}] if isinstance(attempt, str) else [dict(m) for m in attempt]
    ask = template.replace("{critique}", critique.strip()) if critique and critique.strip() else SELF_REVIEW_PROMPT
    return [*turns, {"role": "user", "content": ask}]


@dataclass(frozen=True)
class Refinement:
    """One question's refinement: `attempts[k]` was written in `contexts[k]` and judged `judgments[k]`;
    `critiques[k]` (from `judgments[k]`) fed round k+1. Index 0 is the first attempt, -1 the final one."""

    question: str
    contexts: list[list[ChatMessage]]
    attempts: list[Completion]
    judgments: list[Judgment]

    @property
    def critiques(self) -> list[str | None]:
        return [j.critique if j.ok else None for j in self.judgments[:-1]]

    @property
    def first_attempt(self) -> Completion:
        return self.attempts[0]

    @property
    def refined_attempt(self) -> Completion:
        return self.attempts[-1]

    @property
    def first_judgment(self) -> Judgment:
        return self.judgments[0]

    @property
    def refined_judgment(self) -> Judgment:
        return self.judgments[-1]

    @property
    def critique(self) -> str | None:
        """The critique used for the final refinement."""
        return self.critiques[-1] if self.critiques else None

    @property
    def refined_context(self) -> list[ChatMessage]:
        return self.contexts[-1]


def _check(completions: Sequence[Completion], expected: int) -> list[Completion]:
    if isinstance(completions, str) or len(completions) != expected:
        raise ValueError(f"the policy must return one completion per context ({expected})")
    return list(completions)


class _Rounds:
    """The bookkeeping of a refinement, shared by `refine` and `arefine` (which only add the calls)."""

    def __init__(self, questions: Sequence[str], system_prompt: str | None, template: str) -> None:
        self.questions, self.system_prompt, self.template = list(questions), system_prompt, template
        self.contexts: list[list[list[ChatMessage]]] = [
            [question_messages(q, system_prompt=system_prompt)] for q in questions
        ]
        self.attempts: list[list[Completion]] = [[] for _ in questions]
        self.judgments: list[list[Judgment]] = [[] for _ in questions]

    def first_contexts(self) -> list[list[ChatMessage]]:
        return [c[0] for c in self.contexts]

    def add_attempts(self, completions: Sequence[Completion]) -> list[Any]:
        for mine, completion in zip(self.attempts, _check(completions, len(self.questions)), strict=True):
            mine.append(completion)
        return [judge_item(q, a[-1]) for q, a in zip(self.questions, self.attempts, strict=True)]

    def add_judgments(self, judgments: Sequence[Judgment]) -> list[list[ChatMessage]]:
        """Record the latest judgments; return the next round's contexts."""
        nxt = []
        for i, judgment in enumerate(judgments):
            self.judgments[i].append(judgment)
            critique = judgment.critique if judgment.ok else None
            context = refinement_messages(
                self.questions[i],
                self.attempts[i][-1],
                critique,
                system_prompt=self.system_prompt,
                template=self.template,
            )
            nxt.append(context)
        return nxt

    def start_round(self, contexts: list[list[ChatMessage]]) -> None:
        for mine, context in zip(self.contexts, contexts, strict=True):
            mine.append(context)

    def results(self) -> list[Refinement]:
        return [
            Refinement(q, c, a, j)
            for q, c, a, j in zip(self.questions, self.contexts, self.attempts, self.judgments, strict=True)
        ]


def refine(
    policy: Policy,
    questions: Sequence[str],
    *,
    client: JudgeClient,
    rounds: int = 1,
    first_attempts: Sequence[Completion] | None = None,
    system_prompt: str | None = None,
    template: str = CRITIQUE_PROMPT,
    judge_options: JudgeOptions | dict[str, Any] | None = None,
) -> list[Refinement]:
    """Run Reagent-C: attempt, judge, refine with the critique, judge again (× `rounds`).

    Args:
        policy: Batch policy callable (sync; an async one is run with `asyncio.run`: use `arefine` inside a
            loop).
        questions: The questions q.
        client: The judge client.
        rounds: Refinement rounds (the paper: 1).
        first_attempts: o⁽¹⁾ when already sampled; otherwise the policy is asked for them.
        system_prompt: Optional system turn for every policy call.
        template: The critique turn (see `refinement_messages`).
        judge_options: Options for every judge call.

    Returns:
        One `Refinement` per question, with every attempt, judgment and critique.

    Example:
        >>> out = refine(my_policy, ["What is 6*7? Answer in \\\\boxed{}."], client=client)  # doctest: +SKIP
        >>> out[0].first_attempt, out[0].critique, out[0].refined_attempt  # doctest: +SKIP
    """
    state = _Rounds(questions, system_prompt, template)

    def call(contexts: list[list[ChatMessage]]) -> Sequence[Completion]:
        produced = policy(contexts)
        return asyncio.run(_await(produced)) if inspect.isawaitable(produced) else produced

    items = state.add_attempts(first_attempts if first_attempts is not None else call(state.first_contexts()))
    for _ in range(rounds):
        contexts = state.add_judgments(list(client.judge(items, options=judge_options, raise_on_error=False)))
        state.start_round(contexts)
        items = state.add_attempts(call(contexts))
    state.add_judgments(list(client.judge(items, options=judge_options, raise_on_error=False)))
    return state.results()


async def arefine(
    policy: Policy,
    questions: Sequence[str],
    *,
    client: AsyncJudgeClient,
    rounds: int = 1,
    first_attempts: Sequence[Completion] | None = None,
    system_prompt: str | None = None,
    template: str = CRITIQUE_PROMPT,
    judge_options: JudgeOptions | dict[str, Any] | None = None,
) -> list[Refinement]:
    """`refine` for an `AsyncJudgeClient`; the policy may be sync or async. Same arguments and result."""
    state = _Rounds(questions, system_prompt, template)

    async def call(contexts: list[list[ChatMessage]]) -> Sequence[Completion]:
        produced = policy(contexts)
        return await _await(produced) if inspect.isawaitable(produced) else produced

    items = state.add_attempts(first_attempts if first_attempts is not None else await call(state.first_contexts()))
    for _ in range(rounds):
        judged = await client.judge(items, options=judge_options, raise_on_error=False)
        contexts = state.add_judgments(list(judged))
        state.start_round(contexts)
        items = state.add_attempts(await call(contexts))
    state.add_judgments(list(await client.judge(items, options=judge_options, raise_on_error=False)))
    return state.results()


async def _await(produced: Awaitable[Sequence[Completion]]) -> Sequence[Completion]:
    return await produced

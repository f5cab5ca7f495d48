"""The batch prompt path: the same prompts as tokenising the final text, each item tokenised once, linear work."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.workload import build_requests, get_preset, with_lengths
from service.protocol import JudgeItem, Message
from service.rendering import (
    PromptTemplate,
    PromptTooLong,
    RenderedPrompt,
    _build_prompt_reference,
    prompt_template,
    render_steps,
    user_message,
)
from service.template_source import builtin_prompt
from service.truncation import PromptMemo, batch_encoder, build_prompts, splices_exactly


@pytest.fixture
def template(demo_tokenizer: Any) -> PromptTemplate:
    return prompt_template(builtin_prompt(), demo_tokenizer, "multiturn")


def template_for(tokenizer: Any) -> PromptTemplate:
    return prompt_template(builtin_prompt(), tokenizer, "multiturn")


def canonical(tokenizer: Any, prompt: RenderedPrompt) -> bool:
    """The prompt's ids are what tokenising its own text gives (what vLLM's chat endpoint would send the model)."""
    text = tokenizer.decode(prompt.token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return bool(tokenizer.encode(text, add_special_tokens=False) == prompt.token_ids)


def long_items(n: int = 16) -> list[JudgeItem]:
    preset = with_lengths(get_preset("long"), median=3000, low=1500, high=6000)
    return [JudgeItem.model_validate(i) for i in build_requests(preset, seed=3, n=1, items_per_request=n)[0]]


def ok(result: RenderedPrompt | PromptTooLong) -> RenderedPrompt:
    assert isinstance(result, RenderedPrompt), result
    return result


def test_the_demo_tokenizer_takes_the_fast_paths(demo_tokenizer: Any) -> None:
    texts = ["Question: q\n\nAgent Trajectory: [1] user\nhi", "é 😀 ‹score>", ""]
    assert batch_encoder(demo_tokenizer)(texts) == [demo_tokenizer.encode(t, add_special_tokens=False) for t in texts]
    assert splices_exactly(demo_tokenizer)


def test_prompts_that_fit_are_the_reference_prompts(demo_tokenizer: Any, template: PromptTemplate) -> None:
    items = long_items()
    built = build_prompts(demo_tokenizer, template, items, 40_000)
    for item, prompt in zip(items, built, strict=True):
        reference = _build_prompt_reference(demo_tokenizer, template, item, 40_000)
        assert ok(prompt) == reference and not reference.truncated and reference.mode == "multiturn"


@pytest.mark.parametrize("budget", [1200, 3000, 6000])
def test_truncated_prompts_are_canonical_fit_and_keep_the_ends(
    demo_tokenizer: Any, template: PromptTemplate, budget: int
) -> None:
    items = long_items()
    for item, result in zip(items, build_prompts(demo_tokenizer, template, items, budget), strict=True):
        prompt = ok(result)
        reference = _build_prompt_reference(demo_tokenizer, template, item, budget)
        assert prompt.truncated == reference.truncated
        assert len(prompt.token_ids) <= budget and canonical(demo_tokenizer, prompt)
        text = demo_tokenizer.decode(prompt.token_ids)
        assert f"Question: {item.question}\n\nAgent Trajectory: [1] " in text
        assert text.rstrip().endswith("<|im_start|>assistant")
        if prompt.truncated:
            assert "omitted here to fit the judge's context" in text
            # exact step sizes keep at least as much of the trajectory as the reference's estimates
            assert len(prompt.token_ids) >= len(reference.token_ids) - 64


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
_messages = st.lists(
    st.builds(
        Message,
        role=st.sampled_from(["user", "assistant", "tool"]),
        content=_text,
        reasoning_content=st.one_of(st.none(), _text),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=_text.filter(str.strip), messages=_messages, budget=st.integers(300, 1500))
def test_any_item_gives_a_canonical_prompt_within_budget(
    demo_tokenizer: Any, question: str, messages: list[Message], budget: int
) -> None:
    item = JudgeItem(question=question, messages=messages)
    for mode in ("auto", "multiturn"):  # `auto` renders a plain final answer after user turns as a completion
        check_canonical(demo_tokenizer, prompt_template(builtin_prompt(), demo_tokenizer, mode), item, budget)


def check_canonical(tokenizer: Any, template: PromptTemplate, item: JudgeItem, budget: int) -> None:
    [result] = build_prompts(tokenizer, template, [item], budget)
    try:
        reference = _build_prompt_reference(tokenizer, template, item, budget)
    except PromptTooLong:
        return  # the reference refuses; the batch path may still fit it (its counts are exact)
    prompt = ok(result)
    assert len(prompt.token_ids) <= budget and canonical(tokenizer, prompt)
    assert prompt.mode == reference.mode
    if not reference.truncated:
        assert prompt.token_ids == reference.token_ids


class Counting:
    """One token per character; counts the characters it is asked to tokenise."""

    def __init__(self) -> None:
        self.chars = 0
        self.calls = 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        self.chars += len(text)
        self.calls += 1
        return [ord(c) for c in text]

    def decode(self, token_ids: list[int]) -> str:
        return "".join(map(chr, token_ids))

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in conversation) + "<assistant>"


def agent_item(steps: int, output: str) -> JudgeItem:
    messages = [Message(role="user", content="task")]
    for i in range(steps):
        messages += [Message(role="assistant", content=f"step {i}"), Message(role="tool", content=f"{output} {i}")]
    messages.append(Message(role="assistant", content="done"))
    return JudgeItem(question="q", messages=messages)


def test_truncation_tokenises_each_item_once_and_linearly() -> None:
    tokenizer = Counting()
    build_prompts(tokenizer, template_for(tokenizer), [agent_item(1, "x")], 10_000)  # frame and probes, checked once
    for steps in (50, 200, 800):
        item = agent_item(steps, "y" * 200)
        tokenizer.chars = 0
        [result] = build_prompts(tokenizer, template_for(tokenizer), [item], 5_000)
        prompt = ok(result)
        size = len(user_message(item.question, "\n\n".join(render_steps(item, template_for(tokenizer)))))
        assert prompt.truncated and len(prompt.token_ids) <= 5_000
        # the item's text once, plus the marker (twice: its worst case and its own) — never the whole item again
        assert tokenizer.chars < size + 400, (steps, tokenizer.chars, size)


def test_a_step_cut_inside_tokenises_at_most_the_budget_again() -> None:
    tokenizer = Counting()
    build_prompts(tokenizer, template_for(tokenizer), [agent_item(1, "x")], 10_000)
    item = JudgeItem(question="q", trajectory="BEGIN " + "z" * 50_000 + " END")
    tokenizer.chars = 0
    [result] = build_prompts(tokenizer, template_for(tokenizer), [item], 2_000)
    prompt = ok(result)
    text = tokenizer.decode(prompt.token_ids)
    assert prompt.truncated and len(prompt.token_ids) <= 2_000 and "BEGIN" in text and " END" in text
    assert tokenizer.chars < 50_000 + 2 * 2_000


def test_repeats_are_tokenised_once_and_the_memo_answers_later_ones() -> None:
    tokenizer = Counting()
    memo = PromptMemo(max_tokens=100_000)
    build_prompts(tokenizer, template_for(tokenizer), [agent_item(1, "x")], 10_000)
    a, b = agent_item(3, "alpha"), agent_item(3, "beta")
    tokenizer.chars = 0
    again = a.model_copy(update={"id": "again"})
    first = build_prompts(tokenizer, template_for(tokenizer), [a, b, again, b], 10_000, memo)
    once = tokenizer.chars
    assert [ok(p).token_ids for p in first[2:]] == [ok(p).token_ids for p in first[:2]]
    tokenizer.chars = 0
    build_prompts(tokenizer, template_for(tokenizer), [a, b], 10_000, memo)
    assert tokenizer.chars == 0 and len(memo) == 2 and once > 0
    # another budget is another prompt
    build_prompts(tokenizer, template_for(tokenizer), [a], 9_000, memo)
    assert tokenizer.chars > 0


def test_the_memo_is_bounded_by_tokens() -> None:
    memo = PromptMemo(max_tokens=10)
    for i in range(5):
        memo.put(bytes([i]), RenderedPrompt(list(range(4)), truncated=False))
    assert len(memo) == 2 and memo.tokens == 8 and memo.get(bytes([0])) is None and memo.get(bytes([4])) is not None


class Merging(Counting):
    """A tokenizer that joins a newline with the character after it: cut pieces would not add up."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids: list[int] = []
        for i, c in enumerate(text):
            if i and text[i - 1] == "\n" and ids:
                ids[-1] = ids[-1] * 1000 + ord(c)
            else:
                ids.append(ord(c))
        return ids


def test_a_tokenizer_that_does_not_splice_gets_the_reference_path() -> None:
    tokenizer = Merging()
    assert not splices_exactly(tokenizer)
    for budget in (100_000, 3_500):
        item = agent_item(30, "w" * 40)
        [result] = build_prompts(tokenizer, template_for(tokenizer), [item], budget)
        reference = _build_prompt_reference(tokenizer, template_for(tokenizer), item, budget)
        assert ok(result).token_ids == reference.token_ids
        assert ok(result).truncated == (budget < 10_000)

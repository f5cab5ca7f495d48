"""Rule rewards against hand-computed values, plus properties that must hold for any input."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer_client.rules import (
    answer_kind,
    completion_text,
    extract_boxed,
    math_reward,
    normalize_answer,
    outside_thoughts,
    resolve_kind,
    rule_reward,
    rule_rewards,
    source_kind,
    text_reward,
    token_f1,
    yes_no_reward,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{42}", "42"),
        (r"first \boxed{1}, finally \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed {x^{2}}", "x^{2}"),
        (r"\fbox{7}", "7"),
        (r"\boxed{ok} then \boxed{unclosed", "ok"),
        ("no box here", None),
        (r"\boxed{", None),
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


def test_token_f1_by_hand() -> None:
    # pred {big, red, dog}, gold {red, dog}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("big red dog", "the red dog") == pytest.approx(0.8)
    assert token_f1("cat", "dog") == 0.0
    assert token_f1("", "dog") == 0.0


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower", 1.0),  # exact after normalisation
        ("big red dog", "red dog", 0.8),  # F1 = 0.8 ≥ 0.3
        ("a b c d e f g h i red", "red", 2 * 0.1 * 1 / 1.1),  # F1 = 0.1818 < 0.3 → 0
        ("one two three red", "red", 0.4),  # P = 1/4, R = 1: F1 = 0.4
    ],
)
def test_text_reward_by_hand(answer: str, gold: str, expected: float) -> None:
    value = text_reward(answer, gold)
    assert value == (pytest.approx(expected) if expected >= 0.3 else 0.0)


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("Yes", "yes", 1.0),
        ("yes, it is", "Yes", 1.0),
        ("No.", "no", 1.0),
        ("not sure", "no", 0.0),
        ("I know", "no", 0.0),
        ("true", "True", 1.0),
        ("false", "true", 0.0),
    ],
)
def test_yes_no_by_word_containment(answer: str, gold: str, expected: float) -> None:
    assert yes_no_reward(answer, gold) == expected


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        (r"\frac{1}{2}", "0.5", 1.0),
        ("3.0", "3", 1.0),
        (r"2\sqrt{3}", r"\sqrt{12}", 1.0),
        ("x^2+1", "1+x^2", 1.0),
        ("3", "4", 0.0),
        ("1,000", "1000", 1.0),
        ("", "0", 0.0),
    ],
)
def test_math_by_equivalence(answer: str, gold: str, expected: float) -> None:
    assert math_reward(answer, gold) == expected


def test_math_works_off_the_main_thread() -> None:
    # TRL runs async reward functions on a daemon thread, where SIGALRM timeouts are not allowed.
    out: list[float] = []
    thread = threading.Thread(target=lambda: out.append(math_reward(r"\frac{3}{4}", "0.75")))
    thread.start()
    thread.join()
    assert out == [1.0]


@pytest.mark.parametrize(
    ("gold", "kind"),
    [
        ("Yes", "yes_no"),
        ("FALSE", "yes_no"),
        ("42", "math"),
        (r"\frac{3}{4}", "math"),
        ("x + y", "math"),
        ("Marie Curie", "text"),
        ("B", "text"),
        ("3 apples", "text"),
        (r"\pi", "math"),
    ],
)
def test_answer_kind(gold: str, kind: str) -> None:
    assert answer_kind(gold) == kind


def test_rule_reward_reads_the_box_and_dispatches_by_kind() -> None:
    assert rule_reward(r"Thus \boxed{\dfrac{1}{2}}.", "0.5") == 1.0
    assert rule_reward(r"\boxed{Paris}", "paris") == 1.0
    assert rule_reward(r"\boxed{yes}", "Yes") == 1.0
    assert rule_reward("Paris", "Paris") == 0.0  # no box, no reward (the paper's text grader would guess)
    assert rule_reward("Paris", "Paris", require_boxed=False) == 1.0
    assert rule_reward(r"\boxed{NYC}", ["New York City", "NYC"]) == 1.0  # best alias
    assert rule_reward(r"\boxed{4}", r"\boxed{4}") == 1.0  # gold given boxed
    assert rule_reward(r"\boxed{4}", "4", kind="text") == 1.0


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("<think>a</think>b", "b"),
        ("<think>a</think>b<think>c</think>d", "d"),
        ("prompt opened it</think> answer", " answer"),  # `<think>` was in the prompt
        ("<think>cut mid-thought", ""),
        ("answer <think>then more thinking, never closed", "answer "),
        ("no thoughts", "no thoughts"),
    ],
)
def test_outside_thoughts(text: str, final: str) -> None:
    assert outside_thoughts(text) == final


def test_the_answer_is_read_outside_thoughts() -> None:
    # A box inside the thoughts is not an answer, whichever grader the item gets.
    assert rule_reward(r"<think>it is \boxed{42}</think> I am not sure.", "42") == 0.0
    assert rule_reward(r"<think>\boxed{Paris}?</think>\boxed{Lyon}", "Paris") == 0.0
    assert rule_reward(r"<think>\boxed{yes}</think>\boxed{no}", "yes") == 0.0
    assert rule_reward(r"<think>\boxed{5}?</think>So \boxed{4}.", "4") == 1.0
    assert rule_reward(r"<think>long thoughts \boxed{4}", "4") == 0.0  # cut before the thoughts ended
    assert rule_reward("<think>x</think>Paris", "Paris", require_boxed=False) == 1.0
    chat = [{"role": "assistant", "content": r"<think>\boxed{1}</think>\boxed{2}"}]
    assert rule_reward(chat, "2") == 1.0 and rule_reward(chat, "1") == 0.0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("math", "math"),
        ("MATH", "math"),
        ("search", "text"),
        ("hotpotqa", "text"),
        ("TriviaQA", "text"),
        ("audio", None),
        ("lighteval/MATH", None),  # only the exact name "math" says math
        ("", None),
        (None, None),
    ],
)
def test_source_kind(source: str | None, expected: str | None) -> None:
    assert source_kind(source) == expected


def test_kind_is_chosen_per_item_source_first_then_gold() -> None:
    # The same boxed answer and gold, graded by each item's own source.
    completions = [r"\boxed{1990}"] * 3
    golds = ["1990.0"] * 3
    assert rule_rewards(completions, golds, sources=["math", "hotpotqa", None]) == [1.0, 0.0, 1.0]
    # A text source grades a number-looking gold as text: partial credit by F1, not 0/1 equivalence.
    # {in, 1066, ad} vs {1066}: P = 1/3, R = 1, F1 = 0.5.
    assert rule_reward(r"\boxed{in 1066 AD}", "1066", source="hotpotqa") == pytest.approx(0.5)
    assert rule_reward(r"\boxed{in 1066 AD}", "1066") == 0.0  # no source: the gold looks like math
    # A math source grades a gold with a unit by equivalence (text would give F1 = 2/3).
    assert rule_reward(r"\boxed{12}", "12 cm", source="math") == 1.0
    assert rule_reward(r"\boxed{12}", "12 cm") == pytest.approx(2 / 3)
    # A yes/no gold is graded by containment whatever the source says (as the paper does).
    assert resolve_kind("No", source="math") == "yes_no"
    assert rule_reward(r"\boxed{no, it is not}", "No", source="math") == 1.0
    # An explicit kind overrides both.
    assert resolve_kind("42", source="hotpotqa", kind="math") == "math"
    with pytest.raises(ValueError, match="sources"):
        rule_rewards(completions, golds, sources=["math"])


def test_normalisation_deletes_punctuation_squad_style() -> None:
    assert normalize_answer("Jean-Paul Sartre.") == "jeanpaul sartre"
    assert normalize_answer(r"The \text{U.S.} Navy") == "us navy"
    assert rule_reward(r"\boxed{U.S.A.}", "USA", kind="text") == 1.0


def test_rule_reward_of_chat_completions() -> None:
    chat = [
        {"role": "assistant", "content": "thinking"},
        {"role": "tool", "content": "x"},
        {"role": "assistant", "content": r"\boxed{12}"},
    ]
    assert completion_text(chat) == r"\boxed{12}"
    assert rule_reward(chat, "12") == 1.0


def test_rule_rewards_batch_and_length_check() -> None:
    assert rule_rewards([r"\boxed{1}", r"\boxed{2}"], ["1", "1"]) == [1.0, 0.0]
    with pytest.raises(ValueError):
        rule_rewards([r"\boxed{1}"], ["1", "2"])


@settings(max_examples=60, deadline=None)
@given(completion=st.text(max_size=80), gold=st.text(min_size=1, max_size=20))
def test_rule_reward_is_always_in_unit_interval(completion: str, gold: str) -> None:
    assert 0.0 <= rule_reward(completion, gold) <= 1.0
    assert 0.0 <= rule_reward(r"\boxed{" + completion + "}", gold) <= 1.0


@settings(max_examples=60, deadline=None)
@given(inner=st.text(alphabet=st.characters(blacklist_characters="{}\\"), max_size=30), prefix=st.text(max_size=20))
def test_boxed_content_round_trips(inner: str, prefix: str) -> None:
    assert extract_boxed(prefix.replace("\\", "") + r"\boxed{" + inner + "}") == inner.strip()

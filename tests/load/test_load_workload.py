"""The workload generator: deterministic, valid for the wire contract, and shaped as its presets promise."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from load_tests import text
from load_tests.trajectory import CHARS_PER_TOKEN, LengthDist
from load_tests.workload import PRESETS, approx_tokens, build_requests, get_preset, main, with_lengths
from service.protocol import JudgeRequest


def _items(preset: str, *, seed: int, n: int, per: int | None = None) -> list[dict]:
    return [item for req in build_requests(preset, seed=seed, n=n, items_per_request=per) for item in req]


def test_same_seed_same_requests_and_prefix_stable() -> None:
    a = build_requests("short", seed=7, n=6, items_per_request=3)
    b = build_requests("short", seed=7, n=6, items_per_request=3)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(build_requests("short", seed=7, n=2, items_per_request=3)) == json.dumps(a[:2])
    assert json.dumps(build_requests("short", seed=8, n=6, items_per_request=3)) != json.dumps(a)


def test_grpo_is_deterministic() -> None:
    assert json.dumps(build_requests("grpo", seed=3, n=2)) == json.dumps(build_requests("grpo", seed=3, n=2))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_payloads_validate_against_the_wire_contract(preset: str) -> None:
    for items in build_requests(preset, seed=1, n=2):
        request = JudgeRequest.model_validate({"items": items})
        assert len(request.items) == len(items)


def test_short_lengths_are_qa_like() -> None:
    tokens = [approx_tokens(item) for item in _items("short", seed=0, n=200)]
    assert 850 <= statistics.median(tokens) <= 1150
    assert min(tokens) >= 380 and max(tokens) <= 2050


def test_long_lengths_and_tool_calls_are_gaia_like() -> None:
    items = _items("long", seed=0, n=12)
    tokens = [approx_tokens(item) for item in items]
    assert min(tokens) >= 8000 * 0.97 and max(tokens) <= 16000 * 1.03
    assert 9500 <= statistics.median(tokens) <= 13000
    calls = [sum(m["role"] == "tool" for m in item["messages"]) for item in items]
    assert min(calls) >= 10 and max(calls) <= 30


def test_long_tool_outputs_differ_a_lot_in_length() -> None:
    for item in _items("long", seed=2, n=3):
        outputs = sorted(len(m["content"]) for m in item["messages"] if m["role"] == "tool")
        assert outputs[-1] >= 10 * outputs[0]


def test_approx_tokens_is_chars_over_four() -> None:
    item = {"question": "q" * 40, "messages": [{"role": "assistant", "content": "a" * 60}]}
    assert approx_tokens(item) == 100 / CHARS_PER_TOKEN


def test_trajectory_structure() -> None:
    for item in _items("short", seed=5, n=20) + _items("long", seed=5, n=2):
        msgs = item["messages"]
        assert msgs[-1]["role"] == "assistant" and "\\boxed{" in msgs[-1]["content"]
        answered = {m["tool_call_id"] for m in msgs if m["role"] == "tool"}
        calls = [c for m in msgs for c in m.get("tool_calls") or []]
        assert {c["id"] for c in calls} == answered and len(calls) == len(answered) >= 1
        for call in calls:
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
    thoughts = [m for item in _items("short", seed=6, n=30) for m in item["messages"] if m["role"] == "assistant"]
    assert any(m.get("reasoning_content") for m in thoughts) and any(
        m.get("tool_calls") and m["content"] for m in thoughts
    )


def test_tool_outputs_look_like_their_tools() -> None:
    tool_msgs = [m for item in _items("long", seed=9, n=3) for m in item["messages"] if m["role"] == "tool"]
    by_tool: dict[str, list[str]] = {}
    for m in tool_msgs:
        by_tool.setdefault(m["name"], []).append(m["content"])
    assert set(by_tool) == {"web_search", "browse", "python", "read_file", "list_dir"}
    assert all(c.startswith("1. ") for c in by_tool["web_search"] if len(c) > 3)
    assert all(c.startswith("# ") and "Source: https://" in c for c in by_tool["browse"] if len(c) > 80)
    files = by_tool["read_file"] + by_tool["list_dir"]
    assert any("-rw-r--r--" in c for c in files) and any("," in c.split("\n")[0] for c in files)
    assert len({m["content"] for m in tool_msgs}) == len(tool_msgs)


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (0.25, 2), (0.5, 4), (1.0, 7)])
def test_grpo_groups_share_the_question_and_repeat_at_the_configured_share(share: float, expected: int) -> None:
    preset = get_preset("grpo", repeat_share=share)
    for items in build_requests(preset, seed=4, n=3):
        assert len(items) == 8 and len({item["question"] for item in items}) == 1
        assert len({item["id"] for item in items}) == 8
        seen: list[str] = []
        repeats = 0
        for item in items:
            key = json.dumps(item["messages"])
            repeats += key in seen
            seen.append(key)
        assert repeats == expected
        assert len(set(seen)) == 8 - expected


def test_grpo_requests_can_hold_several_groups() -> None:
    (items,) = build_requests("grpo", seed=0, n=1, items_per_request=16)
    assert len({item["question"] for item in items[:8]}) == 1
    assert items[0]["question"] != items[8]["question"]
    with pytest.raises(ValueError, match="multiple"):
        build_requests("grpo", seed=0, n=1, items_per_request=12)


def test_length_distribution_is_configurable() -> None:
    preset = with_lengths(get_preset("short"), median=3000, low=2500, high=3500, sigma=0.0)
    tokens = [approx_tokens(item) for req in build_requests(preset, seed=0, n=20) for item in req]
    assert all(2900 <= t <= 3100 for t in tokens)
    with pytest.raises(ValueError):
        LengthDist(median=100, low=200, high=300)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        build_requests("huge", seed=0, n=1)
    with pytest.raises(ValueError):
        build_requests(get_preset("grpo", repeat_share=1.5), seed=0, n=1)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=-5, max_value=3000), seed=st.integers(min_value=0, max_value=2**32))
def test_text_generators_return_exactly_n_chars(n: int, seed: int) -> None:
    rng = random.Random(seed)
    for made in (
        text.fill(rng, n, text.sentence),
        text.search_results_text(rng, n, "q"),
        text.web_page_text(rng, n, "https://x.org/a"),
        text.python_output_text(rng, n),
        text.file_listing_text(rng, n),
        text.thought_text(rng, n, "Ka"),
    ):
        assert len(made) == max(n, 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_any_seed_makes_valid_items(seed: int) -> None:
    (items,) = build_requests("short", seed=seed, n=1, items_per_request=2)
    JudgeRequest.model_validate({"items": items})
    assert all("\\boxed{" in item["messages"][-1]["content"] for item in items)


def test_cli_writes_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.jsonl"
    assert main(["--preset", "short", "--n", "3", "--seed", "0", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert [json.loads(line)["items"] for line in lines] == build_requests("short", seed=0, n=3)
    assert "3 requests" in capsys.readouterr().err
    assert main(["--preset", "long", "--n", "2", "--median-tokens", "3000", "--min-tokens", "2000"]) == 0
    captured = capsys.readouterr()
    assert all(
        2000 <= approx_tokens(item) <= 16000 for line in captured.out.splitlines() for item in json.loads(line)["items"]
    )

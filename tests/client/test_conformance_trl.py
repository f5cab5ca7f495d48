"""TRL, its own code: the README's TRL lines run two real GRPO steps on the tiny demo policy at the oldest TRL that
trainer_client allows (1.15.0, installed `--no-deps` into a cache, see `frameworks.py`) and at the newest (the one
`make setup` installs into .venv).

Path exercised: `GRPOTrainer.__init__` (reward function naming) → `_generate_and_score_completions` →
`_calculate_rewards` (async detection with `is_async_callable`, a `None` reward becomes NaN) → the group advantage
(NaN rows out of the baseline, advantage 0) → the loss. A judge speaking the wire contract answers over real HTTP:
per group of four, the first item's judgment fails and the others score 0.8, 0.2, 0.8.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from .conformance.run import run_script
from .doc_lines import doc_lines
from .fakes import FakeJudge, serve_over_http
from .frameworks import FRAMEWORKS, install

FLOOR = FRAMEWORKS["trl-floor"][0].split()[1]
PYPROJECT = Path(__file__).resolve().parents[2] / "trainer_client" / "pyproject.toml"


@pytest.fixture
def judge_url() -> Iterator[str]:
    count = iter(range(10**6))
    judge = FakeJudge(score=lambda item: (None, 0.8, 0.2, 0.8)[next(count) % 4])
    server = serve_over_http(judge)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_floor_is_the_one_pyproject_declares() -> None:
    declared = re.findall(r'"trl>=([0-9.]+)"', PYPROJECT.read_text())
    assert declared and set(declared) == {FLOOR}, f"trainer_client/pyproject.toml says trl>={declared}, tests {FLOOR}"


def _check(out: dict[str, Any], expected_version: str, *, trained: bool) -> None:
    assert out["trl"] == expected_version
    assert len(out["steps"]) == 2
    for step in out["steps"]:
        rewards, advantages = step["rewards"], step["advantages"]
        assert rewards[0] is None, "the failed judgment reached TRL as None (masked), not as a number"
        # R_rule ∈ {0, 1} plus 0.3·score
        judged = [r - round(r) for r in rewards[1:]]
        assert judged == [pytest.approx(0.24, abs=1e-6), pytest.approx(0.06, abs=1e-6), pytest.approx(0.24, abs=1e-6)]
        assert advantages[0] == 0.0, "TRL gives a masked sample advantage 0"
        if len(set(rewards[1:])) > 1:  # the baseline is the mean of the three judged rewards, without the masked one
            assert sum(advantages[1:]) == pytest.approx(0.0, abs=1e-4)
    if trained:
        rates = [row["reagent_r/judge_failure_rate"] for row in out["logs"] if "reagent_r/judge_failure_rate" in row]
        assert rates and all(rate == pytest.approx(0.25) for rate in rates), "failures are counted in TRL's logs"
        assert out["param_change"] > 0.0, "the steps moved the weights"


def test_trl_floor_dispatches_the_documented_reward(judge_url: str, demo_model_dir: Path) -> None:
    """At the floor, the reward half of two steps only: TRL 1.15.0's loss needs Triton's kernels (a GPU; `make setup`
    removes Triton on CPU hosts), and 1.16 added the fallback the full run below uses."""
    site = install("trl-floor")
    lines = json.dumps(doc_lines("trl"))
    out = run_script("trl_grpo_step.py", [str(demo_model_dir), judge_url, lines, "dispatch"], [site])
    _check(out, FLOOR, trained=False)


def test_trl_newest_trains_with_the_documented_reward(judge_url: str, demo_model_dir: Path) -> None:
    lines = json.dumps(doc_lines("trl"))
    out = run_script("trl_grpo_step.py", [str(demo_model_dir), judge_url, lines, "train"], [])
    _check(out, version("trl"), trained=True)

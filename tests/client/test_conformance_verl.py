"""verl 0.9.1, its own code: the reward-function loading and the default reward manager, configured exactly as the
client README tells users (its `verl-file` and `verl-overrides` blocks).

Path exercised: `verl.trainer.ppo.reward.load_reward_manager` → `get_custom_reward_fn` (reads
`config.reward.custom_reward_function`) → `NaiveRewardManager.run_single` → `assemble_rm_scores`, on verl's full
default config (`verl/trainer/config/_generated_ppo_trainer.yaml`). verl is installed `--no-deps` (see
`frameworks.py`); Ray is stood in for. A judge speaking the wire contract answers over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conformance.run import run_script
from .doc_lines import doc_lines
from .fakes import FakeJudge, fails_on_bad, serve_over_http
from .frameworks import FRAMEWORKS, RAY_STUB, install

VERSION = FRAMEWORKS["verl"][0]


@pytest.fixture(scope="module")
def verl_site() -> Path:
    return install("verl")


@pytest.fixture
def judge_url() -> Iterator[str]:
    server = serve_over_http(FakeJudge(score=fails_on_bad))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(site: Path, overrides: list[str], batch: list[list[str]], url: str, cwd: Path, tokenizer: Path) -> Any:
    return run_script(
        "verl_reward_loop.py",
        [json.dumps(overrides), str(tokenizer), json.dumps(batch)],
        [site, RAY_STUB],
        env={"RRM_JUDGE_URL": url},
        cwd=cwd,
    )


def _user_files(tmp_path: Path) -> list[str]:
    file_lines = doc_lines("verl-file")
    name = file_lines[0].removeprefix("#").strip()  # the block starts with the file's name
    (tmp_path / name).write_text("\n".join(file_lines) + "\n")
    return doc_lines("verl-overrides")


def test_verl_loads_and_calls_our_reward_as_documented(
    verl_site: Path, judge_url: str, tmp_path: Path, demo_model_dir: Path
) -> None:
    overrides = _user_files(tmp_path)
    out = _run(
        verl_site, overrides, [[r"\boxed{4}", "4"], [r"bad \boxed{4}", "4"]], judge_url, tmp_path, demo_model_dir
    )
    assert out["verl"] == VERSION.split()[1]
    assert out["manager"] == "NaiveRewardManager", "the default reward manager of verl's own config"
    assert out["compute_score_module"] == "trainer_client.adapters.verl", "verl must call our function, not its own"
    assert out["errors"] == [None, None]
    # The judged sample: 1 + 0.3·0.8. The failed one: the same rule reward and its group's mean score, never 0.
    assert out["scores"] == [pytest.approx(1.24), pytest.approx(1.24)]
    extras = out["extras"]
    assert extras["judge_failed"] == [0.0, 1.0] and extras["judge_ok"] == [1.0, 0.0]
    assert extras["rm_scores_row_sums"] == [pytest.approx(1.24), pytest.approx(1.24)]
    # verl calls the function from many threads: judgments in flight bounded by the judge's admission limit (/info).
    assert out["judge_in_flight"] == FakeJudge().max_pending_items


def test_verl_refuses_a_row_without_ground_truth(
    verl_site: Path, judge_url: str, tmp_path: Path, demo_model_dir: Path
) -> None:
    overrides = _user_files(tmp_path)
    out = _run(verl_site, overrides, [[r"\boxed{4}", ""]], judge_url, tmp_path, demo_model_dir)
    assert out["errors"][0] is not None and "reward_model.ground_truth" in out["errors"][0]


def test_verl_ignores_the_old_top_level_keys(
    verl_site: Path, judge_url: str, tmp_path: Path, demo_model_dir: Path
) -> None:
    """What the docs used to say (`custom_reward_function.path`): verl 0.9.1 silently uses its own scoring instead."""
    old = [line.removeprefix("reward.") for line in _user_files(tmp_path)]
    out = _run(verl_site, old, [[r"\boxed{4}", "4"]], judge_url, tmp_path, demo_model_dir)
    assert out["compute_score_module"] != "trainer_client.adapters.verl"

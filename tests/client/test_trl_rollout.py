"""The TRL Reagent-U rollout where the judge is not there, and its misconfigurations, through TRL's real
GRPOTrainer on the tiny policy (no vLLM: the judge's address is a closed port); and its reward function alone."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from trainer_client import JudgeClient
from trainer_client.adapters.trl_rollout import ReagentUReward, ReagentURollout
from trainer_client.reagent_c import SELF_REVIEW_PROMPT

from .trl_helpers import RecordingTrainer, chat, one_thread  # noqa: F401 (a fixture)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEAD = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def example() -> Any:
    sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module("trl_grpo_reagent_u")


def dead_judge_trainer(example: Any, model: Path, tmp_path: Path, **overrides: Any) -> tuple[Any, ReagentURollout]:
    kwargs: dict[str, Any] = {"group": 2, "steps": 1, "max_new_tokens": 8, "lr": 1e-2, "temperature": 1.0}
    trainer, rollout = example.make_trainer(
        url=DEAD, model=str(model), rows=example.arithmetic_rows(4, seed=1), output_dir=str(tmp_path),
        trainer_cls=RecordingTrainer, **(kwargs | overrides),
    )  # fmt: skip
    rollout._client = JudgeClient(DEAD, max_retries=0)  # fail at once instead of backing off five times
    return trainer, rollout


@pytest.mark.usefixtures("one_thread")
def test_a_judge_that_is_down_masks_every_sample_and_moves_nothing(
    example: Any, demo_model_dir: Path, tmp_path: Path
) -> None:
    trainer, _ = dead_judge_trainer(example, demo_model_dir, tmp_path)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    (batch,) = trainer.batches
    assert [r["reagent_failure"] for r in batch["rows"]] == ["unavailable"] * 4
    assert all(math.isnan(r) for r in batch["rewards"]), "a failed judgment is masked (None → NaN), never 0"
    assert batch["advantages"] == [0.0] * 4
    assert all(bool((p.detach() == before[n]).all()) for n, p in trainer.model.named_parameters())
    (log,) = [h for h in trainer.state.log_history if "reagent_u/judge_failure_rate" in h]
    assert log["reagent_u/judge_failure_rate"] == 1.0 and log["reagent_u/judge_failures/unavailable"] == 1.0
    assert log["reagent_u/first/judge_failure_rate"] == 1.0 and log["reagent_u/refined/judge_failure_rate"] == 1.0
    assert log["reagent_u/self_review_rate"] == 1.0  # no critique came back: every refinement reviewed itself
    assert log["reward"] is None or math.isnan(log["reward"])


@pytest.mark.usefixtures("one_thread")
def test_reagent_c_training_rows_are_refinements_in_their_own_context(
    example: Any, demo_model_dir: Path, tmp_path: Path
) -> None:
    trainer, _ = dead_judge_trainer(example, demo_model_dir, tmp_path, mode="reagent_c")
    trainer.train()
    (batch,) = trainer.batches
    assert [r["reagent_stage"] for r in batch["rows"]] == ["refined"] * 2
    for ids, row in zip(batch["prompt_ids"], batch["rows"], strict=True):
        # No critique came back from a judge that is down: the refinement was asked to review itself.
        assert row["reagent_context"][: len(row["prompt"])] == row["prompt"]
        assert [m["role"] for m in row["reagent_context"][len(row["prompt"]) :]] == ["assistant", "user"]
        assert row["reagent_context"][-1]["content"] == SELF_REVIEW_PROMPT
        assert ids == chat(trainer.processing_class, row["reagent_context"])


@pytest.mark.usefixtures("one_thread")
def test_an_odd_group_cannot_pair_attempts_with_refinements(example: Any, demo_model_dir: Path, tmp_path: Path) -> None:
    trainer, rollout = dead_judge_trainer(example, demo_model_dir, tmp_path, mode="reagent_c", group=3)
    rollout.mode = "reagent_u"  # 3 rows per question: Reagent-U needs 2·G
    with pytest.raises(ValueError, match=r"num_generations must be|to 2·G"):
        trainer.train()


@pytest.mark.usefixtures("one_thread")
def test_plain_text_prompts_are_refused(example: Any, demo_model_dir: Path, tmp_path: Path) -> None:
    trainer, rollout = dead_judge_trainer(example, demo_model_dir, tmp_path)
    with pytest.raises(ValueError, match="conversational prompts"):
        rollout(["What is 1 + 1?", "What is 1 + 1?"], trainer)


@pytest.mark.usefixtures("one_thread")
def test_a_trl_without_per_call_num_generations_is_refused(
    example: Any, demo_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer, rollout = dead_judge_trainer(example, demo_model_dir, tmp_path)

    def generate_before_1_15(
        prompt_ids: Any, images: Any, multimodal_fields: Any, has_tool_images: bool = False
    ) -> Any:
        raise AssertionError("must not be called")  # TRL <= 1.14's signature

    monkeypatch.setattr(trainer, "_generate_single_turn", generate_before_1_15)
    prompt = [{"role": "user", "content": "What is 1 + 1?"}]
    with pytest.raises(RuntimeError, match=r"TRL >= 1\.15"):
        rollout([prompt, prompt], trainer)


def reward(**overrides: Any) -> ReagentUReward:
    return ReagentUReward(
        **({"lam": 0.3, "answer_key": "answer", "source_key": "data_source", "kind": "auto"} | overrides)
    )


def test_reward_is_reagent_r_with_masking_and_logs_per_stage() -> None:
    metrics: dict[str, float] = {}
    columns: dict[str, list[Any]] = {}
    out = reward()(
        prompts=[[{"role": "user", "content": "q"}]] * 4,
        completions=[r"\boxed{4}", r"<think>\boxed{4}</think>no", r"\boxed{4}", r"\boxed{5}"],
        answer=["4"] * 4,
        data_source=["math"] * 4,
        reagent_stage=["first", "refined", "first", "refined"],
        reagent_score=[0.5, 1.0, None, 0.0],
        reagent_failure=[None, None, "parse_error", None],
        reagent_critique=[None, "c", None, None],
        log_metric=metrics.__setitem__,
        log_extra=columns.__setitem__,
    )
    assert out == [pytest.approx(1.15), pytest.approx(0.3), None, 0.0]
    assert metrics["reagent_u/judge_failure_rate"] == 0.25 and metrics["reagent_u/judge_failures/parse_error"] == 0.25
    assert metrics["reagent_u/first/judge_failure_rate"] == 0.5 and metrics["reagent_u/refined/judge_failure_rate"] == 0
    assert metrics["reagent_u/first/reward"] == pytest.approx(1.15)
    assert metrics["reagent_u/refined/reward"] == pytest.approx(0.15)
    assert metrics["reagent_u/self_review_rate"] == 0.5
    assert columns["reagent_stage"] == ["first", "refined", "first", "refined"]


def test_reward_names_what_is_missing() -> None:
    with pytest.raises(KeyError, match="'answer' column"):
        reward()(prompts=["q"], completions=["a"], reagent_score=[1.0])
    with pytest.raises(KeyError, match="rollout_func"):
        reward()(prompts=["q"], completions=["a"], answer=["a"])


def test_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        ReagentURollout(DEAD, mode="reagent_x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eval_mode"):
        ReagentURollout(DEAD, eval_mode="critique")  # type: ignore[arg-type]

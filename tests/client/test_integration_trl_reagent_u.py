"""Reagent-U inside TRL's real GRPOTrainer: two optimisation steps of the tiny policy, judged by the live demo
judge (`python -m service --model demo`), built by `examples/trl_grpo_reagent_u.py:make_trainer`.

What is checked, from what TRL itself computed (a subclass records what GRPOTrainer produced and what its loss
read, without changing either):
- each group is 2G rows: G first attempts, each followed by its refinement;
- a first attempt was written in the question's context; its refinement in (question, first attempt, critique),
  the critique being the live judge's for that first attempt (re-judged: the same, from the judge's cache);
- rewards are R_rule + 0.3·score with the judge's scores, and TRL's advantages are Reagent-U's pooled ones over the
  2G rows; the loss's forward pass read each row in its own context;
- the weights moved; judge failures are counted in the logs;
- evaluation uses no critique (plain), or the training-free Reagent-C refinement when asked.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trainer_client import JudgeClient, judge_item, pooled_advantages, refinement_turns
from trainer_client.rules import rule_reward

from .trl_helpers import RecordingTrainer, chat, one_thread  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
G, QUESTIONS, STEPS, TOKENS = 2, 2, 2, 12


@pytest.fixture(scope="module")
def example() -> Any:
    sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module("trl_grpo_reagent_u")


@pytest.mark.usefixtures("one_thread")
def test_reagent_u_trains_in_grpo_with_the_live_judge(
    judge_url: str, demo_model_dir: Path, example: Any, tmp_path: Path
) -> None:
    rows = example.arithmetic_rows(QUESTIONS * STEPS, seed=0)
    trainer, rollout = example.make_trainer(
        url=judge_url, model=str(demo_model_dir), rows=rows, eval_rows=rows[:QUESTIONS], group=G, steps=STEPS,
        questions_per_step=QUESTIONS, max_new_tokens=TOKENS, lr=1e-3, temperature=1.0, judge_temperature=1.0,
        output_dir=str(tmp_path), trainer_cls=RecordingTrainer,
    )  # fmt: skip
    tok = trainer.processing_class
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    started = time.perf_counter()
    trainer.train()
    print(f"{STEPS} Reagent-U steps: {time.perf_counter() - started:.1f} s")
    change = sum(float((p.detach() - before[n]).pow(2).sum()) for n, p in trainer.model.named_parameters()) ** 0.5
    assert change > 0, "GRPO steps on Reagent-U groups must move the policy's weights"

    batches = [b for b in trainer.batches if b["training"]]
    assert len(batches) == STEPS
    critiqued, texts = 0, []
    for batch in batches:
        n = len(batch["rows"])
        assert n == 2 * G * QUESTIONS
        assert [r["reagent_stage"] for r in batch["rows"]] == ["first", "refined"] * (n // 2)
        for j in range(0, n, 2):
            first, refined = batch["rows"][j], batch["rows"][j + 1]
            assert first["prompt"] == refined["prompt"] and first["answer"] == refined["answer"]
            # The first attempt: written in the question's context, nothing else.
            assert batch["prompt_ids"][j] == chat(tok, first["prompt"])
            assert first["reagent_critique"] is None
            # The refinement: in (q, o¹, c), o¹ being exactly the first attempt TRL trained on, c its critique.
            o1 = tok.decode(batch["completion_ids"][j], skip_special_tokens=True)
            context = [*first["prompt"], *refinement_turns(o1, refined["reagent_critique"])]
            assert batch["prompt_ids"][j + 1] == chat(tok, context)
            assert refined["reagent_context"] == context
            critiqued += refined["reagent_critique"] is not None
        # Rewards: R_rule + 0.3·score, the judgment failed → masked (NaN), never 0.
        for k, row in enumerate(batch["rows"]):
            text = tok.decode(batch["completion_ids"][k], skip_special_tokens=True)
            texts.append((row["prompt"][-1]["content"], text, row))
            score = row["reagent_score"]
            if score is None:
                assert math.isnan(batch["rewards"][k]) and row["reagent_failure"]
            else:
                expected = rule_reward(text, row["answer"], source=row["data_source"]) + 0.3 * score
                assert batch["rewards"][k] == pytest.approx(expected, abs=1e-6)
        # Advantages: Reagent-U's, pooled over each question's 2G rows (TRL's eps 1e-4; masked rows get 0).
        for g in range(0, n, 2 * G):
            pool = [None if math.isnan(r) else r for r in batch["rewards"][g : g + 2 * G]]
            expected_adv = [0.0 if a is None else a for a in pooled_advantages(pool, eps=1e-4)]
            assert batch["advantages"][g : g + 2 * G] == pytest.approx(expected_adv, abs=1e-4)
        # The loss read every row in its own context: prompt ids + completion ids, as the rollout built them.
        sequences = sorted(p + c for p, c in zip(batch["prompt_ids"], batch["completion_ids"], strict=True))
        assert sequences == sorted(trainer.loss_rows[:n])
        del trainer.loss_rows[:n]
    assert critiqued > 0, "at least one refinement must carry a real critique from the judge"
    assert any(a != 0 for b in batches for a in b["advantages"]), "GRPO had no signal: the test checks nothing"

    # The scores and critiques are the live judge's: the same items, judged again with the same seed, get the same
    # judgments (from the judge's cache).
    with JudgeClient(judge_url, timeout=120) as client:
        again = client.judge([judge_item(q, t) for q, t, _ in texts], options=rollout.judge_options)
    for k, (judgment, (_, _, row)) in enumerate(zip(again, texts, strict=True)):
        if row["reagent_score"] is not None:
            assert judgment.ok and judgment.score == row["reagent_score"]
            if row["reagent_stage"] == "first":
                assert judgment.critique == texts[k + 1][2]["reagent_critique"]

    # Failures are counted in TRL's logs, step by step, as the fraction of masked rows.
    logged = [h for h in trainer.state.log_history if "reagent_u/judge_failure_rate" in h]
    assert len(logged) == STEPS
    for h, batch in zip(logged, batches, strict=True):
        assert h["reagent_u/judge_failure_rate"] == pytest.approx(
            sum(r["reagent_score"] is None for r in batch["rows"]) / len(batch["rows"])
        )

    # At inference no critique: evaluation samples answer the question alone.
    trainer.evaluate()
    plain = trainer.batches[-1]
    assert not plain["training"] and {r["reagent_stage"] for r in plain["rows"]} == {"first"}
    assert all(ids == chat(tok, r["prompt"]) for ids, r in zip(plain["prompt_ids"], plain["rows"], strict=True))
    # Reagent-C, training-free: the refined attempt is the answer, written with the critique in context.
    rollout.eval_mode = "reagent_c"
    metrics = trainer.evaluate()
    refined = trainer.batches[-1]
    assert {r["reagent_stage"] for r in refined["rows"]} == {"refined"}
    for ids, r in zip(refined["prompt_ids"], refined["rows"], strict=True):
        assert ids == chat(tok, r["reagent_context"]) and len(r["reagent_context"]) == len(r["prompt"]) + 2
    assert "eval_reagent_u/refined/judge_failure_rate" in metrics

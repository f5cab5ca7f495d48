"""verl: Reagent-R rewards from the judge service as a custom reward function.

verl loads this file by path, so it only re-exports the adapter (set RRM_JUDGE_URL for the judge's address). The
overrides for verl 0.9.1 (it reads `reward.custom_reward_function`; the old top-level keys are silently ignored):

    reward.custom_reward_function.path=examples/verl_reward.py
    reward.custom_reward_function.name=compute_score

The question must be in each sample's `extra_info["question"]` (verl's preprocessing scripts put it there), the gold
answer in `reward_model.ground_truth`. `compute_score_batch` is the same reward for lists, for a reward manager of
your own (verl 0.9.1's managers call `compute_score` once per sample).
Run this file to score one sample against a live service:

    RRM_JUDGE_URL=http://127.0.0.1:8000 python examples/verl_reward.py
"""

from trainer_client.adapters.verl import compute_score, compute_score_batch

__all__ = ["compute_score", "compute_score_batch"]

if __name__ == "__main__":
    print(compute_score("gsm8k", r"17 + 25 = 42, so the answer is \boxed{42}.", "42", {"question": "What is 17+25?"}))
    print(
        compute_score_batch(
            ["gsm8k"] * 2, [r"\boxed{42}", r"\boxed{41}"], ["42", "42"], [{"question": "What is 17+25?"}] * 2
        )
    )

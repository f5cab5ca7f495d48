"""Reagent-U on one question: G first attempts, judged; G refinements with the critiques, judged; 2G rewards
pooled into advantages — each sample printed with the context its GRPO ratio must be computed in.

    python examples/reagent_u_group.py --url http://127.0.0.1:8000 --model /path/to/demo-model --group 4

The policy is `tiny_policy.TransformersPolicy` (any `policy(contexts) -> completions` callable works).
"""

from __future__ import annotations

import argparse

from tiny_policy import TransformersPolicy

from trainer_client import JudgeClient, question_messages, reagent_u_groups

QUESTION = "What is 17 + 25? Put the final answer in \\boxed{}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--group", type=int, default=4)
    args = parser.parse_args()
    policy = TransformersPolicy(args.model)
    first = policy([question_messages(QUESTION)] * args.group)
    with JudgeClient(args.url) as client:
        (group,) = reagent_u_groups(policy, [QUESTION], [first], ["42"], client=client)
    for s in group.samples:
        context = " | ".join(f"{m['role']}: {str(m['content'])[:30]!r}" for m in s.context)
        print(f"{s.stage:8} src={s.source} reward={s.reward} advantage={s.advantage}\n    context: {context}")


if __name__ == "__main__":
    main()

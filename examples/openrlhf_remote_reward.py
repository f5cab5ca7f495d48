"""OpenRLHF: a remote reward server giving Reagent-R rewards, and one request in OpenRLHF's own shape.

In production, start the server and point OpenRLHF at it:

    python -m trainer_client serve-reward --url http://judge:8000 --port 5000
    python -m openrlhf.cli.train_ppo_ray ... \
        --reward.remote_url http://127.0.0.1:5000/get_reward --data.label_key answer

Run this file to see one exchange against a live judge service:

    python examples/openrlhf_remote_reward.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import threading

import httpx

from trainer_client import JudgeClient, ReagentRScorer
from trainer_client.adapters.server import make_reward_server

PROMPT = "<|im_start|>user\nWhat is 17 + 25? Put the final answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="judge service URL")
    args = parser.parse_args()
    with JudgeClient(args.url) as client:
        server = make_reward_server(ReagentRScorer(client), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        reward_url = f"http://127.0.0.1:{server.server_address[1]}/get_reward"
        # Exactly what OpenRLHF sends: prompt + decoded response with special tokens, the prompt, the label.
        request = {"query": [PROMPT + "17 + 25 = 42, so \\boxed{42}<|im_end|>"], "prompts": [PROMPT], "labels": ["42"]}
        answer = httpx.post(reward_url, json=request, timeout=300).json()
        server.shutdown()
    print(f"POST {reward_url}\n{json.dumps(request, indent=1)}\n->\n{json.dumps(answer, indent=1)}")


if __name__ == "__main__":
    main()

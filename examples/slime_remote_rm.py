"""slime: Reagent-R rewards as a remote RM, and one request in slime's own shape.

Remote RM (this example's shape):

    python -m trainer_client serve-reward --url http://judge:8000 --port 5000
    ... --rm-type remote_rm --rm-url http://127.0.0.1:5000/slime --reward-key reward --label-key answer

Or in-process, without a server (RRM_JUDGE_URL set; a failed judgment sets Sample.remove_sample):

    ... --custom-rm-path trainer_client.adapters.slime.reward_func --label-key answer
    ... --custom-rm-path trainer_client.adapters.slime.group_reward_func --group-rm --label-key answer

Run this file to see one exchange against a live judge service:

    python examples/slime_remote_rm.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import threading

import httpx

from trainer_client import JudgeClient, ReagentRScorer
from trainer_client.adapters.server import make_reward_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="judge service URL")
    args = parser.parse_args()
    with JudgeClient(args.url) as client:
        server = make_reward_server(ReagentRScorer(client), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rm_url = f"http://127.0.0.1:{server.server_address[1]}/slime"
        request = {
            "prompt": "What is 17 + 25? Put the final answer in \\boxed{}.",
            "response": "\\boxed{42}",
            "label": "42",
        }
        answer = httpx.post(rm_url, json=request, timeout=300).json()
        server.shutdown()
    print(f"POST {rm_url}\n{json.dumps(request)}\n->\n{json.dumps(answer, indent=1)}")
    print(f"reward for --reward-key reward: {answer['reward']}")


if __name__ == "__main__":
    main()

"""The benchmark at Qwen3-8B-sized settings, for a GPU host: ``python -m load_tests.gpu_profile [--model PATH]``.

Same three ways as ``python -m load_tests.benchmark`` (it is that command with ``--profile gpu``):
``bunny127/Agent-RRM`` (or a local folder), context 32,768, max_tokens 1,400, no bounds on the judge's blocks, the
``long`` preset (8k–16k-token trajectories) as uniform traffic and the ``grpo`` preset. The service picks its GPU
engine settings itself (CUDA graphs, chunked prefill), and the ceiling and the OpenAI server take the very same
ones from its ``GET /info``. Report: ``docs/bench/gpu.md``; plots: ``docs/bench/gpu-*.png``.

Needs the GPU flavour installed (``make setup`` on a GPU host, or ``RRM_FLAVOR=gpu scripts/setup.sh``) and either
the model hub or ``--model /path/to/Agent-RRM``. One H100/H200 fits the 8B model at 32k context; expect roughly
30–60 minutes (most of it prefilling 8k–16k-token trajectories: ~300 in the sweep and ~150 for each other way).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from load_tests.benchmark import main as benchmark_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return benchmark_main(["--profile", "gpu", *args], prog="python -m load_tests.gpu_profile")


if __name__ == "__main__":
    raise SystemExit(main())

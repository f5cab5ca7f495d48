"""The engine ceiling: vLLM's offline ``LLM.generate`` over pre-rendered prompts, in a process of its own.

``python -m load_tests.bench.ceiling SPEC.json RESULT.json``. The spec holds the model folder, the engine
arguments (the ones the service reported in ``GET /info``), the sampling settings and the prompts as token ids;
the result holds the timing and token counts. The warm-up prompts are generated once first, unmeasured, as every
way gets its warm-up. All measured prompts go to the engine in one call: nothing but the engine is timed.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["main", "run_ceiling"]


def run_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the engine, warm it up, then time one ``generate`` over every prompt of `spec`.

    Args:
        spec: ``model``, ``engine`` (keyword arguments of ``vllm.LLM``), ``sampling`` (``max_tokens``,
            ``temperature``, ``regex``), ``prompts`` and ``warmup`` (lists of token-id lists).

    Returns:
        ``load_s``, ``elapsed_s``, ``items``, ``prompt_tokens``, ``completion_tokens``, ``judgments_ok`` (outputs
        that parse as judgments by the service's parser) and ``finish_reasons``.
    """
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.sampling_params import StructuredOutputsParams

    from service.parsing import Parsed, parse_judgment

    sampling = spec["sampling"]
    params = SamplingParams(
        max_tokens=sampling["max_tokens"],
        temperature=sampling["temperature"],
        structured_outputs=StructuredOutputsParams(regex=sampling["regex"]) if sampling["regex"] else None,
    )
    started = time.perf_counter()
    llm = LLM(model=spec["model"], **spec["engine"])
    load_s = time.perf_counter() - started
    if spec["warmup"]:
        llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in spec["warmup"]], params, use_tqdm=False)
    prompts = [TokensPrompt(prompt_token_ids=ids) for ids in spec["prompts"]]
    started = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - started
    completions = [out.outputs[0] for out in outputs]
    return {
        "load_s": load_s,
        "elapsed_s": elapsed,
        "items": len(prompts),
        "prompt_tokens": sum(len(ids) for ids in spec["prompts"]),
        "completion_tokens": sum(len(c.token_ids) for c in completions),
        "judgments_ok": sum(isinstance(parse_judgment(c.text, c.finish_reason), Parsed) for c in completions),
        "finish_reasons": dict(Counter(str(c.finish_reason) for c in completions)),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m load_tests.bench.ceiling SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text("utf-8"))
    result = run_ceiling(spec)
    Path(args[1]).write_text(json.dumps(result), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

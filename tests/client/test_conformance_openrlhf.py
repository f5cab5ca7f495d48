"""OpenRLHF 0.11.2, its own code, against `serve-reward` started exactly as the client README says (its `openrlhf`
block): the flags are parsed by OpenRLHF's own argument parser (built by the `__main__` block of
`openrlhf/cli/train_ppo_ray.py`, then `openrlhf.utils.config.hierarchize`), the label is read by its own
`openrlhf.datasets.prompts_dataset.preprocess_data`, and the reward request is sent and its answer consumed by its
own `openrlhf.utils.agent.SingleTurnAgentExecutor.execute` (aiohttp, 180 s timeout, 5 tries). The policy engine is a
stand-in that returns fixed tokens; the judge is a fake speaking the wire contract over real HTTP.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from .conformance.run import start_serve_reward
from .doc_lines import doc_lines
from .fakes import FakeJudge, fails_on_bad, serve_over_http
from .frameworks import FRAMEWORKS, install

VERSION = FRAMEWORKS["openrlhf"][0]


@pytest.fixture(scope="module")
def openrlhf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    site = install("openrlhf")
    sys.path.insert(0, str(site))
    try:
        import openrlhf

        assert Path(openrlhf.__file__).is_relative_to(site)
        yield openrlhf
    finally:
        sys.path.remove(str(site))


def _parser(openrlhf: Any) -> argparse.ArgumentParser:
    """OpenRLHF's own parser: the statements of train_ppo_ray.py's `__main__` block up to `parse_args`."""
    source = Path(openrlhf.__file__).parent / "cli" / "train_ppo_ray.py"
    tree = ast.parse(source.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    body = []
    for statement in main.body:
        if "parse_args" in ast.unparse(statement):
            break
        body.append(statement)
    namespace: dict[str, Any] = {"argparse": argparse, "os": os, "datetime": datetime}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(source), "exec"), namespace)
    parser: argparse.ArgumentParser = namespace["parser"]
    return parser


@pytest.fixture(scope="module")
def reward_server() -> Iterator[tuple[int, FakeJudge]]:
    """The README's serve-reward line, run as a user runs it, with the judge URL and port pointed at this test's."""
    judge = FakeJudge(score=fails_on_bad)
    fake = serve_over_http(judge)
    proc, port, _ = start_serve_reward(doc_lines("openrlhf")[0], f"http://127.0.0.1:{fake.server_address[1]}")
    try:
        yield port, judge
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        fake.shutdown()


class _Engine:
    """Stands in for OpenRLHF's vLLM engine: returns the token ids of a fixed response."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = tokens

    async def generate(self, prompt_token_ids: list[int], params: Any, multi_modal_data: Any = None) -> Any:
        out = SimpleNamespace(token_ids=self.tokens, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


def _args(openrlhf: Any, port: int) -> Any:
    line = doc_lines("openrlhf")[1].split()
    assert line[:3] == ["python", "-m", "openrlhf.cli.train_ppo_ray"]
    flags = [f.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for f in line[3:]]
    from openrlhf.utils.config import hierarchize

    args = hierarchize(_parser(openrlhf).parse_args(flags))
    args.reward.remote_url = args.reward.remote_url.split(",")  # what train_ppo_ray's main does next
    return args


def _roll(openrlhf: Any, args: Any, row: dict[str, Any], response: str, tokenizer: Any) -> dict[str, Any]:
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    prompt, label = preprocess_data(
        {"input": [{"role": "user", "content": row["input"]}], **row},
        None,
        "input",
        args.data.label_key,
        apply_chat_template=tokenizer.apply_chat_template,
    )
    executor = SingleTurnAgentExecutor(args.reward.remote_url)
    engine = _Engine(tokenizer(response + "<|im_end|>", add_special_tokens=False)["input_ids"])
    params = SimpleNamespace(max_tokens=32, logprobs=None)
    out: dict[str, Any] = asyncio.run(executor.execute(prompt, label, params, 512, tokenizer, engine))
    return out


def test_openrlhf_parses_the_documented_flags_and_rejects_the_old_one(openrlhf: Any) -> None:
    args = _args(openrlhf, 5000)
    assert args.reward.remote_url == ["http://127.0.0.1:5000/get_reward"] and args.data.label_key == "answer"
    with pytest.raises(SystemExit):
        _parser(openrlhf).parse_args(["--label_key", "answer"])  # what the docs used to say


def test_openrlhf_client_gets_reagent_r_rewards(
    openrlhf: Any, reward_server: tuple[int, FakeJudge], demo_tokenizer: Any
) -> None:
    port, _ = reward_server
    args = _args(openrlhf, port)
    row = {"input": "What is 2+2?", "answer": "4"}
    good = _roll(openrlhf, args, row, r"2+2 = \boxed{4}", demo_tokenizer)
    assert good["reward"] == [pytest.approx(1.24)] and good["scores"] == [1.0]  # R_rule + 0.3·0.8
    assert good["extra_logs"]["judge_failed"] == [0.0]
    failed = _roll(openrlhf, args, row, r"bad \boxed{4}", demo_tokenizer)
    assert failed["reward"] == [pytest.approx(1.24)], "a failed judgment: its group's mean score, never 0"
    assert failed["extra_logs"]["judge_failed"] == [1.0] and failed["extra_logs"]["judge_ok"] == [0.0]


def test_openrlhf_without_label_key_is_refused_naming_the_field(
    openrlhf: Any, reward_server: tuple[int, FakeJudge], demo_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, judge = reward_server
    args = _args(openrlhf, port)
    args.data.label_key = None  # the flag left out: OpenRLHF sends "" as the label
    import openrlhf.utils.agent as agent

    real_sleep = asyncio.sleep
    monkeypatch.setattr(agent.asyncio, "sleep", lambda s: real_sleep(0))  # its 1 s pauses between tries
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger(agent.__name__).addHandler(handler)
    calls = len(judge.calls)
    try:
        out = _roll(openrlhf, args, {"input": "What is 2+2?", "answer": "4"}, r"\boxed{4}", demo_tokenizer)
    finally:
        logging.getLogger(agent.__name__).removeHandler(handler)
    assert out["reward"] is None, "nothing scored"
    assert len(judge.calls) == calls, "nothing judged"
    assert any("labels[0]" in m and "--data.label_key" in m for m in seen), seen
    # OpenRLHF then stops: a batch whose rewards are missing needs a reward model it does not have.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200

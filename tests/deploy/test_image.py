"""The cpu image, built from the repository's Dockerfile by a real Docker engine and run the way the README says:
`docker run ... agent-rrm:cpu` serves the demo model (built inside the container at its first start), its
HEALTHCHECK turns healthy, it runs as uid 10001, and `docker stop` drains admitted work and exits 0.

The engine is a dockerd of this test's own (tests/deploy/docker_engine.py), host networking only, so the container
runs with `--network host` and `-e RRM_PORT` instead of the README's `-p 8000:8000`. The engine, the image
build and one container serve the whole module (dockerd is stopped, containers removed, at its end); the base
tarball and the engine's layer cache persist under ~/.cache/agent-rrm/, so a second run rebuilds only what changed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SCRATCH, free_port
from tests.deploy import image_prep
from tests.deploy.conftest import ROOT
from tests.deploy.docker_engine import Docker
from tests.deploy.dockerfile import read_stages

# A cold build (no layer cache) takes minutes: more than the suite's default per-test timeout.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

LOGS = SCRATCH / "image"
DRAIN_ITEMS = 16


@pytest.fixture(scope="module")
def prepared() -> Iterator[image_prep.Prepared]:
    # Begun in the background right after collection (tests/conftest.py); here it is waited for.
    try:
        ready = image_prep.result(LOGS)
    except RuntimeError as exc:
        pytest.fail(f"cannot start a Docker engine or build the image: {exc}")
    try:
        yield ready
    finally:
        image_prep.finish()


@pytest.fixture(scope="module")
def docker(prepared: image_prep.Prepared) -> Docker:
    return prepared.docker


@pytest.fixture(scope="module")
def cpu_image(prepared: image_prep.Prepared) -> str:
    return prepared.tag


class Container:
    def __init__(self, docker: Docker, cid: str, port: int) -> None:
        self.docker, self.id, self.url = docker, cid, f"http://127.0.0.1:{port}"

    def inspect(self) -> dict[str, object]:
        return json.loads(self.docker.run("inspect", self.id).stdout)[0]  # type: ignore[no-any-return]

    def state(self) -> dict[str, object]:
        return self.inspect()["State"]  # type: ignore[return-value]

    def logs(self, tail: str = "all") -> str:
        result = self.docker.run("logs", "--tail", tail, self.id, check=False)
        return result.stdout + result.stderr

    def wait_for(self, what: str, done: object, timeout: float) -> None:
        """Poll `done()` until true; fail with the container's log if it exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():  # type: ignore[operator]
                return
            state = self.state()
            assert state["Running"], f"the container exited ({state['ExitCode']}) before {what}:\n{self.logs('80')}"
            time.sleep(0.5)
        raise AssertionError(f"not {what} after {timeout} s:\n{self.logs('80')}")


@pytest.fixture(scope="module")
def container(docker: Docker, cpu_image: str) -> Iterator[Container]:
    port = free_port()
    # The README's `docker run -p 8000:8000 --stop-timeout 60 agent-rrm:cpu`, on host networking. The health probe
    # is the image's own command; only its period is shortened, so the test waits seconds, not 30 s, to see it.
    # Free-text decoding (a setting like any other) gives the drain test seconds of work to drain.
    flags = ["--label=agent-rrm-test", "--network=host", f"--env=RRM_PORT={port}", "--env=RRM_STRUCTURED_OUTPUT=false"]
    flags += ["--stop-timeout=60", "--health-interval=2s"]
    cid = docker.run("run", "--detach", *flags, cpu_image).stdout.strip()
    box = Container(docker, cid, port)
    try:
        yield box
    finally:
        (LOGS / "container.log").write_text(box.logs())
        docker.run("rm", "--force", "--volumes", cid, check=False, timeout=60)


def _status(url: str) -> int | None:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url, timeout=5).status_code
    return None


def test_the_image_serves_judges_turns_healthy_and_runs_as_uid_10001(container: Container) -> None:
    container.wait_for("ready", lambda: _status(f"{container.url}/readyz") == 200, timeout=300)
    assert httpx.get(f"{container.url}/info", timeout=10).json()["demo_model"] is True

    item = {"question": "2+2?", "trajectory": "<think>\nEasy.\n</think>\n\n\\boxed{4}"}
    # The container decodes free text (see the fixture): bound it, or one item runs to 1400 tokens (~50 s).
    judged = httpx.post(f"{container.url}/judge", json={"items": [item], "options": {"max_tokens": 64}}, timeout=120)
    assert judged.status_code == 200, judged.text
    [judgment] = judged.json()["judgments"]
    assert judgment["status"] in ("ok", "failed") and judgment["finish_reason"] is not None

    config = container.inspect()["Config"]
    cpu = read_stages(ROOT / "Dockerfile")["cpu"]
    assert config["Healthcheck"]["Test"] == ["CMD", *cpu.healthcheck]  # type: ignore[index]
    container.wait_for("healthy", lambda: container.state()["Health"]["Status"] == "healthy", timeout=60)  # type: ignore[index]

    # The service is PID 1 (exec-form ENTRYPOINT): its real, effective, saved and filesystem ids.
    status = container.docker.run("exec", container.id, "cat", "/proc/1/status").stdout
    ids = {line.split(":")[0]: line.split()[1:] for line in status.splitlines() if line.startswith(("Uid:", "Gid:"))}
    assert ids == {"Uid": ["10001"] * 4, "Gid": ["10001"] * 4}, status
    assert "python3 -m service" in container.docker.run("exec", container.id, "cat", "/proc/1/cmdline").stdout.replace(
        "\0", " "
    )


def test_docker_stop_drains_the_judgment_in_flight_and_exits_0(container: Container) -> None:
    container.wait_for("ready", lambda: _status(f"{container.url}/readyz") == 200, timeout=300)
    # Free text runs every item to max_tokens: ~10 s of work here, inside the 30 s drain.
    work = {
        "items": [{"question": f"drain {i}", "trajectory": "t " * 40} for i in range(DRAIN_ITEMS)],
        "options": {"max_tokens": 300},
    }
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, f"{container.url}/judge", json=work, timeout=120)
        container.wait_for(
            "admitted",
            lambda: f"rrm_items_pending {DRAIN_ITEMS}.0" in httpx.get(f"{container.url}/metrics", timeout=5).text,
            timeout=60,
        )
        container.docker.run("stop", container.id, timeout=120)
        response = in_flight.result(timeout=120)
    assert response.status_code == 200, response.text
    judgments = response.json()["judgments"]
    assert len(judgments) == DRAIN_ITEMS and all(j["reason"] != "aborted" for j in judgments), judgments
    state = container.state()
    assert (state["Running"], state["ExitCode"], state["OOMKilled"]) == (False, 0, False), container.logs()
    # The request was still in flight when the service saw the stop: its drain began before the answer left.
    log = [json.loads(line) for line in container.logs().splitlines() if line.startswith("{")]
    drained = min(e["ts"] for e in log if str(e.get("message", "")).startswith("draining"))
    answered = [e["ts"] for e in log if e.get("route") == "/judge" and e.get("items") == DRAIN_ITEMS]
    assert answered and drained < answered[0], (drained, answered)


def test_the_tested_image_is_the_repository_dockerfile_cpu_target(docker: Docker, cpu_image: str) -> None:
    image = json.loads(docker.run("image", "inspect", cpu_image).stdout)[0]["Config"]
    cpu = read_stages(ROOT / "Dockerfile")["cpu"]
    assert image["Entrypoint"] == cpu.entrypoint and image["User"] == cpu.user
    env = dict(item.split("=", 1) for item in image["Env"])
    assert {k: env[k] for k in cpu.env if k != "PATH"} == {k: v for k, v in cpu.env.items() if k != "PATH"}
    # The build arguments of a CI build leave nothing behind: no extra CA, wheels or pip settings at run time.
    assert not {"PIP_CERT", "SSL_CERT_FILE", "PIP_FIND_LINKS"} & set(env)


def test_no_build_extras_are_left_in_the_checkout(cpu_image: str) -> None:
    assert not (ROOT / ".build-extras").exists()

"""A private Docker engine for the image test, and the cpu image built with it.

No image registry is reachable from CI, so the base image is made here: `debootstrap --variant=minbase bookworm` (with
python3 and its venv module) from the host's own Debian mirror, `docker import`ed. What the build fetches comes from
the registries the host uses, through the host's CA bundle and its local wheel folder (pip's `cert` and `find-links`),
handed to the build as the Dockerfile's EXTRA_CA_CERT and LOCAL_WHEELS arguments.

Kept between runs, so that only the first run on a machine pays for them: the base tarball and the engine's data
root (image layers, the build cache) under ~/.cache/agent-rrm/ (`RRM_DOCKER_CACHE` moves it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BASE_PACKAGES", "Docker", "base_image", "build_cpu_image", "running_engine"]

CACHE = Path(os.environ.get("RRM_DOCKER_CACHE") or Path.home() / ".cache" / "agent-rrm")
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv")  # what the Dockerfile's BASE_IMAGE must provide
EXTRAS = ".build-extras"  # the one folder besides the package that .dockerignore sends to the engine


@dataclass(frozen=True)
class Docker:
    """A docker client bound to one engine."""

    binary: str
    host: str

    @property
    def env(self) -> dict[str, str]:
        # The classic builder: BuildKit would want its Dockerfile frontend from a registry, and buildx.
        return os.environ | {"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result


def _docker_binary() -> str:
    # Debian's docker.io client first: the engine is its dockerd (20.10), and its client builds without buildx.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no docker client: scripts/install-ci-tools.sh installs Debian's docker.io")


@contextlib.contextmanager
def running_engine(log: Path) -> Iterator[Docker]:
    """Start a dockerd of our own (root needed), yield a client for it, stop it (and its containers) afterwards.

    Host networking only (`--bridge=none`, no iptables): containers and builds use `--network host`.
    """
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.access(dockerd, os.X_OK):
        raise RuntimeError("no dockerd: scripts/install-ci-tools.sh installs Debian's docker.io")
    if os.geteuid() != 0:
        raise RuntimeError("dockerd needs root: run the image test as root")
    run_dir = Path(tempfile.mkdtemp(prefix="rrm-dockerd-"))
    data_root = CACHE / "docker"
    data_root.mkdir(parents=True, exist_ok=True)
    host = f"unix://{run_dir}/docker.sock"
    argv = [
        dockerd,
        f"--host={host}",
        f"--data-root={data_root}",
        f"--exec-root={run_dir}/exec",
        f"--pidfile={run_dir}/docker.pid",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    docker = Docker(_docker_binary(), host)
    try:
        deadline = time.monotonic() + 60
        while docker.run("version", check=False, timeout=10).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start (exit {proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield docker
    finally:
        with contextlib.suppress(Exception):
            ids = docker.run("ps", "-aq", "--filter", "label=agent-rrm-test", check=False).stdout.split()
            if ids:
                docker.run("rm", "-f", "-v", *ids, check=False, timeout=60)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


def _debian_mirror() -> str:
    """The Debian archive the host's apt uses (deb822 `.sources` or one-line `sources.list`)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        text = path.read_text() if path.is_file() else ""
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + re.findall(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.MULTILINE
        ):
            if uri.rstrip("/").endswith("/debian"):
                return str(uri)
    return "http://deb.debian.org/debian"


def base_image(docker: Docker, log: Path) -> str:
    """A Debian bookworm image with python3 and venv, made by debootstrap once per machine and imported once."""
    mirror = _debian_mirror()
    key = hashlib.sha256(f"{SUITE} {mirror} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
    tag = f"agent-rrm-test-base:{SUITE}-{key}"
    if docker.run("image", "inspect", tag, check=False).returncode == 0:
        return tag
    tarball = CACHE / f"base-{SUITE}-{key}.tar"
    if not tarball.exists():
        debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
        root = Path(tempfile.mkdtemp(prefix="rrm-rootfs-"))
        try:
            with log.open("a") as out:
                include = f"--include={','.join(BASE_PACKAGES)}"
                subprocess.run(
                    [debootstrap, "--variant=minbase", include, SUITE, str(root), mirror],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                    check=True,
                )
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], timeout=300, check=True)
            partial.rename(tarball)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    docker.run("import", str(tarball), tag, timeout=300)
    return tag


def _pip_setting(name: str) -> str | None:
    """pip's own setting on this host (`PIP_CERT`, else `pip config list`): what the host's installs go through."""
    if value := os.environ.get(f"PIP_{name.upper().replace('-', '_')}"):
        return value.split()[0]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listed = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60)
        for line in listed.stdout.splitlines():
            key, _, value = line.partition("=")
            if key.rsplit(".", 1)[-1] == name:
                return value.strip("'\"").split()[0]
    return None


def build_args(root: Path) -> list[str]:
    """Stage the host's CA bundle and local +cpu torch wheel in `root`/.build-extras/; the matching --build-args."""
    extras = root / EXTRAS
    shutil.rmtree(extras, ignore_errors=True)
    (extras / "wheels").mkdir(parents=True)
    args: list[str] = []
    if (cert := _pip_setting("cert")) and Path(cert).is_file():
        shutil.copyfile(cert, extras / "ca.pem")
        args += ["--build-arg", f"EXTRA_CA_CERT={EXTRAS}/ca.pem"]
    links = _pip_setting("find-links")
    wheels = sorted(Path(links).glob("torch-*+cpu-cp311-*.whl")) if links and Path(links).is_dir() else []
    for wheel in wheels:
        try:
            os.link(wheel, extras / "wheels" / wheel.name)
        except OSError:
            shutil.copyfile(wheel, extras / "wheels" / wheel.name)
    if wheels:
        # The +cpu torch is here: the build needs PyPI only (PyTorch's own index may be unreachable, as in CI).
        args += ["--build-arg", f"LOCAL_WHEELS={EXTRAS}/wheels", "--build-arg", "TORCH_INDEX_URL="]
    return args


def build_cpu_image(docker: Docker, root: Path, base: str, tag: str, log: Path) -> float:
    """`docker build --target cpu` from the repository's Dockerfile; returns the seconds it took."""
    args = build_args(root)
    started = time.monotonic()
    try:
        with log.open("a") as out:
            result = subprocess.run(
                [
                    docker.binary,
                    "build",
                    "--network",
                    "host",
                    "--target",
                    "cpu",
                    "--tag",
                    tag,
                    "--build-arg",
                    f"BASE_IMAGE={base}",
                    *args,
                    str(root),
                ],
                env=docker.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
            )
    finally:
        shutil.rmtree(root / EXTRAS, ignore_errors=True)
    if result.returncode != 0:
        raise RuntimeError(f"docker build failed ({result.returncode}):\n{log.read_text()[-6000:]}")
    # Earlier builds' images, now untagged, would pile up in the kept data root; the build cache of this one stays.
    docker.run("image", "prune", "--force", timeout=300)
    return time.monotonic() - started

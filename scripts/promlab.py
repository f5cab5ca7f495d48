"""A monitoring lab: a real Prometheus scraping a live judge service under load, and the deploy/ PromQL to run on it.

Used by tests/deploy/test_monitoring.py (every dashboard and alert expression must run and the panels must show
data) and by scripts/dashboard_picture.py (docs/dashboard.png). Needs the `prometheus` binary
(scripts/install-ci-tools.sh installs it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "agent-rrm-dashboard.json"
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
ADAPTER_VALUES = ROOT / "deploy" / "prometheus-adapter" / "values.yaml"
# The job label the ServiceMonitor gives the series (the Service's name); the alerts select on it.
JOB = "agent-rrm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the dashboard and the rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    panel_type: str
    ref: str
    expr: str
    legend: str


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text("utf-8")))


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that draws something, rows flattened (a collapsed row keeps its panels inside)."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def dashboard_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(p["title"], p["type"], t["refId"], t["expr"], t.get("legendFormat", ""))
        for p in dashboard_panels(dashboard)
        for t in p.get("targets", [])
    ]


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def expand(expr: str, variables: dict[str, str]) -> str:
    """Substitute Grafana's template variables (`$job`, `${job}`, `${job:regex}`, `[[job]]`, `$__rate_interval`).

    Example:
        >>> expand('rate(x{job="$job"}[$__rate_interval])', {"job": "a", "__rate_interval": "15s"})
        'rate(x{job="a"}[15s])'
    """

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in variables:
            raise KeyError(f"dashboard variable ${name} has no value to substitute")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def grafana_variables(rate_interval: str, job: str = JOB) -> dict[str, str]:
    """The values Grafana would put in: one job, every instance ("All" is `.*`), and the rate window."""
    return {
        "datasource": "prometheus",
        "job": job,
        "instance": ".*",
        "__rate_interval": rate_interval,
        "__interval": rate_interval,
        "__range": "1h",
    }


def prometheus_rule_spec() -> dict[str, Any]:
    """The rule groups of the PrometheusRule (`.spec`): what `promtool check rules` and Prometheus read."""
    spec: dict[str, Any] = yaml.safe_load(PROMETHEUS_RULE.read_text("utf-8"))["spec"]
    return spec


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in prometheus_rule_spec()["groups"] for rule in group["rules"]]


def adapter_queries() -> list[str]:
    """prometheus-adapter's metricsQuery templates, filled in as the adapter does for one namespace's pods."""
    values = yaml.safe_load(ADAPTER_VALUES.read_text("utf-8"))
    out = []
    for rule in values["rules"]["custom"]:
        series = rule["seriesQuery"].split("{", 1)[0]
        out.append(
            rule["metricsQuery"]
            .replace("<<.Series>>", series)
            .replace("<<.LabelMatchers>>", f'job="{JOB}"')
            .replace("<<.GroupBy>>", "instance")
        )
    return out


# --- Prometheus -----------------------------------------------------------------------------------------------


class PromQLError(Exception):
    pass


class Prometheus:
    """A real Prometheus server on 127.0.0.1 with its own config and data folder, scraping `targets` every second."""

    def __init__(
        self, workdir: Path, targets: list[str], rule_files: Sequence[Path] = (), scrape_interval: str = "1s"
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("the `prometheus` binary is missing: run scripts/install-ci-tools.sh")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/-/ready").status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError("prometheus did not become ready")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query; raise PromQLError if Prometheus refuses it. Returns the result vector."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        body = self.client.get("/api/v1/query", params=params).json()
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')} in {expr}")
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        body = self.client.get("/api/v1/query_range", params=params).json()
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')} in {expr}")
        return list(body["data"]["result"])

    def rules(self) -> list[dict[str, Any]]:
        body = self.client.get("/api/v1/rules").json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    def wait_for(self, expr: str, timeout: float = 60.0) -> None:
        """Wait until `expr` returns a non-empty result (e.g. the first scrape has landed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(expr):
                return
            time.sleep(0.5)
        raise TimeoutError(f"no data for {expr} after {timeout} s")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def has_value(result: list[dict[str, Any]]) -> bool:
    """True when at least one series of an instant or range result holds a finite number."""
    for series in result:
        points = series.get("values") or [series["value"]]
        if any(math.isfinite(float(v)) for _, v in points):
            return True
    return False


# --- load -----------------------------------------------------------------------------------------------------

_WORDS = [
    "agent",
    "search",
    "python",
    "answer",
    "tool",
    "result",
    "step",
    "final",
    "check",
    "compute",
    "number",
    "city",
    "river",
    "capital",
    "year",
]


def _item(rng: random.Random) -> dict[str, str]:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 60)))
    return {"question": f"Question {rng.randint(0, 10**9)}: {words[:40]}?", "trajectory": words}


@dataclass
class Load:
    """Judge traffic like an RL trainer's, from background threads: varied batches, some repeats (cache hits),
    some short token budgets (failures with reason `length`) and some bad requests (400, 422).

    `burst()` fills the admission queue past its limit for a moment, so 429s, `timeout` failures and a saturated
    queue show up too.
    """

    url: str
    workers: int = 2
    seed: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, args=(self.seed + n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(180)

    def _count(self, code: int) -> None:
        with self._lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        repeated = [_item(rng) for _ in range(4)]
        with httpx.Client(base_url=self.url, timeout=120) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                items = [rng.choice(repeated) if rng.random() < 0.25 else _item(rng) for _ in range(rng.randint(1, 8))]
                options: dict[str, Any] = {}
                if n % 2 == 0:
                    options["temperature"] = 1.0  # greedy decoding gives the demo model one score; sampling, many
                if n % 5 == 0:
                    options["max_tokens"] = 16  # too short for the three blocks: reason `length`
                payload: dict[str, Any] = {"items": items, "options": options}
                if n % 11 == 3:  # 400: a blank question, with the option that refuses the whole request for it
                    payload = {
                        "items": [{"question": "", "trajectory": "t"}],
                        "options": {"reject_invalid_items": True},
                    }
                if n % 13 == 5:
                    payload = {"items": "not a list"}  # 422: schema violation
                with contextlib.suppress(httpx.HTTPError):
                    self._count(client.post("/judge", json=payload).status_code)

    def burst(self, timeout_s: float = 8.0) -> None:
        """Send more items at once than the admission limit holds (each request fails its items after `timeout_s`)."""
        limit = _gauge(self.url, "rrm_items_pending_limit")
        per_request = 256
        if limit is None or limit > 16 * per_request:
            return
        rng = random.Random(self.seed + 1000)
        payloads = [
            {"items": [_item(rng) for _ in range(per_request)], "options": {"timeout_s": timeout_s}}
            for _ in range(int(limit) // per_request + 2)
        ]

        def send(payload: dict[str, Any]) -> None:
            with contextlib.suppress(httpx.HTTPError):
                self._count(httpx.post(f"{self.url}/judge", json=payload, timeout=120).status_code)

        threads = [threading.Thread(target=send, args=(p,), daemon=True) for p in payloads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)


def _gauge(url: str, name: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def exposed_metric_names(url: str) -> set[str]:
    """Every series name a live /metrics can produce."""
    return metric_names(httpx.get(f"{url}/metrics", timeout=30).text)


def metric_names(exposition: str) -> set[str]:
    """Every series name of a Prometheus text exposition: its families, with what histograms expand to."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
    return names


_METRIC = re.compile(r"(?<![\w:$])((?:rrm_|vllm:|process_)[\w:]+|up(?=\{))")


def referenced_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (ours, vLLM's, the process's and `up`)."""
    return set(_METRIC.findall(expr))


# --- a demo service -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def demo_service(scratch: Path, timeout: float = 240.0) -> Iterator[str]:
    """`python -m service --model demo` on 127.0.0.1, its vLLM caches and sockets under `scratch`; yields its URL."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    for var, sub in (("VLLM_CACHE_ROOT", "vllm"), ("XDG_CACHE_HOME", "xdg"), ("VLLM_RPC_BASE_PATH", "rpc")):
        env[var] = str(scratch / sub)
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with (scratch / "service.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--model", "demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(url, proc, timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float) -> float:
    """Poll /readyz until 200; return the seconds it took. Raises if the process exits first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with code {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz was not 200 after {timeout} s")

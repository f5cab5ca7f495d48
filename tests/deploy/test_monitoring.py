"""Real monitoring: a real Prometheus scrapes the live service (`judge_url`, the real engine on the demo model) every
second while it is under load, then every PromQL expression of the dashboard, the alerts and the autoscaler runs
through Prometheus's HTTP API. Each must be valid; the dashboard's panels must show data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from promlab import (
    JOB,
    Load,
    Prometheus,
    PromQLError,
    adapter_queries,
    alert_rules,
    dashboard_panels,
    dashboard_queries,
    expand,
    exposed_metric_names,
    grafana_variables,
    has_value,
    load_dashboard,
    prometheus_rule_spec,
    referenced_metrics,
)

from tests.deploy.test_dashboard import VLLM_METRICS

pytestmark = pytest.mark.integration

# Grafana's $__rate_interval is at least four scrape intervals; with 1 s scrapes and 20 s of load, 10 s is enough.
VARIABLES = grafana_variables(rate_interval="10s")
# Panels whose numbers can be legitimately undefined at a given moment (e.g. 0/0 with no rejections in the window);
# they must still return series.
MAY_BE_UNDEFINED = {"Admission rejections/s by reason", "Truncated trajectories/s", "Failed judgments"}


@dataclass
class Lab:
    prometheus: Prometheus
    at: float  # a moment under load, at which the instant queries are evaluated
    codes: dict[int, int]
    url: str


@pytest.fixture(scope="module")
def lab(judge_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("prometheus")
    rules = workdir / "rules.yaml"
    rules.write_text(yaml.safe_dump(prometheus_rule_spec()))
    with Prometheus(workdir, [judge_url.removeprefix("http://")], [rules]) as prometheus:
        prometheus.wait_for(f'up{{job="{JOB}"}} == 1')
        with Load(judge_url) as load:
            time.sleep(6)
            load.burst()
            time.sleep(8)
            deadline = time.monotonic() + 30  # a slow machine: keep going until bad requests were sent too
            while not {400, 422} <= load.codes.keys() and time.monotonic() < deadline:
                time.sleep(1)
            at = time.time()
        time.sleep(2)  # the last scrapes under load land
        yield Lab(prometheus, at, dict(load.codes), judge_url)


def _run_all(lab: Lab, exprs: list[tuple[str, str]]) -> dict[str, list[dict[str, object]]]:
    results, errors = {}, []
    for name, expr in exprs:
        try:
            results[name] = lab.prometheus.query(expr, at=lab.at)
        except PromQLError as exc:
            errors.append(f"{name}: {exc}")
    assert not errors, "\n".join(errors)
    return results


def test_the_load_reached_every_response_class(lab: Lab) -> None:
    assert {200, 400, 422, 429} <= lab.codes.keys(), lab.codes


def test_every_metric_deploy_reads_is_exposed_by_the_live_service(lab: Lab) -> None:
    exposed = exposed_metric_names(lab.url) | {"up"}
    exprs = [q.expr for q in dashboard_queries(load_dashboard())]
    exprs += [str(r["expr"]) for r in alert_rules()] + adapter_queries()
    referenced = set().union(*(referenced_metrics(e) for e in exprs))
    assert referenced <= exposed, referenced - exposed
    assert exposed >= VLLM_METRICS, VLLM_METRICS - exposed


def test_every_dashboard_query_is_valid_promql(lab: Lab) -> None:
    queries = dashboard_queries(load_dashboard())
    _run_all(lab, [(f"{q.panel} {q.ref}", expand(q.expr, VARIABLES)) for q in queries])


def test_every_dashboard_panel_shows_data_under_load(lab: Lab) -> None:
    dashboard = load_dashboard()
    empty, undefined = [], []
    for panel in dashboard_panels(dashboard):
        results = [lab.prometheus.query(expand(t["expr"], VARIABLES), at=lab.at) for t in panel["targets"]]
        if not any(results):
            empty.append(panel["title"])
        elif panel["title"] not in MAY_BE_UNDEFINED and not any(has_value(r) for r in results):
            undefined.append(panel["title"])
    assert not empty, f"panels with no series: {empty}"
    assert not undefined, f"panels with only NaN: {undefined}"


def test_dashboard_variables_find_the_job_and_its_replicas(lab: Lab) -> None:
    # Grafana's label_values(metric{selector}, label), asked of Prometheus directly.
    jobs = lab.prometheus.query("group by (job) (rrm_build_info)", at=lab.at)
    assert JOB in {s["metric"]["job"] for s in jobs}  # type: ignore[index]
    instances = lab.prometheus.query(f'group by (instance) (rrm_build_info{{job="{JOB}"}})', at=lab.at)
    assert {s["metric"]["instance"] for s in instances} == {lab.url.removeprefix("http://")}  # type: ignore[index]


def test_every_alert_expression_is_valid_promql(lab: Lab) -> None:
    _run_all(lab, [(str(r["alert"]), str(r["expr"])) for r in alert_rules()])


def test_prometheus_evaluates_every_alert_rule_without_error(lab: Lab) -> None:
    rules = lab.prometheus.rules()
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken


def test_the_autoscaler_metric_has_a_value_per_replica(lab: Lab) -> None:
    for expr in adapter_queries():
        result = lab.prometheus.query(expr, at=lab.at)
        assert has_value(result), expr


def test_queue_and_rejections_were_seen_during_the_burst(lab: Lab) -> None:
    start = lab.at - 30
    saturation = lab.prometheus.query_range(
        f'max(rrm_items_pending{{job="{JOB}"}} / rrm_items_pending_limit{{job="{JOB}"}})', start, lab.at, 1
    )
    assert max(float(v) for _, v in saturation[0]["values"]) > 0.5  # type: ignore[index]
    rejected = lab.prometheus.query(f'sum(rrm_admission_rejections_total{{job="{JOB}"}})', at=lab.at)
    assert float(rejected[0]["value"][1]) > 0  # type: ignore[index]

"""The Grafana dashboard, read as Grafana would import it: layout, data source variable, variables, and every metric
it names registered by the service (or exported by vLLM). test_monitoring.py runs its queries on real data."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from promlab import (
    adapter_queries,
    alert_rules,
    dashboard_panels,
    dashboard_queries,
    load_dashboard,
    metric_names,
    referenced_metrics,
)

# vLLM's metrics that deploy/ reads; test_monitoring.py checks them against a live engine's /metrics.
VLLM_METRICS = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:num_preemptions_total",
    "vllm:generation_tokens_total",
    "vllm:prefix_cache_hits_total",
    "vllm:prefix_cache_queries_total",
    "vllm:request_queue_time_seconds_bucket",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def test_importable_with_the_data_source_as_a_variable(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]} | GRAFANA_BUILTINS
    texts = [q.expr for q in dashboard_queries(dashboard)]
    texts += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {m for text in texts for m in re.findall(r"\$\{?(\w+)", text)}
    assert used <= defined, used - defined


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        mine = set(itertools.product(range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])))
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_every_target_has_a_query_and_a_unique_ref(dashboard: dict[str, Any]) -> None:
    for panel in dashboard_panels(dashboard):
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize(
    ("title", "metrics"),
    [
        ("Judgments/s by status", {"rrm_judgments_total"}),
        ("Judgment latency (arrival to judgment)", {"rrm_item_duration_seconds_bucket"}),
        ("/judge request latency", {"rrm_request_duration_seconds_bucket"}),
        (
            "Queue depth",
            {"rrm_items_pending", "rrm_items_in_flight", "vllm:num_requests_waiting", "vllm:num_requests_running"},
        ),
        ("Failed judgments/s by reason", {"rrm_judgments_total"}),
        ("Score distribution", {"rrm_judgment_score_bucket"}),
        ("Mean score", {"rrm_judgment_score_sum", "rrm_judgment_score_count"}),
        ("Cache hit rate", {"rrm_cache_hits_total", "rrm_cache_misses_total"}),
        ("KV-cache use", {"vllm:kv_cache_usage_perc"}),
        ("Admission rejections/s by reason", {"rrm_admission_rejections_total"}),
        ("Tokens/s", {"rrm_prompt_tokens_total", "rrm_completion_tokens_total"}),
    ],
)
def test_the_operator_panels_are_there(dashboard: dict[str, Any], title: str, metrics: set[str]) -> None:
    queries = [q for q in dashboard_queries(dashboard) if q.panel == title]
    assert queries, f"no panel titled {title!r}"
    assert metrics <= set().union(*(referenced_metrics(q.expr) for q in queries))


def test_latency_panels_show_p50_p95_p99(dashboard: dict[str, Any]) -> None:
    for title in ("Judgment latency (arrival to judgment)", "/judge request latency"):
        legends = [q.legend for q in dashboard_queries(dashboard) if q.panel == title]
        assert legends == ["p50", "p95", "p99"], title


def test_score_distribution_is_a_heatmap_of_buckets(dashboard: dict[str, Any]) -> None:
    panel = next(p for p in dashboard_panels(dashboard) if p["title"] == "Score distribution")
    assert panel["type"] == "heatmap" and panel["targets"][0]["format"] == "heatmap"


def test_every_metric_named_anywhere_in_deploy_exists() -> None:
    """Dashboard, alerts and autoscaler read only metrics the service registers, vLLM's, the process's and `up`."""
    from service.metrics import Metrics

    ours = metric_names(Metrics().render().decode())
    exprs = [q.expr for q in dashboard_queries(load_dashboard())]
    exprs += [str(rule["expr"]) for rule in alert_rules()] + adapter_queries()
    for expr in exprs:
        unknown = referenced_metrics(expr) - ours - VLLM_METRICS - {"up"}
        assert not unknown, f"{unknown} in {expr}"

"""The Helm chart deploy/helm/agent-rrm, rendered by Helm v4 itself (helm-python-sdk: Helm's Go SDK as a library):
lint-clean, its values schema refuses bad values, every rendering passes `kubernetes-validate --strict` (Kubernetes
1.29 and 1.37) and the operator CRD schemas, the values do what they say, and deploy/k8s/ is exactly the chart
rendered with deploy/helm/plain-values.yaml (one source of truth)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, tool
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.test_manifests import K8S_VERSIONS

sys.path.insert(0, str(ROOT / "scripts"))
import render_chart

CHART = DEPLOY / "helm" / "agent-rrm"
# Renderings that together switch every toggle both ways.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "plain": yaml.safe_load((DEPLOY / "helm" / "plain-values.yaml").read_text()),
    "four-gpus-everything-off": {
        "tensorParallelSize": 4,
        "hubToken": {"secretName": "hf-token"},
        "autoscaling": {"enabled": False},
        "replicas": 3,
        "apiKeys": {"enabled": False},
        "persistence": {"enabled": False},
        "serviceMonitor": {"enabled": False},
        "prometheusRule": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "topologySpread": {"enabled": False},
    },
    "zones-existing-claim-labels": {
        "topologySpread": {"topologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]},
        "persistence": {"existingClaim": "shared-models"},
        "serviceMonitor": {"labels": {"release": "kube-prometheus-stack"}},
        "apiKeys": {"secretName": "judge-keys"},
        "extraEnv": [{"name": "RRM_MAX_NUM_SEQS", "value": "64"}],
    },
}


def docs(rendered: dict[str, str]) -> list[dict[str, Any]]:
    return [d for text in rendered.values() for d in yaml.safe_load_all(text) if d]


def kinds(rendered: dict[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in docs(rendered):
        assert doc["kind"] not in found, f"two {doc['kind']}s"
        found[doc["kind"]] = doc
    return found


def container_of(rendered: dict[str, str]) -> dict[str, Any]:
    (container,) = kinds(rendered)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def env_of(rendered: dict[str, str]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container_of(rendered)["env"]}


def test_helm_lint_strict_finds_nothing_but_the_missing_icon() -> None:
    for values in VARIANTS.values():
        report = helm.lint(CHART, values, strict=True, namespace="agent-rrm", kube_version="v1.29.0")
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"tensorParallelSize": 0}, "/tensorParallelSize"),
        ({"tensorParalelSize": 2}, "tensorParalelSize"),
        ({"autoscaling": {"enabled": "yes"}}, "/autoscaling/enabled"),
        ({"serviceMonitor": {"interval": "15 seconds"}}, "/serviceMonitor/interval"),
    ],
)
def test_bad_values_are_refused_by_the_schema_with_the_key(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=complaint):
        render_chart.render(values)


def test_deploy_k8s_is_the_chart_rendered_with_the_plain_values() -> None:
    expected = render_chart.plain_manifests()
    k8s = DEPLOY / "k8s"
    committed = {p.relative_to(k8s).as_posix(): p.read_text("utf-8") for p in k8s.rglob("*.yaml")}
    assert committed.keys() == expected.keys()
    stale = [rel for rel in expected if committed[rel] != expected[rel]]
    assert not stale, f"deploy/k8s/ is out of date with the chart for {stale}: run `make manifests`"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendering_is_schema_valid(variant: str, version: str, tmp_path: Path) -> None:
    rendered = render_chart.render(VARIANTS[variant])
    core: list[Path] = []
    for name, text in rendered.items():
        for doc in yaml.safe_load_all(text):
            if doc and doc["kind"] in SCHEMAS:
                jsonschema.validate(doc, SCHEMAS[doc["kind"]])
        if not any(d and d["kind"] in SCHEMAS for d in yaml.safe_load_all(text)):
            core.append(tmp_path / name)
            core[-1].write_text(text)
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, *map(str, core)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(core), result.stdout


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_gpus_shm_cpu_and_memory_follow_tensor_parallel_size(gpus: int) -> None:
    rendered = render_chart.render({"tensorParallelSize": gpus})
    container = container_of(rendered)
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == gpus
    assert env_of(rendered)["RRM_TENSOR_PARALLEL_SIZE"] == str(gpus)
    assert resources["requests"]["cpu"] == str(4 * gpus)
    assert resources["requests"]["memory"] == f"{32 * gpus}Gi" and resources["limits"]["memory"] == f"{48 * gpus}Gi"
    volumes = kinds(rendered)["Deployment"]["spec"]["template"]["spec"]["volumes"]
    shm = next(v for v in volumes if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{4 * gpus}Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_the_model_and_the_hub_token_secret() -> None:
    assert "HF_TOKEN" not in env_of(render_chart.render({}))
    env = env_of(render_chart.render({"model": "my-org/judge", "hubToken": {"secretName": "hf", "key": "tok"}}))
    assert env["RRM_MODEL"] == "my-org/judge"
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "tok"}}


def test_api_keys_secret_or_no_auth() -> None:
    rendered = render_chart.render({"apiKeys": {"secretName": "judge-keys"}})
    found = kinds(rendered)
    volumes = found["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "api-keys")["secret"]["secretName"] == "judge-keys"
    credentials = found["ServiceMonitor"]["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials == {"name": "judge-keys", "key": "scrape-key"}
    open_ = render_chart.render({"apiKeys": {"enabled": False}})
    assert "RRM_API_KEY_FILE" not in env_of(open_)
    assert all(v["name"] != "api-keys" for v in kinds(open_)["Deployment"]["spec"]["template"]["spec"]["volumes"])
    assert "authorization" not in kinds(open_)["ServiceMonitor"]["spec"]["endpoints"][0]


def test_autoscaling_owns_the_replica_count_only_when_enabled() -> None:
    autoscaling = {"minReplicas": 2, "maxReplicas": 6, "targetPendingItems": 256}
    scaled = kinds(render_chart.render({"autoscaling": autoscaling}))
    assert "replicas" not in scaled["Deployment"]["spec"]
    hpa = scaled["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "256"
    fixed = kinds(render_chart.render({"autoscaling": {"enabled": False}, "replicas": 3}))
    assert fixed["Deployment"]["spec"]["replicas"] == 3 and "HorizontalPodAutoscaler" not in fixed


def test_monitoring_toggles() -> None:
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds(render_chart.render({})).keys()
    off = kinds(render_chart.render({"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}}))
    assert not {"ServiceMonitor", "PrometheusRule"} & off.keys()
    labelled = kinds(render_chart.render({"serviceMonitor": {"labels": {"release": "kps"}}}))
    assert labelled["ServiceMonitor"]["metadata"]["labels"]["release"] == "kps"


def test_topology_spread_selects_the_judge_pods() -> None:
    rendered = kinds(render_chart.render({"topologySpread": {"topologyKeys": ["kubernetes.io/hostname", "zone"]}}))
    pod = rendered["Deployment"]["spec"]["template"]
    constraints = pod["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == ["kubernetes.io/hostname", "zone"]
    for c in constraints:
        assert c["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    off = kinds(render_chart.render({"topologySpread": {"enabled": False}}))
    assert "topologySpreadConstraints" not in off["Deployment"]["spec"]["template"]["spec"]


def test_grace_period_is_computed_from_prestop_drain_and_margin() -> None:
    rendered = render_chart.render({"drainGraceS": 300, "preStopSleepS": 15})
    pod = kinds(rendered)["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 15 + 300 + 20
    assert env_of(rendered)["RRM_DRAIN_GRACE_S"] == "300"
    assert container_of(rendered)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "15"]


def test_another_release_name_and_namespace_carry_into_names_selectors_and_alerts() -> None:
    rendered = render_chart.render({}, release="judge", namespace="ml")
    found = kinds(rendered)
    assert {d["metadata"]["namespace"] for d in found.values()} == {"ml"}
    service = found["Service"]
    assert service["metadata"]["name"] == "judge-agent-rrm"
    assert found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == found["Deployment"]["metadata"]["name"]
    assert found["Deployment"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "judge"
    assert service["spec"]["selector"].items() <= found["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    # The operator names the scrape job after the Service; every alert must select that job.
    rules = [r for g in found["PrometheusRule"]["spec"]["groups"] for r in g["rules"]]
    assert all('job="judge-agent-rrm"' in r["expr"] for r in rules)
    assert 'job="agent-rrm"' not in rendered["prometheusrule.yaml"]
    assert "kubectl -n agent-rrm" not in rendered["prometheusrule.yaml"]


def test_the_plain_rendering_keeps_prometheus_templates_in_the_alerts() -> None:
    rule = kinds(render_chart.render({}))["PrometheusRule"]
    annotations = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels.instance }}" in a for a in annotations)
    assert any("{{ $value" in a for a in annotations)

"""Kubernetes manifests: schema-valid (kubernetes-validate --strict for core kinds, our CRD schemas for the Prometheus
Operator's), consistent with each other and with the image, and with probe and shutdown timings that add up."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, tool
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.dockerfile import read_stages

CORE = [*sorted((DEPLOY / "k8s").glob("*.yaml")), DEPLOY / "secret.example.yaml"]
OPERATOR = sorted((DEPLOY / "k8s" / "monitoring").glob("*.yaml"))
# Oldest and newest Kubernetes the manifests are checked against (kubernetes-validate ships 1.25 to 1.37).
K8S_VERSIONS = ["1.29.0", "1.37.0"]


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]


def one(kind: str) -> dict[str, Any]:
    found = [doc for path in CORE + OPERATOR for doc in load(path) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return one("Deployment")


@pytest.fixture(scope="module")
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_manifests_pass_kubernetes_validate_strict(version: str) -> None:
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, *map(str, CORE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(CORE), result.stdout


@pytest.mark.parametrize("path", OPERATOR, ids=lambda p: p.name)
def test_operator_resources_match_their_crd_schema(path: Path) -> None:
    for doc in load(path):
        jsonschema.validate(doc, SCHEMAS[doc["kind"]])


def test_the_crd_schemas_reject_a_misplaced_field() -> None:
    monitor = load(DEPLOY / "k8s" / "monitoring" / "servicemonitor.yaml")[0]
    monitor["spec"]["endpoints"][0]["bearerTokenSecrett"] = {"name": "x", "key": "y"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SCHEMAS["ServiceMonitor"])
    rule = load(DEPLOY / "k8s" / "monitoring" / "prometheusrule.yaml")[0]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "10 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, SCHEMAS["PrometheusRule"])


def test_every_manifest_is_in_the_kustomization_and_the_namespace() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = {DEPLOY / r for r in kustomization["resources"]}
    assert listed == set(CORE + OPERATOR) - {DEPLOY / "secret.example.yaml"}
    for entry in kustomization["configMapGenerator"]:
        assert all((DEPLOY / f).is_file() for f in entry["files"])
    for path in CORE + OPERATOR:
        for doc in load(path):
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == kustomization["namespace"], path


def test_service_deployment_pdb_and_servicemonitor_select_the_same_pods(deployment: dict[str, Any]) -> None:
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    monitor = one("ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    # The alerts and the dashboard select job="agent-rrm": the operator names the job after the Service.
    assert service["metadata"]["name"] == "agent-rrm" and "jobLabel" not in monitor["spec"]


def test_hpa_scales_the_deployment_on_the_pending_items_metric(deployment: dict[str, Any]) -> None:
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agent-rrm"}
    assert [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]] == ["rrm_items_pending"]
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    adapter = yaml.safe_load((DEPLOY / "prometheus-adapter" / "values.yaml").read_text())
    assert [r["name"]["as"] for r in adapter["rules"]["custom"]] == ["rrm_items_pending"]


def test_container_runs_the_image_entrypoint_with_gpu_and_keys(container: dict[str, Any]) -> None:
    assert "command" not in container and "args" not in container, "the image's ENTRYPOINT is what is tested"
    env = env_of(container)
    assert env["RRM_MODEL"] == "bunny127/Agent-RRM"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert [p["containerPort"] for p in container["ports"]] == [int(env["RRM_PORT"])]
    gpu = read_stages(ROOT / "Dockerfile")["gpu"]
    assert env["RRM_PORT"] == gpu.env["RRM_PORT"]


def test_api_keys_come_from_the_secret_as_a_file(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    key_file = Path(env_of(container)["RRM_API_KEY_FILE"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(key_file.parent))
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert mount.get("readOnly") is True
    secret = next(d for d in load(DEPLOY / "secret.example.yaml"))
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert [i["path"] for i in volume["secret"]["items"]] == [key_file.name]
    assert {i["key"] for i in volume["secret"]["items"]} <= secret["stringData"].keys()
    credentials = one("ServiceMonitor")["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials["name"] == secret["metadata"]["name"] and credentials["key"] in secret["stringData"]
    scrape_key = secret["stringData"][credentials["key"]]
    assert scrape_key in secret["stringData"]["api-keys"].splitlines(), "the scrape key must be an accepted key"


def test_model_cache_is_the_claim_mounted_where_the_image_keeps_it(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    claim = one("PersistentVolumeClaim")["metadata"]["name"]
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == claim
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] in read_stages(ROOT / "Dockerfile")["gpu"].volumes
    assert env_of(container)["HF_HOME"].startswith(mount["mountPath"] + "/")


def test_probes_fit_a_first_model_download(container: dict[str, Any]) -> None:
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/readyz", "/healthz answers before the model is loaded"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 20 * 60
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_grace_period_covers_prestop_drain_and_exit(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    drain = float(env_of(container)["RRM_DRAIN_GRACE_S"])
    margin = 15  # vLLM's shutdown and uvicorn's close, after the drain
    assert pre_stop >= 5, "endpoints need a few seconds to stop routing to a terminating pod"
    assert grace >= pre_stop + drain + margin, (grace, pre_stop, drain)


def test_pod_is_locked_down(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid = read_stages(ROOT / "Dockerfile")["gpu"].user
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == uid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False

"""The PrometheusRule's alerts: promtool accepts the rule groups, each alert fires on its series and stays quiet on a
healthy one (promtool test rules, alerts_test.yaml), and each tells the operator what it means and what to do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from promlab import alert_rules, prometheus_rule_spec

from tests.deploy.conftest import tool

HERE = Path(__file__).parent
# The alerts the service's operators asked for, by what they watch.
EXPECTED = {
    "AgentRRMNoReadyReplicas",  # no ready replicas
    "AgentRRMQueueSaturated",  # pending / limit high
    "AgentRRMAdmissionRejections",  # 429s
    "AgentRRMJudgmentFailureRate",
    "AgentRRMLatencyP99High",
    "AgentRRMScoreDrift",  # mean score, 1 h against 24 h
    "AgentRRMRestarting",  # engine death makes the process exit non-zero
    "AgentRRMEngineNotReady",
}


def test_promtool_check_rules_accepts_the_spec(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(prometheus_rule_spec()))
    result = subprocess.run([tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_alerts_fire_when_they_should_and_only_then(tmp_path: Path) -> None:
    spec = prometheus_rule_spec()
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tests = yaml.safe_load((HERE / "alerts_test.yaml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")}
    assert tested == {rule["alert"] for rule in alert_rules()}


def test_the_asked_for_alerts_exist() -> None:
    assert {rule["alert"] for rule in alert_rules()} >= EXPECTED


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_each_alert_has_summary_description_runbook_and_severity(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    assert {"summary", "description", "runbook"} <= annotations.keys()
    assert all(len(str(annotations[k]).strip()) > 20 for k in ("summary", "description", "runbook"))
    assert f"deploy/README.md#{str(rule['alert']).lower()}" in annotations["runbook"]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}  # type: ignore[index]

"""The chart's monitoring values: the operator's ServiceMonitor or PodMonitor, and the
Grafana dashboard ConfigMap (whose queries name only metrics a real node serves)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.operator import optional_kinds
from tests.operator.test_chart import CHART, HELM, REPO, kinds, one, template

pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed")

Obj = dict[str, Any]


def test_monitors_are_off_by_default() -> None:
    objects = template()
    assert not [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert not [o for o in kinds(objects, "ConfigMap") if "dashboard" in o["metadata"]["name"]]


def test_service_monitor_scrapes_the_operator_metrics_service() -> None:
    objects = template("serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom")
    monitor = one(objects, "ServiceMonitor")
    optional_kinds.validate(monitor)
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = one(objects, "Service")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_pod_monitor_scrapes_the_operator_pods() -> None:
    objects = template("podMonitor.enabled=true")
    monitor = one(objects, "PodMonitor")
    optional_kinds.validate(monitor)
    pod = one(objects, "Deployment")["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in ports


def test_both_monitors_are_refused_with_the_reason() -> None:
    import subprocess  # noqa: PLC0415

    assert HELM is not None
    proc = subprocess.run(
        [HELM, "template", "x", str(CHART), "--set", "serviceMonitor.enabled=true",
         "--set", "podMonitor.enabled=true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "set one" in proc.stderr


def test_dashboard_configmap_for_the_grafana_sidecar() -> None:
    objects = template("grafanaDashboard.enabled=true")
    (config_map,) = [o for o in kinds(objects, "ConfigMap") if "dashboard" in o["metadata"]["name"]]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["chatnet.json"])
    # The chart's copy and the one in docs/ are the same file (whose queries
    # test_monitoring_names checks against real nodes' /metrics).
    assert dashboard == json.loads((REPO / "docs" / "grafana" / "chatnet.json").read_text())
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in (
        "clients",
        "deliveries/s",
        "reconnects",
        "acknowledgement latency",
        "round-trip",
        "history write latency",
        "history errors",
        "links up",
    ):
        assert topic in titles, topic

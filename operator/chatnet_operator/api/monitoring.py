"""Prometheus monitoring of a network's servers: ``spec.monitoring``.

With prometheus-operator installed, the operator creates a ServiceMonitor
(or a PodMonitor) that scrapes every server's ``/metrics`` and a
PrometheusRule with the alerts people page on. Each is created only when
its CRD is served; otherwise the network's ``OptionalKindsAvailable``
condition says which is missing.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from chatnet_operator.api.fields import ApiModel, Duration, Rule, check_rules


class Monitoring(ApiModel):
    """Scrape targets and alerts for prometheus-operator."""

    service_monitor: bool = Field(
        default=False, description="a ServiceMonitor over the servers' headless Services"
    )
    pod_monitor: bool = Field(default=False, description="a PodMonitor over the servers' pods")
    prometheus_rule: bool = Field(
        default=False,
        description="alerts: server not ready, link down, acknowledgement backlog, history errors",
    )
    interval: Duration = Field(default="30s", description="scrape interval")
    labels: dict[str, str] = Field(
        default={},
        max_length=32,
        description="extra labels on the monitors and rules (what your Prometheus selects)",
    )

    @model_validator(mode="after")
    def _rules(self) -> Monitoring:
        check_rules(self, MONITORING_RULES)
        return self

    @property
    def wanted(self) -> bool:
        return self.service_monitor or self.pod_monitor or self.prometheus_rule


MONITORING_RULES = [
    Rule(
        "!(has(self.serviceMonitor) && self.serviceMonitor"
        " && has(self.podMonitor) && self.podMonitor)",
        "monitoring: serviceMonitor and podMonitor scrape the same servers; pick one",
        lambda m: not (m.service_monitor and m.pod_monitor),
    ),
]

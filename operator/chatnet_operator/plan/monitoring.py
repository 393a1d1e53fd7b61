"""prometheus-operator objects for a network's servers (``spec.monitoring``).

A ServiceMonitor over the servers' headless Services (or a PodMonitor over
their pods) scrapes every node's ``/metrics``, copying the pods'
``chatnet.io/network`` and ``chatnet.io/server`` labels onto the series
(``chatnet_io_network``, ``chatnet_io_server``) so alerts and the dashboard
select one network. The PrometheusRule's alerts use only metrics the node
exports (``chatnet_node.metrics``) and the ``up`` series Prometheus adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.api.models import ChatNetwork
from chatnet_operator.plan.desired import MonitoringPlan, NetworkPlan

Obj = dict[str, Any]

API_VERSION = "monitoring.coreos.com/v1"
#: Channel messages waiting for a second server's acknowledgement before an alert.
BACKLOG_THRESHOLD = 100
#: Seconds the slowest 1% of acknowledgements may take before an alert.
ACK_LATENCY_THRESHOLD = 1.0
_TARGET_LABELS = ["chatnet.io/network", "chatnet.io/server"]


def monitoring_plan(network: ChatNetwork) -> MonitoringPlan:
    wanted = network.spec.monitoring
    return MonitoringPlan(
        service_monitor=wanted.service_monitor,
        pod_monitor=wanted.pod_monitor,
        prometheus_rule=wanted.prometheus_rule,
        interval=wanted.interval,
        labels=dict(wanted.labels),
    )


def _meta(plan: NetworkPlan, meta: Callable[[str], Obj]) -> Obj:
    metadata = meta(f"{plan.network}-servers")
    metadata["labels"] = {**plan.cluster.monitoring.labels, **metadata["labels"]}
    return metadata


def _endpoint(plan: NetworkPlan) -> Obj:
    # The admin port: /metrics is not served on the client port (a NetworkPolicy
    # admits the scrapers there, see spec.networkPolicy.metricsFrom).
    return {"port": "admin", "path": "/metrics", "interval": plan.cluster.monitoring.interval}


def _monitor(plan: NetworkPlan, meta: Callable[[str], Obj], kind: str, endpoints: str) -> Obj:
    """A ServiceMonitor or PodMonitor of this network's servers (alike but for the
    name of their endpoints list)."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": _meta(plan, meta),
        "spec": {
            # The servers' headless Services or pods (they carry chatnet.io/server;
            # the client Service does not, so no pod is scraped twice).
            "selector": {
                "matchLabels": {"chatnet.io/network": plan.network},
                "matchExpressions": [{"key": "chatnet.io/server", "operator": "Exists"}],
            },
            "podTargetLabels": list(_TARGET_LABELS),
            endpoints: [_endpoint(plan)],
        },
    }


def service_monitor(plan: NetworkPlan, meta: Callable[[str], Obj]) -> Obj | None:
    if not plan.cluster.monitoring.service_monitor:
        return None
    return _monitor(plan, meta, "ServiceMonitor", "endpoints")


def pod_monitor(plan: NetworkPlan, meta: Callable[[str], Obj]) -> Obj | None:
    if not plan.cluster.monitoring.pod_monitor:
        return None
    return _monitor(plan, meta, "PodMonitor", "podMetricsEndpoints")


def alert_rules(plan: NetworkPlan) -> list[Obj]:
    """The alerts, as PromQL over this network's series."""
    sel = f'namespace="{plan.namespace}",chatnet_io_network="{plan.network}"'
    where = f"network {plan.network} in {plan.namespace}"
    client_servers = sorted(s.name for s in plan.sets if s.serves_clients)
    rules: list[Obj] = [
        {
            "alert": "ChatnetServerDown",
            "expr": f"up{{{sel}}} == 0",
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": f"a chat server of {where} cannot be scraped",
                "description": "{{ $labels.pod }} has not answered /metrics for 2 minutes.",
            },
        },
        {
            "alert": "ChatnetLinkDown",
            # Each in-network link is counted by both of its ends.
            "expr": f"sum(chatnet_links_up{{{sel}}}) < {2 * len(plan.links)}",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"server links of {where} are down",
                "description": f"fewer than the {len(plan.links)} planned links are up "
                "(ChatNetwork status .links says which).",
            },
        },
        {
            "alert": "ChatnetAcknowledgementBacklog",
            "expr": f"max(chatnet_unacknowledged{{{sel}}}) > {BACKLOG_THRESHOLD}",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"channel messages of {where} wait for a second server",
                "description": "{{ $value }} messages are not acknowledged by another "
                "server: links or history are slow.",
            },
        },
        {
            "alert": "ChatnetAcknowledgementLatencyHigh",
            "expr": "histogram_quantile(0.99, sum by (le, chatnet_io_server) "
            f"(rate(chatnet_ack_latency_seconds_bucket{{{sel}}}[5m]))) > {ACK_LATENCY_THRESHOLD}",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"senders on {where} wait long for their echo",
                "description": "1% of acknowledgements on {{ $labels.chatnet_io_server }} take "
                "over {{ $value }}s: a link is slow or a peer's history store is.",
            },
        },
        {
            "alert": "ChatnetHistoryErrors",
            "expr": "sum by (chatnet_io_server, store, op) "
            f"(increase(chatnet_history_errors_total{{{sel}}}[10m])) > 0",
            "for": "2m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"history writes or reads fail on {where}",
                "description": "{{ $labels.chatnet_io_server }}: {{ $value }} failed "
                "{{ $labels.op }} operations on its {{ $labels.store }} history store in 10 "
                "minutes (a full disk, an unreachable database); messages may be missing "
                "from history.",
            },
        },
    ]
    if client_servers:
        servers = "|".join(client_servers)
        rules.insert(
            1,
            {
                "alert": "ChatnetServerNotReady",
                "expr": f'chatnet_ready{{{sel},chatnet_io_server=~"{servers}"}} == 0',
                "for": "10m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"a chat server of {where} takes no new clients",
                    "description": "{{ $labels.pod }} is not ready (full, draining or "
                    "without links) for 10 minutes.",
                },
            },
        )
    if not plan.links:
        rules = [r for r in rules if r["alert"] != "ChatnetLinkDown"]
    return rules


def prometheus_rule(plan: NetworkPlan, meta: Callable[[str], Obj]) -> Obj | None:
    if not plan.cluster.monitoring.prometheus_rule:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": _meta(plan, meta),
        "spec": {"groups": [{"name": f"chatnet-{plan.network}", "rules": alert_rules(plan)}]},
    }

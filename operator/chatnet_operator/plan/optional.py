"""The network's children of kinds a cluster may not serve, and the spec fields wanting them.

cert-manager, the Gateway API, prometheus-operator and CloudNativePG are installed
separately; the operator creates their objects only when discovery shows
their CRDs (``cluster.discovery``), and otherwise says on the ChatNetwork
which kind is missing and which field asked for it. ``chatnet render``
prints them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.plan import certificates, cnpg, linkca, monitoring, routes
from chatnet_operator.plan.desired import NetworkPlan

Obj = dict[str, Any]

#: (apiVersion, kind) of each optional kind, to the spec field that makes one.
OPTIONAL_KINDS: dict[tuple[str, str], str] = {
    (certificates.API_VERSION, certificates.KIND): (
        "spec.endpoint.tls.issuerRef or spec.links.issuerRef"
    ),
    (linkca.API_VERSION, linkca.ISSUER): "spec.links.tls (the network's link CA)",
    (routes.ROUTE_API, "HTTPRoute"): "spec.endpoint.gateway",
    (monitoring.API_VERSION, "ServiceMonitor"): "spec.monitoring.serviceMonitor",
    (monitoring.API_VERSION, "PodMonitor"): "spec.monitoring.podMonitor",
    (monitoring.API_VERSION, "PrometheusRule"): "spec.monitoring.prometheusRule",
    (cnpg.API_VERSION, cnpg.KIND): "spec.history.cnpg",
}


def is_optional(obj: Obj) -> bool:
    return (obj["apiVersion"], obj["kind"]) in OPTIONAL_KINDS


def endpoint_objects(plan: NetworkPlan, service: str, meta: Callable[[str], Obj]) -> list[Obj]:
    """Certificate, Ingress and HTTPRoute of the client endpoint, those the spec asks for."""
    found = [
        certificates.certificate(plan, meta),
        routes.ingress(plan, service, meta),
        routes.http_route(plan, service, meta),
    ]
    return [obj for obj in found if obj is not None]


def monitoring_objects(plan: NetworkPlan, meta: Callable[[str], Obj]) -> list[Obj]:
    """ServiceMonitor or PodMonitor, and PrometheusRule, those the spec asks for."""
    found = [
        monitoring.service_monitor(plan, meta),
        monitoring.pod_monitor(plan, meta),
        monitoring.prometheus_rule(plan, meta),
    ]
    return [obj for obj in found if obj is not None]

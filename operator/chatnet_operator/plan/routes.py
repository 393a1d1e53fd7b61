"""The web chat's HTTP routes: an Ingress and a Gateway API HTTPRoute.

Both send every path (the page, ``/`` WebSocket upgrades) to the client
Service's websocket port; TLS ends at the Ingress controller or the Gateway,
so users open ``https://HOST/`` and the page talks ``wss://HOST/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.api.models import ChatNetwork
from chatnet_operator.plan.desired import IngressPlan, NetworkPlan, RoutePlan

Obj = dict[str, Any]

INGRESS_API = "networking.k8s.io/v1"
ROUTE_API = "gateway.networking.k8s.io/v1"


def ingress_plan(network: ChatNetwork) -> IngressPlan | None:
    ingress = network.spec.endpoint.ingress
    if ingress is None:
        return None
    return IngressPlan(
        host=ingress.host,
        class_name=ingress.class_name,
        annotations=dict(ingress.annotations),
        tls_secret=ingress.tls.secret_name if ingress.tls is not None else None,
    )


def route_plan(network: ChatNetwork) -> RoutePlan | None:
    gateway = network.spec.endpoint.gateway
    if gateway is None:
        return None
    refs = [ref.model_dump(by_alias=True, exclude_none=True) for ref in gateway.parent_refs]
    return RoutePlan(parent_refs=refs, hostnames=list(gateway.hostnames))


def ingress(plan: NetworkPlan, service: str, meta: Callable[[str], Obj]) -> Obj | None:
    """The Ingress to ``service``'s websocket port, or None."""
    wanted = plan.cluster.endpoint.ingress
    if wanted is None:
        return None
    metadata = meta(service)
    if wanted.annotations:
        metadata["annotations"] = dict(wanted.annotations)
    backend = {"service": {"name": service, "port": {"name": "websocket"}}}
    spec: Obj = {
        "rules": [
            {
                "host": wanted.host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ]
    }
    if wanted.class_name is not None:
        spec["ingressClassName"] = wanted.class_name
    if wanted.tls_secret is not None:
        spec["tls"] = [{"hosts": [wanted.host], "secretName": wanted.tls_secret}]
    return {"apiVersion": INGRESS_API, "kind": "Ingress", "metadata": metadata, "spec": spec}


def http_route(plan: NetworkPlan, service: str, meta: Callable[[str], Obj]) -> Obj | None:
    """The HTTPRoute to ``service``'s websocket port, or None."""
    wanted = plan.cluster.endpoint.route
    if wanted is None:
        return None
    spec: Obj = {
        "parentRefs": [dict(ref) for ref in wanted.parent_refs],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": service, "port": plan.cluster.endpoint.websocket_port}],
            }
        ],
    }
    if wanted.hostnames:
        spec["hostnames"] = list(wanted.hostnames)
    return {"apiVersion": ROUTE_API, "kind": "HTTPRoute", "metadata": meta(service), "spec": spec}

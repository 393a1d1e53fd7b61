"""The client endpoint's exposure in the plan, and what it adds to rendered objects.

``ExposurePlan`` is what ``spec.endpoint.service``, ``proxyProtocol`` and
``trustedProxies`` planned; ``expose`` adds it to the client Service
(annotations, ``externalTrafficPolicy``, ``loadBalancerSourceRanges``, and
the WebSocket port aimed at the PROXY listener); ``proxy_container_ports``
names that listener's pod port. The node side (listeners with
``proxyProtocol``, ``trustedProxies``) is written by the planner.

Why a second WebSocket port: links between servers and the kubelet's
probes reach ``websocketPort`` straight, without a PROXY header, so with
``proxyProtocol`` the load balancer is aimed at ``proxyWebsocketPort``
instead; the IRC ports take client connections only and get the header
requirement themselves.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict

Obj = dict[str, Any]
#: The container port name of the WebSocket listener that takes PROXY headers.
PROXY_WEBSOCKET = "websocket-proxy"


class ExposurePlan(BaseModel):
    """The client Service's extras and the proxies in front of the servers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    annotations: dict[str, str] = {}
    external_traffic_policy: str | None = None
    load_balancer_source_ranges: list[str] = []
    proxy_protocol: bool = False
    trusted_proxies: list[str] = []
    proxy_websocket_port: int | None = None


def expose(service: Obj, exposure: ExposurePlan) -> Obj:
    """The client Service with what ``exposure`` asks of it (a new object)."""
    service = copy.deepcopy(service)
    if exposure.annotations:
        service["metadata"]["annotations"] = dict(sorted(exposure.annotations.items()))
    spec = service["spec"]
    if exposure.external_traffic_policy is not None:
        spec["externalTrafficPolicy"] = exposure.external_traffic_policy
    if exposure.load_balancer_source_ranges:
        spec["loadBalancerSourceRanges"] = list(exposure.load_balancer_source_ranges)
    if exposure.proxy_protocol:
        for port in spec["ports"]:
            if port["name"] == "websocket":
                port["targetPort"] = PROXY_WEBSOCKET
    return service


def proxy_container_ports(exposure: ExposurePlan) -> list[Obj]:
    """The pod port of the WebSocket listener that takes PROXY headers, when there is one."""
    if not exposure.proxy_protocol or exposure.proxy_websocket_port is None:
        return []
    return [
        {"name": PROXY_WEBSOCKET, "containerPort": exposure.proxy_websocket_port, "protocol": "TCP"}
    ]

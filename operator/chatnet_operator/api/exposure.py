"""How the client endpoint meets the outside: its Service, and the proxies in front of it.

``spec.endpoint.service`` (type, annotations, ``externalTrafficPolicy``,
``loadBalancerSourceRanges``), ``spec.endpoint.proxyProtocol`` and
``spec.endpoint.trustedProxies``: the fields that decide whether servers see
their clients' real addresses behind a load balancer. Kept apart from
``endpoint`` (which other features grow too); ``Endpoint`` embeds them and
``EXPOSURE_RULES`` joins its rules.

``serviceType`` (the older field) keeps working; ``service.type`` wins
over it, and the two disagreeing is an error that says which to keep
(``serviceType: ClusterIP``, the old default, counts as not given: objects
stored under the older CRD carry it without their authors writing it).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from chatnet_operator.api.fields import ApiModel, Port, Rule

#: What the CRD accepts as a CIDR (the models check it exactly).
CIDR_PATTERN = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"
#: The pod port of the WebSocket listener that takes PROXY headers (proxyProtocol).
DEFAULT_PROXY_WEBSOCKET_PORT = 8082


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a CIDR (e.g. 10.0.0.0/8, 192.0.2.7/32 or 2001:db8::/32)"
            ) from None
        raise ValueError(f"{text!r} has host bits set; did you mean {loose}?") from None


Cidr = Annotated[str, Field(pattern=CIDR_PATTERN, max_length=49), AfterValidator(_cidr)]


class EndpointService(ApiModel):
    """The client Service: its type and what the cloud's load balancer needs."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] | None = Field(
        default=None, description="ClusterIP (default), NodePort or LoadBalancer"
    )
    annotations: dict[str, str] = Field(
        default={},
        description="annotations of the client Service (a cloud load balancer's settings)",
    )
    external_traffic_policy: Literal["Cluster", "Local"] | None = Field(
        default=None,
        description="Local keeps clients' source addresses without PROXY protocol "
        "(NodePort and LoadBalancer only)",
    )
    load_balancer_source_ranges: list[Cidr] = Field(
        default=[],
        max_length=64,
        description="CIDRs allowed to reach the load balancer (LoadBalancer only)",
    )


def service_type(endpoint: Any) -> str:
    """The client Service's type: ``service.type``, else ``serviceType``, else ClusterIP."""
    service = endpoint.service
    if service is not None and service.type is not None:
        return str(service.type)
    if endpoint.service_type is not None:
        return str(endpoint.service_type.value)
    return "ClusterIP"


_TYPE_CEL = (
    "(has(self.service) && has(self.service.type) ? self.service.type"
    " : (has(self.serviceType) ? self.serviceType : 'ClusterIP'))"
)

EXPOSURE_RULES = [
    # serviceType: ClusterIP counts as unset: CRDs before service.type defaulted
    # it, so objects stored then carry it without their authors having written it.
    Rule(
        "!has(self.serviceType) || self.serviceType == 'ClusterIP' || !has(self.service)"
        " || !has(self.service.type) || self.service.type == self.serviceType",
        "serviceType and service.type disagree: keep service.type and remove serviceType "
        "(its older spelling)",
        lambda e: (
            e.service_type is None
            or e.service_type.value == "ClusterIP"
            or e.service is None
            or e.service.type is None
            or e.service.type == e.service_type.value
        ),
    ),
    Rule(
        "!has(self.service) || !has(self.service.externalTrafficPolicy)"
        f" || {_TYPE_CEL} != 'ClusterIP'",
        "service.externalTrafficPolicy needs service.type NodePort or LoadBalancer",
        lambda e: (
            e.service is None
            or e.service.external_traffic_policy is None
            or service_type(e) != "ClusterIP"
        ),
    ),
    Rule(
        "!has(self.service) || !has(self.service.loadBalancerSourceRanges)"
        f" || size(self.service.loadBalancerSourceRanges) == 0 || {_TYPE_CEL} == 'LoadBalancer'",
        "service.loadBalancerSourceRanges needs service.type LoadBalancer",
        lambda e: (
            e.service is None
            or not e.service.load_balancer_source_ranges
            or service_type(e) == "LoadBalancer"
        ),
    ),
    Rule(
        "!has(self.proxyProtocol) || !self.proxyProtocol"
        " || (has(self.trustedProxies) && size(self.trustedProxies) > 0)",
        "proxyProtocol: true needs trustedProxies: the addresses the load balancer "
        "connects to the pods from (e.g. the cluster's node or VPC CIDR)",
        lambda e: not e.proxy_protocol or bool(e.trusted_proxies),
    ),
    Rule(
        "!has(self.proxyProtocol) || !self.proxyProtocol"
        " || (self.proxyWebsocketPort != self.websocketPort"
        " && self.proxyWebsocketPort != self.ircPort)",
        "proxyWebsocketPort must differ from websocketPort and ircPort",
        lambda e: (
            not e.proxy_protocol or e.proxy_websocket_port not in (e.websocket_port, e.irc_port)
        ),
    ),
]


class ProxyFields(ApiModel):
    """The endpoint's proxy fields (mixed into ``Endpoint``)."""

    service: EndpointService | None = Field(
        default=None, description="the client Service: type, annotations, traffic policy"
    )
    proxy_protocol: bool = Field(
        default=False,
        description="the load balancer sends a PROXY protocol (v1 or v2) header on every "
        "client connection; servers require it from trustedProxies and refuse it from others",
    )
    trusted_proxies: list[Cidr] = Field(
        default=[],
        max_length=64,
        description="CIDRs of the load balancers and HTTP proxies whose PROXY, Forwarded or "
        "X-Forwarded-For headers servers believe",
    )
    proxy_websocket_port: Port = Field(
        default=DEFAULT_PROXY_WEBSOCKET_PORT,
        description="pod port of the WebSocket listener that takes PROXY headers "
        "(proxyProtocol); links and probes keep websocketPort",
    )

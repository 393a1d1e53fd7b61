"""Where end users connect: the ``spec.endpoint`` block of a ChatNetwork.

The client Service, its ports and the certificate for IRC over TLS. Kept apart
from ``models`` so the endpoint's growth (proxies, ingress, certificates) stays
in one small module.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from chatnet_operator.api.certificates import EndpointTls
from chatnet_operator.api.exposure import EXPOSURE_RULES, ProxyFields
from chatnet_operator.api.fields import ApiModel, Name, Port, Rule, check_rules
from chatnet_operator.api.routes import Gateway, Ingress


class ServiceType(StrEnum):
    """How the client Service is exposed on a cluster."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class SecretRef(ApiModel):
    """A Secret in the same namespace."""

    secret_name: Name = Field(description="name of a Secret in the same namespace")


class Endpoint(ProxyFields):
    """Where end users connect: one Service over every server that serves clients."""

    websocket_port: Port = Field(default=8080, description="WebSocket and HTTP (web chat) port")
    irc_port: Port = Field(default=6667, description="plain IRC over TCP")
    irc_tls_port: Port = Field(default=6697, description="IRC over TLS, when tls is set")
    tls: EndpointTls | None = Field(
        default=None, description="IRC over TLS: a Secret you keep, or one cert-manager issues"
    )
    ingress: Ingress | None = Field(default=None, description="an Ingress for https/wss web chat")
    gateway: Gateway | None = Field(
        default=None, description="a Gateway API HTTPRoute for https/wss web chat"
    )
    service_type: ServiceType | None = Field(
        default=None, description="the older spelling of service.type (still accepted)"
    )

    @model_validator(mode="after")
    def _rules(self) -> Endpoint:
        check_rules(self, ENDPOINT_RULES)
        return self


ENDPOINT_RULES = [
    Rule(
        "self.websocketPort != self.ircPort",
        "websocketPort and ircPort must differ",
        lambda e: e.websocket_port != e.irc_port,
    ),
    Rule(
        "!has(self.tls)"
        " || (self.ircTlsPort != self.ircPort && self.ircTlsPort != self.websocketPort)",
        "ircTlsPort must differ from ircPort and websocketPort",
        lambda e: e.tls is None or e.irc_tls_port not in (e.irc_port, e.websocket_port),
    ),
    *EXPOSURE_RULES,
]

"""HTTP routes to the web chat: ``spec.endpoint.ingress`` and ``spec.endpoint.gateway``.

Both send ``https://`` and ``wss://`` (the web page and its WebSocket) to
the client Service's websocket port, TLS ending at the Ingress controller
or the Gateway. An Ingress is a built-in kind; an HTTPRoute is created only
when the Gateway API CRDs are served.
"""

from __future__ import annotations

from pydantic import Field

from chatnet_operator.api.certificates import DnsName
from chatnet_operator.api.fields import ApiModel, Name


class IngressTls(ApiModel):
    """The certificate the Ingress controller presents (cert-manager's ingress-shim may make it)."""

    secret_name: Name = Field(description="kubernetes.io/tls Secret for the host")


class Ingress(ApiModel):
    """An Ingress for the web chat."""

    class_name: str | None = Field(
        default=None, max_length=253, description="IngressClass (unset: the cluster's default)"
    )
    annotations: dict[str, str] = Field(
        default={}, max_length=64, description="e.g. cert-manager.io/cluster-issuer"
    )
    host: DnsName = Field(description="host name users open")
    tls: IngressTls | None = None


class ParentRef(ApiModel):
    """A Gateway (listener) the route attaches to."""

    name: Name
    namespace: Name | None = Field(default=None, description="unset: the network's namespace")
    section_name: Name | None = Field(default=None, description="one listener of the Gateway")


class Gateway(ApiModel):
    """A Gateway API HTTPRoute for the web chat."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=16)
    hostnames: list[DnsName] = Field(default=[], max_length=16)

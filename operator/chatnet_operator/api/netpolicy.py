"""Who may reach a network's pods: the ``spec.networkPolicy`` block and the admin port.

The operator renders one NetworkPolicy per network from this (see
``plan/netpolicy.py``): client ports from anywhere or from ``clientSources``;
link ports only from the network's own pods, from the addresses of external
portals that are IP literals, and from ``linkSources``; the admin port
(``spec.adminPort``: status, metrics, probes) only from the operator's pods
(``operatorFrom``) and the metrics scraper (``metricsFrom``). Kept apart from
``models`` so the lock-down rules stay in one small module.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from chatnet_operator.api.fields import ApiModel

#: The admin listener's port in a pod: /healthz, /readyz, /status, /metrics.
DEFAULT_ADMIN_PORT = 8081
#: Labels the chart puts on the operator's pods (charts/chatnet/templates/_helpers.tpl).
OPERATOR_POD_LABELS = {
    "app.kubernetes.io/name": "chatnet",
    "app.kubernetes.io/component": "operator",
}


def check_cidr(text: str) -> str:
    """``text`` if it is a CIDR block such as 10.0.0.0/8 or 2001:db8::/32 (host bits zero)."""
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a CIDR block such as 203.0.113.0/24 or 2001:db8::/32 ({exc})"
        ) from None
    if "/" not in text:
        raise ValueError(f"{text!r} needs a prefix length, e.g. {text}/32")
    return text


# No schema pattern: check_cidr's message says what is wrong and how to write it.
Cidr = Annotated[str, Field(min_length=1, max_length=49), AfterValidator(check_cidr)]


class LabelSelector(ApiModel):
    """Kubernetes' label selector, ``matchLabels`` only; empty selects everything."""

    match_labels: dict[str, str] = Field(default={}, description="labels that must all match")


class PeerSelector(ApiModel):
    """Pods allowed in, as in a NetworkPolicy ``from`` entry.

    ``podSelector`` alone: pods in the network's namespace; ``namespaceSelector``
    alone: every pod of those namespaces; both: those pods in those namespaces.
    """

    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> PeerSelector:
        if self.namespace_selector is None and self.pod_selector is None:
            raise ValueError("give namespaceSelector, podSelector or both")
        return self


def _operator_pods() -> PeerSelector:
    return PeerSelector(
        namespace_selector=LabelSelector(),
        pod_selector=LabelSelector(match_labels=OPERATOR_POD_LABELS),
    )


class NetworkPolicySpec(ApiModel):
    """The network's NetworkPolicy: on by default; every port admits only what is listed."""

    enabled: bool = Field(default=True, description="render and keep a NetworkPolicy")
    client_sources: list[Cidr] = Field(
        default=[],
        max_length=64,
        description="CIDRs allowed on the client ports (IRC, WebSocket); empty: anywhere",
    )
    link_sources: list[Cidr] = Field(
        default=[],
        max_length=64,
        description="CIDRs of external servers that dial in on the link ports "
        "(portals whose address is an IP are admitted without this)",
    )
    operator_from: PeerSelector = Field(
        default_factory=_operator_pods,
        description="the operator's pods (admin port); default: the chart's labels, any namespace",
    )
    metrics_from: list[PeerSelector] = Field(
        default=[],
        max_length=16,
        description="metrics scrapers allowed on the admin port (e.g. Prometheus's pods)",
    )


def portal_cidr(address: str) -> str | None:
    """A portal address as a one-address CIDR; None for a host name (not expressible)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return f"{ip}/{ip.max_prefixlen}"

"""Render a network's NetworkPolicy (networking.k8s.io/v1) from its ``PolicyPlan``.

One policy selects every chat server pod of the network and admits, on
ingress (egress is left open: servers dial external portals and PostgreSQL):

* the client ports (WebSocket, IRC, IRC over TLS) from ``clientSources``, or
  from anywhere when none are declared;
* the link ports (the WebSocket port, where plain ``ws://`` links arrive, and
  the ``wss://`` link port) from the network's own server pods and from the
  external portals' addresses (``linkSources`` and IP-literal portals);
* the admin port (status, metrics, probes) from the operator's pods and the
  declared metrics scrapers. The kubelet's probes are not subject to
  NetworkPolicy on the usual network plugins (they come from the node).

Ports are numbers, not names, so the policy reads the same on every pod.
Reads the plan only, like ``render`` (import-linter keeps ``api`` out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.plan.desired import LinkTls, NetworkPlan

Obj = dict[str, Any]
Meta = Callable[[str, str | None, dict[str, str]], Obj]

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"


def server_pods(network: str) -> Obj:
    """The label selector of the network's chat server pods (not its database's)."""
    return {
        "matchLabels": {"chatnet.io/network": network},
        "matchExpressions": [{"key": "chatnet.io/server", "operator": "Exists"}],
    }


def _ports(numbers: list[int]) -> list[Obj]:
    return [{"protocol": "TCP", "port": n} for n in sorted(set(numbers))]


def _blocks(cidrs: list[str]) -> list[Obj]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def network_policy(plan: NetworkPlan, meta: Meta, labels: dict[str, str]) -> Obj | None:
    """The network's NetworkPolicy, or None when it has none."""
    policy = plan.network_policy
    if policy is None:
        return None
    cluster = plan.cluster
    endpoint = cluster.endpoint
    client_ports = [endpoint.websocket_port, endpoint.irc_port]
    if endpoint.irc_tls_port is not None:
        client_ports.append(endpoint.irc_tls_port)
    link_ports = [endpoint.websocket_port]
    if cluster.link_tls != LinkTls.OFF:
        link_ports.append(cluster.link_tls_port)
    clients: Obj = {"ports": _ports(client_ports)}
    if policy.client_sources:
        clients["from"] = _blocks(policy.client_sources)
    links: Obj = {
        "from": [{"podSelector": server_pods(plan.network)}, *_blocks(policy.link_sources)],
        "ports": _ports(link_ports),
    }
    admin: Obj = {"from": policy.admin_from, "ports": _ports([cluster.admin_port])}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta(plan.network, plan.object_namespace, labels),
        "spec": {
            "podSelector": server_pods(plan.network),
            "policyTypes": ["Ingress"],
            "ingress": [clients, links, admin],
        },
    }

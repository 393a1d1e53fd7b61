"""Kubernetes NetworkPolicy ingress semantics, as a pure function: is this connection allowed?

Used to check rendered policies as data (every pair of pods and ports), and
by anyone asking "could X reach port P of pod Y?" about ``chatnet render``
output without a cluster. What it implements (networking.k8s.io/v1):

* a policy applies to the pods of its namespace its ``podSelector`` selects,
  for ingress when ``policyTypes`` includes ``Ingress`` (or is absent);
* a pod no ingress policy selects accepts everything; a selected pod accepts
  a connection only if some rule of some selecting policy admits it (policies
  are additive: there is no deny);
* a rule admits a port when ``ports`` is absent or empty or one entry matches
  (protocol, default TCP; number, a range up to ``endPort``, or a named
  container port); a source when ``from`` is absent or empty or one peer
  matches: ``ipBlock`` (CIDR minus ``except``), ``podSelector`` alone (pods
  of the policy's namespace), ``namespaceSelector`` alone (every pod of the
  matching namespaces), or both (those pods in those namespaces);
* label selectors: ``matchLabels`` and ``matchExpressions`` (In, NotIn,
  Exists, DoesNotExist); an empty selector selects everything.

Whether an ``ipBlock`` matches a pod's own IP is left to the network plugin
by Kubernetes; here it does (the address is compared, whoever has it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    """A pod: where it lives, its labels, its address and its named container ports."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """Who connects: a pod (its labels and namespace count) or an address outside the cluster."""

    ip: str
    pod: Pod | None = None


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Does a label selector select these labels? (None or {} selects everything.)"""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown label selector operator {operator!r}")
    return True


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(block["cidr"], strict=False)
    if address.version != network.version or address not in network:
        return False
    for excluded in block.get("except") or []:
        hole = ipaddress.ip_network(excluded, strict=False)
        if address.version == hole.version and address in hole:
            return False
    return True


def _peer_admits(
    peer: Mapping[str, Any],
    policy_namespace: str,
    source: Source,
    namespaces: Mapping[str, Mapping[str, str]],
) -> bool:
    if "ipBlock" in peer:
        return _in_block(source.ip, peer["ipBlock"])
    pod = source.pod
    if pod is None:
        return False  # selectors name pods; an outside address is no pod
    if "namespaceSelector" in peer:
        ns_labels = namespaces.get(pod.namespace, {"kubernetes.io/metadata.name": pod.namespace})
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif pod.namespace != policy_namespace:
        return False  # podSelector alone: the policy's own namespace
    return "podSelector" not in peer or selects(peer["podSelector"], pod.labels)


def _port_admits(entry: Mapping[str, Any], port: int, protocol: str, dest: Pod) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return dest.ports.get(wanted) == port
    end = entry.get("endPort", wanted)
    return bool(wanted <= port <= end)


def _rule_admits(
    rule: Mapping[str, Any],
    policy_namespace: str,
    source: Source,
    dest: Pod,
    port: int,
    protocol: str,
    namespaces: Mapping[str, Mapping[str, str]],
) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(_port_admits(p, port, protocol, dest) for p in ports):
        return False
    peers = rule.get("from") or []
    return not peers or any(_peer_admits(p, policy_namespace, source, namespaces) for p in peers)


def applies_to(policy: Mapping[str, Any], pod: Pod, default_namespace: str) -> bool:
    """Does this policy restrict ingress to ``pod``?"""
    namespace = (policy.get("metadata") or {}).get("namespace") or default_namespace
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or ["Ingress"]
    return (
        namespace == pod.namespace
        and "Ingress" in types
        and selects(spec.get("podSelector"), pod.labels)
    )


def allowed(
    objects: Iterable[Mapping[str, Any]],
    source: Source,
    dest: Pod,
    port: int,
    protocol: str = "TCP",
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    default_namespace: str = "default",
) -> bool:
    """May ``source`` open a connection to ``port`` of ``dest``, given these objects?

    ``objects`` may hold any kinds (a whole render); NetworkPolicies are picked
    out. ``namespaces``: labels by namespace name (each also has
    ``kubernetes.io/metadata.name``, as Kubernetes sets it). Objects without
    a namespace are in ``default_namespace`` (as ``kubectl apply -n`` puts them).
    """
    labels = {
        name: {"kubernetes.io/metadata.name": name, **ls} for name, ls in (namespaces or {}).items()
    }
    policies = [
        o
        for o in objects
        if o.get("kind") == "NetworkPolicy"
        and str(o.get("apiVersion", "")).startswith("networking.k8s.io/")
        and applies_to(o, dest, default_namespace)
    ]
    if not policies:
        return True
    for policy in policies:
        namespace = (policy.get("metadata") or {}).get("namespace") or default_namespace
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            if _rule_admits(rule, namespace, source, dest, port, protocol, labels):
                return True
    return False

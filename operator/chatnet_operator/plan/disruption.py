"""PodDisruptionBudgets: how many chat servers voluntary disruptions may take down at once.

A drain, a node upgrade or a cluster autoscaler evicts pods through the
eviction API, which honours PodDisruptionBudgets. What must hold:

* **The backbone keeps a quorum.** Every hub (and control server) of a
  network is covered by *one* budget, ``NETWORK-hubs``, with
  ``maxUnavailable: 1``. One budget per ChatServer would not do: hubs are
  usually single-replica ChatServers, and a budget per server allows one
  eviction *each*, so a drain of two nodes could take every hub at once and
  split every leaf from every other. With one budget over all of them, at
  most one hub is evicted at a time and the next waits until it is back
  (ready). A network with a single hub still lets it go (a budget that
  allows nothing would block node drains forever); run two hubs to keep the
  network up through a drain.
* **Each fan-out set keeps its capacity.** Leaves are covered per ChatServer
  (``maxUnavailable: 1``): at most one server of each set is draining, its
  clients reconnect to the others.
* **No pod is under two budgets.** The eviction API refuses to evict a pod
  that more than one budget selects, so hubs get no per-server budget.

``tests/operator/test_disruption.py`` checks these as data: which sets of
pods the budgets allow to be down together.
"""

from __future__ import annotations

from typing import Any

from chatnet_operator.plan.desired import NetworkPlan, ServerSetPlan
from chatnet_operator.plan.podspec import BACKBONE_ROLES, backbone_selector

Obj = dict[str, Any]


def backbone_budget_name(network: str) -> str:
    """The budget over every hub and control server of ``network``."""
    return f"{network}-hubs"


def is_backbone(server: ServerSetPlan) -> bool:
    """Does the network-wide hub budget cover this set (rather than its own)?"""
    return server.role.value in BACKBONE_ROLES


def backbone_budget(network: str, namespace: str, labels: dict[str, str]) -> Obj:
    """At most one hub of the network down at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": backbone_budget_name(network),
            "namespace": namespace,
            "labels": labels,
        },
        "spec": {"maxUnavailable": 1, "selector": backbone_selector(network)},
    }


def has_backbone(plan: NetworkPlan) -> bool:
    """Does the network declare any hub or control server?"""
    return any(is_backbone(s) for s in plan.sets)

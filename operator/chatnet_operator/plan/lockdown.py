"""Plan the network's lock-down: ``spec.networkPolicy`` and the portals, as a ``PolicyPlan``.

Pure. External portals whose address is an IP literal are admitted on the
link ports automatically (a host name cannot be written in a NetworkPolicy:
its addresses go in ``linkSources``); the admin port admits the operator's
pods and every declared metrics scraper.
"""

from __future__ import annotations

from typing import Any

from chatnet_operator.api.models import ChatNetwork, ChatServer
from chatnet_operator.api.netpolicy import PeerSelector, portal_cidr
from chatnet_operator.plan.desired import PolicyPlan


def peer(selector: PeerSelector) -> dict[str, Any]:
    """A NetworkPolicy ``from`` entry, as Kubernetes writes it."""
    out: dict[str, Any] = {}
    if selector.namespace_selector is not None:
        out["namespaceSelector"] = selector.namespace_selector.model_dump(
            by_alias=True, exclude_defaults=True
        )
    if selector.pod_selector is not None:
        out["podSelector"] = selector.pod_selector.model_dump(by_alias=True, exclude_defaults=True)
    return out


def policy_plan(network: ChatNetwork, servers: list[ChatServer]) -> PolicyPlan | None:
    """The network's NetworkPolicy, or None when ``spec.networkPolicy.enabled`` is false."""
    spec = network.spec.network_policy
    if not spec.enabled:
        return None
    portals = {portal_cidr(p.address) for s in servers for p in s.spec.portals}
    link_sources = sorted({*spec.link_sources, *(c for c in portals if c is not None)})
    admin = [peer(spec.operator_from)]
    admin += [peer(p) for p in spec.metrics_from if peer(p) not in admin]
    return PolicyPlan(
        client_sources=list(spec.client_sources),
        link_sources=link_sources,
        admin_from=admin,
    )

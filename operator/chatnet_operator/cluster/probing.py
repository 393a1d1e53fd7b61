"""Where the operator reaches each node's admin port, and asking them all at once.

On a cluster a node is its pod's DNS name through the ChatServer's headless
Service (``POD.SERVER.NAMESPACE.svc:PORT``; the Service publishes pods that
are not ready, so a full server still answers). The ``CHATNET_STATUS_URLS``
file overrides that for tests and for an operator run outside the cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from chatnet_operator.observe.probe import probe
from chatnet_operator.observe.status import Probe
from chatnet_operator.plan.desired import NetworkPlan


def pod_targets(
    plan: NetworkPlan, http_port: int, cluster_domain: str
) -> dict[str, tuple[str, int]]:
    """Server name to (host, port) of its pod through the headless Service."""
    out = {}
    for name, server in plan.servers.items():
        pod = f"{server.chat_server}-{server.ordinal}"
        host = f"{pod}.{server.chat_server}.{plan.namespace}.svc.{cluster_domain}"
        out[name] = (host, http_port)
    return out


def read_overrides(path: Path | None) -> dict[str, tuple[str, int]]:
    """The override file as server name to (host, port); missing or bad file: none."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    if isinstance(data, dict):
        for name, url in data.items():
            parts = urlsplit(str(url))
            if parts.hostname and parts.port:
                out[str(name)] = (parts.hostname, parts.port)
    return out


async def probe_all(targets: Mapping[str, tuple[str, int]], limit: float) -> dict[str, Probe]:
    """Every node's ``/status`` and ``/readyz`` at once; a silent one is unhealthy."""
    names = sorted(targets)
    results = await asyncio.gather(*(probe(*targets[n], limit=limit) for n in names))
    return dict(zip(names, results, strict=True))

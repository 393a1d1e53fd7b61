"""The operator's settings, from the environment.

Both entry points read the same variables: ``chatnet operator`` turns its
options into them before kopf starts, and ``kopf run -m chatnet_operator``
takes them as set (e.g. by the Helm chart's Deployment).

| variable | meaning | default |
|---|---|---|
| ``CHATNET_NODE_IMAGE`` | node image when ``ChatNetwork.spec.image`` is unset | render's default |
| ``CHATNET_SYNC_INTERVAL`` | seconds between re-syncs of a network (drift, status) | 15 |
| ``CHATNET_METRICS_PORT`` | port of the operator's Prometheus metrics, 0: off | 9090 |
| ``CHATNET_CLUSTER_DOMAIN`` | the cluster's DNS domain | cluster.local |
| ``CHATNET_PROBE_TIMEOUT`` | seconds a node has to answer ``/status`` | 2 |
| ``CHATNET_STATUS_URLS`` | testing/dev hook: JSON file, server name to base URL | unset |
| ``POD_NAME`` | this replica's pod (the chart sets it): its kopf peering priority | unset |

``CHATNET_STATUS_URLS`` exists for tests and for running the operator outside
the cluster: nodes are then probed at the URLs the file names (read on every
probe, so it may change) instead of their pod DNS names.

Peering priority: kopf pauses *every* operator when two live peers share a
priority, and its default is 0 for all, so each replica takes its own (see
``peering_priority``): a stable hash of ``POD_NAME`` (a restarted container in
the same pod keeps it), else a random one. The highest acts; the others stand
by until its entry in the peering object goes.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator needs to know beyond the objects it watches."""

    node_image: str | None = None
    sync_interval: float = 15.0
    metrics_port: int = 9090
    cluster_domain: str = "cluster.local"
    probe_timeout: float = 2.0
    status_urls: Path | None = None

    @staticmethod
    def from_env(env: Mapping[str, str] = os.environ) -> OperatorConfig:
        """Read the ``CHATNET_*`` variables; malformed numbers raise ValueError."""
        urls = env.get("CHATNET_STATUS_URLS")
        return OperatorConfig(
            node_image=env.get("CHATNET_NODE_IMAGE") or None,
            sync_interval=float(env.get("CHATNET_SYNC_INTERVAL", "15")),
            metrics_port=int(env.get("CHATNET_METRICS_PORT", "9090")),
            cluster_domain=env.get("CHATNET_CLUSTER_DOMAIN", "cluster.local"),
            probe_timeout=float(env.get("CHATNET_PROBE_TIMEOUT", "2")),
            status_urls=Path(urls) if urls else None,
        )


#: Peering priorities are drawn from 1..MAX_PRIORITY (0 is kopf's default: "unset").
MAX_PRIORITY = 2**31 - 1


def peering_priority(env: Mapping[str, str] = os.environ, rng: random.Random | None = None) -> int:
    """This replica's kopf peering priority: distinct per replica, never 0.

    A stable hash of ``POD_NAME`` when set (Deployment pod names are unique),
    otherwise a random number (``rng``, for tests). Two replicas collide with a
    chance of about one in two billion.
    """
    pod = env.get("POD_NAME")
    if pod:
        digest = hashlib.sha256(pod.encode()).digest()
        return 1 + int.from_bytes(digest[:8], "big") % MAX_PRIORITY
    return (rng or random.SystemRandom()).randint(1, MAX_PRIORITY)

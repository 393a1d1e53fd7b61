"""A chat server's pod template beyond its container: sizing, scheduling, probes, metadata.

``render.stateful_set`` builds the pod (volumes, the node container) and
hands the template to ``finish_template``, which adds what this module owns:

* default requests and limits, sized from ``maxClients`` and the benchmark
  figures (``default_resources``; a ChatServer's ``resources`` replaces them);
* the merged ``spec.pod`` (tolerations, affinity, nodeSelector,
  priorityClassName, imagePullSecrets, annotations, extra labels);
* preferred anti-affinity between the hubs of one network, across
  ChatServers, by node and by zone;
* no service account token (a node never calls the Kubernetes API);
* a startupProbe, and a readiness probe that tolerates a slow answer.

Pure: plan in, dictionaries out.
"""

from __future__ import annotations

import math
import re
from typing import Any

from chatnet_operator.plan.desired import Role, ServerSetPlan

Obj = dict[str, Any]

# --- Resource sizing -------------------------------------------------------------
#
# memory request = BASE + maxClients x PER_CLIENT x HEADROOM, rounded up to 16 MiB
# memory limit   = request x LIMIT_FACTOR
# cpu request    = BASE_CPU + maxClients x DELIVERIES_PER_CLIENT / DELIVERIES_PER_CPU_SECOND
#                  x CPU_HEADROOM, rounded up to 10m, at most one core; no CPU limit
#
# The figures come from `bench/fanout.py --servers chatnet --members 1000`
# (docs/operator.md, "Resource sizing", has the run): a fresh node is 66 MiB
# RSS; an idle registered client costs 3.2 KiB over TCP and 5.0 KiB over
# WebSocket; one CPU-second delivers 2.4 M messages over WebSocket (2.7 M
# over TCP).

#: A started node with no clients (66 MiB measured), plus link buffers, TLS
#: contexts and SQLite's page cache, which the benchmark node does not have.
BASE_MEMORY_MIB = 80
#: RSS per idle client: the WebSocket figure, the larger of the two transports.
CLIENT_KIB = 5.0
#: Idle clients are a floor: busy channels fill send queues and history caches.
MEMORY_HEADROOM = 2.0
#: The limit only catches a runaway node: an OOM kill drops every client at once.
MEMORY_LIMIT_FACTOR = 2
#: An idle node's event loop, probes, link pings and status scrapes.
BASE_CPU_MILLI = 50
#: Assumed load: each client receives 20 messages a second (a busy channel).
DELIVERIES_PER_CLIENT = 20
#: Deliveries per CPU-second, the WebSocket figure (the lower of the two).
DELIVERIES_PER_CPU_SECOND = 2_400_000
CPU_HEADROOM = 2.0
#: The node is one Python process: it never uses more than one core.
MAX_CPU_MILLI = 1000


def default_resources(max_clients: int) -> Obj:
    """Requests and limits for a node that admits ``max_clients`` (the formula above)."""
    memory = BASE_MEMORY_MIB + max_clients * CLIENT_KIB * MEMORY_HEADROOM / 1024
    memory_mib = math.ceil(memory / 16) * 16
    cpu = BASE_CPU_MILLI + (
        max_clients * DELIVERIES_PER_CLIENT / DELIVERIES_PER_CPU_SECOND * CPU_HEADROOM * 1000
    )
    cpu_milli = min(MAX_CPU_MILLI, math.ceil(cpu / 10) * 10)
    return {
        "requests": {"cpu": f"{cpu_milli}m", "memory": f"{memory_mib}Mi"},
        # No CPU limit: throttling a chat server adds latency to every
        # delivery; the request already reserves what the formula expects.
        "limits": {"memory": f"{memory_mib * MEMORY_LIMIT_FACTOR}Mi"},
    }


# --- Labels ------------------------------------------------------------------------

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def app_version(image: str, fallback: str) -> str:
    """``app.kubernetes.io/version`` for an image: its tag, when it is a valid label value."""
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return tag if _LABEL_VALUE.match(tag) else fallback


# --- Scheduling --------------------------------------------------------------------

#: Roles whose servers form a network's backbone (a control server is a hub
#: that serves no clients).
BACKBONE_ROLES = (Role.HUB.value, Role.CONTROL.value)
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def backbone_selector(network: str) -> Obj:
    """A label selector of every hub (and control server) pod of one network."""
    return {
        "matchLabels": {"chatnet.io/network": network},
        "matchExpressions": [
            {"key": "chatnet.io/role", "operator": "In", "values": list(BACKBONE_ROLES)}
        ],
    }


def hub_anti_affinity(network: str) -> list[Obj]:
    """Preferred terms keeping a network's hubs on different nodes, then zones.

    Preferred, not required: a cluster with fewer nodes than hubs still runs
    them all. Across ChatServers (the selector names the network and the
    role, not the server), so two single-replica hubs avoid each other too.
    """
    return [
        {
            "weight": weight,
            "podAffinityTerm": {"labelSelector": backbone_selector(network), "topologyKey": key},
        }
        for weight, key in ((100, HOSTNAME), (50, ZONE))
    ]


def _affinity(network: str, server: ServerSetPlan) -> Obj:
    declared = server.pod.affinity
    affinity: Obj = (
        declared.model_dump(mode="json", by_alias=True, exclude_none=True)
        if declared is not None
        else {}
    )
    if server.role.value not in BACKBONE_ROLES:
        return affinity
    anti = affinity.setdefault("podAntiAffinity", {})
    key = "preferredDuringSchedulingIgnoredDuringExecution"
    anti[key] = hub_anti_affinity(network) + anti.get(key, [])
    return affinity


# --- Probes ------------------------------------------------------------------------

#: Up to a minute to start (opening a large SQLite history) before liveness counts.
STARTUP_PERIOD_SECONDS = 2
STARTUP_FAILURES = 30
#: Readiness: one slow answer (a busy event loop, a GC pause) must not take a
#: server out of the Service; three in a row (15 s) do.
READINESS_FAILURES = 3
PROBE_TIMEOUT_SECONDS = 2


def _probes(container: Obj) -> None:
    liveness = container.get("livenessProbe")
    if liveness is not None:
        # The liveness check itself, so the startup probe follows its port and path.
        container["startupProbe"] = {
            "httpGet": dict(liveness["httpGet"]),
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "failureThreshold": STARTUP_FAILURES,
            "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
        }
        liveness.setdefault("timeoutSeconds", PROBE_TIMEOUT_SECONDS)
    readiness = container.get("readinessProbe")
    if readiness is not None:
        readiness["failureThreshold"] = max(
            READINESS_FAILURES, readiness.get("failureThreshold", 1)
        )
        readiness.setdefault("timeoutSeconds", PROBE_TIMEOUT_SECONDS)


# --- The template --------------------------------------------------------------------


def finish_template(network: str, server: ServerSetPlan, template: Obj) -> Obj:
    """Add sizing, ``spec.pod``, hub anti-affinity and probes to a pod template, in place."""
    pod = server.pod
    meta = template.setdefault("metadata", {})
    # The operator's labels win: they are the selectors.
    meta["labels"] = {**(pod.labels or {}), **meta.get("labels", {})}
    if pod.annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **pod.annotations}
    spec = template["spec"]
    # A chat node never calls the Kubernetes API: no token in the pod to steal.
    spec["automountServiceAccountToken"] = False
    for container in spec["containers"]:
        if "resources" not in container:
            container["resources"] = default_resources(server.max_clients)
        _probes(container)
    node_selector = {**(pod.node_selector or {}), **spec.get("nodeSelector", {})}
    if node_selector:
        spec["nodeSelector"] = node_selector
    affinity = _affinity(network, server)
    if affinity:
        spec["affinity"] = affinity
    if pod.tolerations:
        spec["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in pod.tolerations
        ]
    if pod.priority_class_name:
        spec["priorityClassName"] = pod.priority_class_name
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in pod.image_pull_secrets]
    return template

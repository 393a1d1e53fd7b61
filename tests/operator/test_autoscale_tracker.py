"""The autoscaler's view of a set from probes (pure): a full replica still counts."""

from __future__ import annotations

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.models import ChatServer
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.observe.scaling import Tracker
from chatnet_operator.observe.status import Probe

MANIFEST = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: auto}
spec: {}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: ctl}
spec: {network: auto, role: control, serverId: 1}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: fan}
spec:
  network: auto
  role: leaf
  serverId: 10
  replicas: 2
  maxClients: 40
  uplinks: [ctl]
  autoscale: {minReplicas: 1, maxReplicas: 4, targetClientsPercent: 50, stabilizationWindow: 5s}
"""


def fan_set() -> ChatServer:
    declared = validate_documents(parse_text(MANIFEST, "net.yaml")).networks[0]
    return next(s for s in declared.servers if s.name == "fan")


def run(probes: dict[str, Probe], seconds: float = 12.0) -> list[tuple[float, int]]:
    """Feed the same probes every 0.5 s; the (time, replicas) of each decision."""
    tracker, server, out = Tracker(), fan_set(), []
    for tick in range(int(seconds * 2)):
        now = tick * 0.5
        decision = tracker.step(("auto", "fan"), server, probes, now)
        if decision is not None:
            out.append((now, decision.replicas))
    return out


def test_a_full_replica_is_counted_so_a_saturated_set_still_scales_up() -> None:
    # fan-0 is full: /readyz says 503 (no one is sent to it), yet it is the load.
    full = Probe(healthy=True, ready=False, clients=40, max_clients=40)
    busy = Probe(healthy=True, ready=True, clients=30, max_clients=40)
    decisions = run({"fan-0": full, "fan-1": busy})
    assert decisions and decisions[0][1] == 4, decisions  # 70 clients at 20 a replica


def test_a_draining_or_starting_replica_is_not_a_fair_look() -> None:
    draining = Probe(healthy=True, ready=False, clients=40, max_clients=40, draining=True)
    starting = Probe(healthy=True, ready=False, clients=0, max_clients=40)
    busy = Probe(healthy=True, ready=True, clients=30, max_clients=40)
    assert run({"fan-0": draining, "fan-1": busy}) == []
    assert run({"fan-0": starting, "fan-1": busy}) == []

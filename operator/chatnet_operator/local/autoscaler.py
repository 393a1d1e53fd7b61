"""``chatnet up``'s autoscaler: apply ``spec.autoscale`` to local server sets.

Each poll, ``observe.scaling.Tracker`` samples every autoscaled set and asks
``plan.autoscale.decide`` whether to resize. The chosen count overrides
``spec.replicas`` of what the files declare, and ``chatnet up`` applies it
like a live edit: new replicas are started, removed ones are stopped with
SIGTERM, so each drains (its clients are told and closed, and reconnect
through the front door to the others) before it exits.

A numbered set always loses its highest-numbered replicas (like a
StatefulSet), so "emptiest first" holds among equals only; the log line
names the replicas the decision would have preferred.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chatnet_operator.api.outcome import Declared
from chatnet_operator.observe.scaling import Tracker, policy_of
from chatnet_operator.observe.status import Probe

log = logging.getLogger("chatnet.up")


class LocalAutoscaler:
    """Replica counts of autoscaled sets, keyed by (network, ChatServer name)."""

    def __init__(self) -> None:
        self.replicas: dict[tuple[str, str], int] = {}
        self.tracker = Tracker()

    def override(self, networks: list[Declared]) -> list[Declared]:
        """``networks`` with each autoscaled set's replicas set to the chosen count."""
        out = []
        seen = set()
        for declared in networks:
            servers = []
            for server in declared.servers:
                policy = policy_of(server)
                if policy is None:
                    servers.append(server)
                    continue
                key = (declared.network.name, server.name)
                seen.add(key)
                count = self.replicas.get(key, server.spec.replicas)
                count = min(policy.max_replicas, max(policy.min_replicas, count))
                self.replicas[key] = count
                spec = server.spec.model_copy(update={"replicas": count})
                servers.append(server.model_copy(update={"spec": spec}))
            out.append(Declared(declared.network, tuple(servers)))
        for key in set(self.replicas) - seen:
            del self.replicas[key]
        self.tracker.forget(seen)
        return out

    def observe(self, networks: list[Declared], probes: Mapping[str, Probe], now: float) -> bool:
        """Sample every autoscaled set; True when some set was resized (apply again)."""
        changed = False
        for declared in networks:
            for server in declared.servers:
                key = (declared.network.name, server.name)
                if key not in self.replicas:
                    continue
                decision = self.tracker.step(key, server, probes, now)
                if decision is None:
                    continue
                log.info("autoscale %s: %s", server.name, decision.reason)
                if decision.remove:
                    log.info(
                        "autoscale %s: draining the highest numbered (emptiest: %s)",
                        server.name,
                        ", ".join(decision.remove),
                    )
                self.replicas[key] = decision.replicas
                changed = True
        return changed

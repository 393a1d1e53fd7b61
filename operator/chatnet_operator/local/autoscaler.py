"""``chatnet up``'s autoscaler: apply ``spec.autoscale`` to local server sets.

Each poll, every autoscaled set gets a sample (clients per replica, from the
probes); ``plan.autoscale.decide`` says whether to resize. The chosen count
overrides ``spec.replicas`` of what the files declare, and ``chatnet up``
applies it like a live edit: new replicas are started, removed ones are
stopped with SIGTERM, so each drains (its clients are told and closed, and
reconnect through the front door to the others) before it exits.

A numbered set always loses its highest-numbered replicas (like a
StatefulSet), so "emptiest first" holds among equals only; the log line says
which replicas the decision would have preferred.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from chatnet_operator.api.models import ChatServer
from chatnet_operator.api.outcome import Declared
from chatnet_operator.observe.status import Probe
from chatnet_operator.plan.autoscale import Policy, Sample, decide

log = logging.getLogger("chatnet.up")


def policy_of(server: ChatServer) -> Policy | None:
    scale = server.spec.autoscale
    if scale is None:
        return None
    return Policy(
        scale.min_replicas,
        scale.max_replicas,
        scale.target_clients_percent,
        scale.window_seconds,
    )


@dataclass
class _SetState:
    replicas: int
    samples: list[Sample] = field(default_factory=list)
    last_change: float | None = None


class LocalAutoscaler:
    """Replica counts of autoscaled sets, keyed by (network, ChatServer name)."""

    def __init__(self) -> None:
        self.sets: dict[tuple[str, str], _SetState] = {}
        #: (time, set, old, new, reason) of every resize, for the log and tests.
        self.history: list[tuple[float, str, int, int, str]] = []

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
                state = self.sets.setdefault(key, _SetState(server.spec.replicas))
                state.replicas = min(policy.max_replicas, max(policy.min_replicas, state.replicas))
                spec = server.spec.model_copy(update={"replicas": state.replicas})
                servers.append(server.model_copy(update={"spec": spec}))
            out.append(Declared(declared.network, tuple(servers)))
        for key in set(self.sets) - seen:
            del self.sets[key]
        return out

    def observe(self, networks: list[Declared], probes: Mapping[str, Probe], now: float) -> bool:
        """Record a sample of every autoscaled set; True when some set should be resized."""
        changed = False
        for declared in networks:
            for server in declared.servers:
                policy = policy_of(server)
                state = self.sets.get((declared.network.name, server.name))
                if policy is None or state is None:
                    continue
                names = [name for name, _ in server.members()]
                seen = [probes.get(name) for name in names]
                if not all(p is not None and p.healthy and p.ready for p in seen):
                    continue  # starting or draining: not a fair look at the load
                capacity = max((p.max_clients for p in seen if p is not None), default=0)
                clients = {n: p.clients for n, p in zip(names, seen, strict=True) if p}
                state.samples.append(Sample(now, clients, capacity))
                horizon = now - 2 * policy.window
                state.samples = [s for s in state.samples if s.at >= horizon]
                decision = decide(policy, state.replicas, state.samples, now, state.last_change)
                if not decision.changes(state.replicas):
                    continue
                log.info("autoscale %s: %s", server.name, decision.reason)
                if decision.remove:
                    log.info(
                        "autoscale %s: draining the highest numbered (emptiest: %s)",
                        server.name,
                        ", ".join(decision.remove),
                    )
                self.history.append(
                    (now, server.name, state.replicas, decision.replicas, decision.reason)
                )
                state.replicas = decision.replicas
                state.last_change = now
                state.samples = []
                changed = True
        return changed

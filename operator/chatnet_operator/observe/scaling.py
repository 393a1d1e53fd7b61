"""Autoscaling bookkeeping shared by the operator and ``chatnet up``: pure, no I/O.

A ``Tracker`` turns probes into samples of each autoscaled ChatServer set,
keeps the last two stabilisation windows of them, and asks
``plan.autoscale.decide`` what to run. Whoever owns the Tracker applies the
decision (the operator writes ``spec.replicas``; ``chatnet up`` starts and
stops processes) and reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chatnet_operator.api.models import ChatServer
from chatnet_operator.observe.status import Probe
from chatnet_operator.plan.autoscale import Decision, Policy, Sample, decide


def policy_of(server: ChatServer) -> Policy | None:
    """The decision's view of ``spec.autoscale``; None when the set is not autoscaled."""
    scale = server.spec.autoscale
    if scale is None:
        return None
    return Policy(
        scale.min_replicas, scale.max_replicas, scale.target_clients_percent, scale.window_seconds
    )


def sample_of(server: ChatServer, probes: Mapping[str, Probe], now: float) -> Sample | None:
    """The set's load now; None while a replica is starting, draining or silent
    (not a fair look at the load).

    A full replica is not ready either (``/readyz`` turns 503 so no one is sent
    to it), but it is the clearest look of all: counting it out would leave
    the set blind exactly when every replica is full.
    """
    names = [name for name, _ in server.members()]
    seen = [probes.get(name) for name in names]
    ready = [p for p in seen if p is not None and p.healthy and (p.ready or p.full)]
    if len(ready) != len(names):
        return None
    capacity = max(p.max_clients for p in ready)
    return Sample(now, {n: p.clients for n, p in zip(names, ready, strict=True)}, capacity)


@dataclass
class SetState:
    """What the tracker remembers of one set."""

    samples: list[Sample] = field(default_factory=list)
    last_change: float | None = None


@dataclass
class Tracker:
    """Samples and last resize of every autoscaled set, keyed by the caller."""

    sets: dict[tuple[str, str], SetState] = field(default_factory=dict)

    def step(
        self,
        key: tuple[str, str],
        server: ChatServer,
        probes: Mapping[str, Probe],
        now: float,
    ) -> Decision | None:
        """Record a sample; the decision when the set should be resized, else None."""
        policy = policy_of(server)
        if policy is None:
            self.sets.pop(key, None)
            return None
        state = self.sets.setdefault(key, SetState())
        current = server.spec.replicas
        sample = sample_of(server, probes, now)
        if sample is not None:
            state.samples.append(sample)
        state.samples = [s for s in state.samples if s.at >= now - 2 * policy.window]
        decision = decide(policy, current, state.samples, now, state.last_change)
        if not decision.changes(current):
            return None
        state.last_change = now
        state.samples = []
        return decision

    def forget(self, keep: set[tuple[str, str]]) -> None:
        """Drop the sets no longer declared."""
        for key in set(self.sets) - keep:
            del self.sets[key]

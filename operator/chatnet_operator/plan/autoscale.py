"""Fan-out autoscaling: how many replicas a server set should run, and which go.

A pure function over what the probes saw (no clock, no I/O), shared by the
operator and ``chatnet up``. The model is the Kubernetes HPA's, on clients:

- each sample recommends ``ceil(clients / (capacity per replica x target))``
  replicas, within ``[minReplicas, maxReplicas]``;
- to scale up, *every* sample of the stabilisation window must recommend
  more (the smallest recommendation wins), so a short burst does nothing;
- to scale down, every sample must recommend fewer (the largest wins);
- nothing happens until a whole window has passed since the last change.

A load that hovers around the target recommends ``n`` and ``n + 1`` in turn:
the smallest is ``n`` (no scale-up) and the largest ``n + 1`` (no scale-down),
so it never flaps. Replicas that go are the emptiest (fewest clients, then
the highest numbered), each drained first by whoever applies the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Seconds the load must stay beyond the target before the set is resized.
DEFAULT_WINDOW = 60.0


@dataclass(frozen=True)
class Policy:
    """``spec.autoscale`` of a ChatServer set."""

    min_replicas: int
    max_replicas: int
    target_percent: int
    window: float = DEFAULT_WINDOW


@dataclass(frozen=True)
class Sample:
    """One look at the set: clients per replica, and each replica's maxClients."""

    at: float
    clients: Mapping[str, int]
    capacity_per_replica: int

    @property
    def total(self) -> int:
        return sum(self.clients.values())


@dataclass(frozen=True)
class Decision:
    """What to run: ``replicas``, and when fewer, which replicas to drain and remove."""

    replicas: int
    remove: tuple[str, ...] = ()
    reason: str = ""

    def changes(self, current: int) -> bool:
        return self.replicas != current


def recommend(policy: Policy, sample: Sample) -> int:
    """Replicas that would hold this sample's clients at the target share, within bounds."""
    per_replica = sample.capacity_per_replica * policy.target_percent / 100
    wanted = math.ceil(sample.total / per_replica) if per_replica > 0 else policy.max_replicas
    return min(policy.max_replicas, max(policy.min_replicas, wanted))


def _emptiest(sample: Sample, count: int) -> tuple[str, ...]:
    order = sorted(sample.clients, key=lambda name: (sample.clients[name], _number(name)))
    return tuple(order[:count])


def _number(name: str) -> int:
    """Replica number, negated so that among equals the highest numbered sorts first."""
    tail = name.rsplit("-", 1)[-1]
    return -int(tail) if tail.isdigit() else 0


def _usage(sample: Sample, replicas: int) -> str:
    capacity = sample.capacity_per_replica * max(replicas, 1)
    return f"{sample.total}/{capacity} clients ({100 * sample.total / max(capacity, 1):.0f}%)"


def decide(
    policy: Policy,
    current: int,
    samples: Sequence[Sample],
    now: float,
    last_change: float | None,
) -> Decision:
    """The replica count to run now; ``Decision(current)`` when nothing should change.

    ``samples`` are oldest first; ``last_change`` is when the set was last resized
    (None: never). Out-of-bounds counts are corrected at once.
    """
    if current < policy.min_replicas:
        return Decision(policy.min_replicas, reason=f"below minReplicas {policy.min_replicas}")
    if current > policy.max_replicas:
        keep = policy.max_replicas
        remove = _emptiest(samples[-1], current - keep) if samples else ()
        return Decision(keep, remove, reason=f"above maxReplicas {keep}")
    start = now - policy.window
    if last_change is not None and last_change > start:
        return Decision(current)  # still settling after the last change
    window = [s for s in samples if s.at >= start]
    if not window or not any(s.at <= start + policy.window * 0.1 for s in samples):
        return Decision(current)  # not a whole window seen yet
    recommendations = [recommend(policy, s) for s in window]
    latest = window[-1]
    seconds = f"{policy.window:.0f}s"
    up, down = min(recommendations), max(recommendations)
    if up > current:
        return Decision(
            up,
            reason=f"{_usage(latest, current)} stayed above the {policy.target_percent}% "
            f"target for {seconds}: {current} -> {up} replicas",
        )
    if down < current:
        return Decision(
            down,
            _emptiest(latest, current - down),
            reason=f"{_usage(latest, current)} stayed below the {policy.target_percent}% "
            f"target for {seconds}: {current} -> {down} replicas, the emptiest drained first",
        )
    return Decision(current)

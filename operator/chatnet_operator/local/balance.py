"""Which server takes the next client: the least loaded of those that are ready.

123 Flash Chat's load balancer in one function. Load is the share of
``maxClients`` in use, counting clients sent since the last poll, so a burst
of connections between two polls still spreads out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLoad:
    """What the front door knows of one server."""

    name: str
    ready: bool
    clients: int
    max_clients: int
    pending: int = 0

    @property
    def has_room(self) -> bool:
        return self.ready and self.clients + self.pending < self.max_clients


def least_loaded(loads: Iterable[ServerLoad]) -> str | None:
    """The ready server with room and the lowest load; ``None`` when all are full or down.

    Ties go to the server with fewer clients, then to the first name, so the
    choice is stable.
    """
    candidates = [s for s in loads if s.has_room]
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda s: ((s.clients + s.pending) / s.max_clients, s.clients + s.pending, s.name),
    )
    return best.name


#: A connection counts as pending until a probe that started this long after it.
SETTLE_SECONDS = 0.5


def settle(sent_at: list[float], probe_started: float) -> list[float]:
    """The connections a fresh probe cannot be trusted to have counted yet.

    A connection sent just before a probe may reach the server after the
    probe's answer; forgetting it then would send the next client to the
    same server. So a connection stays pending until a probe started
    ``SETTLE_SECONDS`` after it (it may be counted twice meanwhile, which
    only makes the choice more careful).
    """
    return [t for t in sent_at if t > probe_started - SETTLE_SECONDS]

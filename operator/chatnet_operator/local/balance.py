"""Which server takes the next client: the least loaded of those that are ready.

123 Flash Chat's load balancer in one function. Load is the share of
``maxClients`` in use. A server's ``/status`` lags a burst twice over: it is
polled every few hundred milliseconds, and it counts a client only once
registered, which under a burst takes seconds. So the estimate also counts
what the front door itself handed out: connections sent since the last
probe (``pending``) and connections it is relaying to that server right now
(``live``, reserved at the handoff and released when the connection ends).
Balancing on the probe alone piled a 500-connection burst onto one server.
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
    live: int = 0

    @property
    def load(self) -> int:
        """Clients it has or is about to have: the larger of what it reported plus what
        was sent since, and what the front door is relaying to it (registered or not)."""
        return max(self.clients + self.pending, self.live)

    @property
    def has_room(self) -> bool:
        return self.ready and self.load < self.max_clients


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
        key=lambda s: (s.load / s.max_clients, s.load, s.name),
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


#: Seconds a server that stops answering its probe is still offered clients. A
#: burst can keep a node too busy to answer within the probe's limit; counting it
#: out then sends the whole burst elsewhere, or refuses it as "full". A server
#: that is really gone refuses the connection at once and the next one is tried.
PROBE_GRACE = 3.0


def trust_last_good(answered: bool, last_good_at: float | None, now: float) -> bool:
    """Should the front door keep using the last good probe instead of this one?"""
    return not answered and last_good_at is not None and now - last_good_at <= PROBE_GRACE

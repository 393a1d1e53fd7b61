"""How long to wait before restarting a crashed server.

Doubling delays stop a server that crashes at start from spinning the CPU;
a server that ran for a while before crashing starts over at the shortest
delay, since its crash says nothing about the next start.
"""

from __future__ import annotations

FIRST = 0.5
LIMIT = 30.0
STABLE_AFTER = 30.0


def next_delay(previous: float | None, ran_for: float) -> float:
    """The delay before the next start, given the last delay and how long it ran."""
    if previous is None or ran_for >= STABLE_AFTER:
        return FIRST
    return min(previous * 2, LIMIT)

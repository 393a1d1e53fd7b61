"""Which clients a tick looks at for timeouts: each about once a second, a share a tick.

The core's tick (ten a second, ``Node``) times out registrations, pings the
quiet clients and quits those silent past their ping timeout. Looking at all
of 10,000 clients in one tick took 1.2-1.6 ms in a test process (more with
the caches cold under a flood): a stall, once a second, in which no line is
read. So a round, once a second, takes the clients as they are then, and
each tick looks at a share of them: a round is done within
``TICKS_PER_ROUND`` ticks, and below ``MIN_SHARE`` clients in one, as before.

Pure: the core hands in the clients and the time.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Client

#: How often a round starts (a client's timeouts are looked at this often).
ROUND_SECONDS = 1.0
#: The ticks a round is spread over (of the ten a second: some slack).
TICKS_PER_ROUND = 8
#: Clients one tick looks at, at least: fewer in all, and a round is one tick.
MIN_SHARE = 1000


class TimeoutRounds:
    """The clients of the round under way, and how far the ticks got."""

    def __init__(self) -> None:
        self._round: list[Client] = []
        self._at = 0
        self._share = MIN_SHARE
        self._started = float("-inf")

    def begin(self, now: float, clients: Iterable[Client]) -> bool:
        """Start a round if one is due (the last is done, a second has passed): True if so."""
        if self._round or now - self._started < ROUND_SECONDS:
            return False
        self._started = now
        self._round = list(clients)
        self._at = 0
        self._share = max(MIN_SHARE, -(-len(self._round) // TICKS_PER_ROUND))
        return True

    def share(self) -> list[Client]:
        """This tick's clients (none when no round is under way)."""
        share = self._round[self._at : self._at + self._share]
        self._at += len(share)
        if self._at >= len(self._round):
            self._round, self._at = [], 0  # nobody kept past its round
        return share

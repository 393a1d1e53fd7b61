"""How many warnings about one peer's messages are written: a few each window, the rest counted.

A refused event is logged with its reason, so an operator can see what a
peer sent and why it was not taken. But a peer that stays within its rate
(``links.peerRate``, 20,000 messages a second) may send nothing but events
that are refused one by one (a server behind it past a bound, a user it
does not own), and its link stays: one warning each would be 20,000 log
lines a second, the log's cost a denial of service of its own. So per peer
the first ``PER_WINDOW`` warnings of each ``WINDOW`` seconds are written;
the others are counted (the ``chatnet_link_*`` counters count every event
either way) and their number is said with the next warning written, or when
the link goes.

Pure: the caller gives the time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PER_WINDOW", "WINDOW", "LogLimit"]

#: Seconds of one window.
WINDOW = 10.0
#: Warnings about one peer written in a window.
PER_WINDOW = 20


@dataclass(slots=True)
class _Window:
    start: float
    written: int = 0
    held: int = 0


class LogLimit:
    """Per peer: write this warning or count it; how many were held back before it."""

    def __init__(self, per_window: int = PER_WINDOW, window: float = WINDOW) -> None:
        self.per_window = per_window
        self.window = window
        self._peers: dict[str, _Window] = {}

    def admit(self, peer: str, now: float) -> tuple[bool, int]:
        """Write a warning about ``peer`` now? And how many were held back and
        not yet said (say that first; 0 while this one is held too)."""
        current = self._peers.get(peer)
        if current is None or now - current.start >= self.window:
            held = current.held if current is not None else 0
            self._peers[peer] = _Window(now, written=1)
            return True, held
        if current.written < self.per_window:
            current.written += 1
            return True, 0
        current.held += 1
        return False, 0

    def forget(self, peer: str) -> int:
        """The link to ``peer`` went: how many warnings about it were held back unsaid."""
        gone = self._peers.pop(peer, None)
        return gone.held if gone is not None else 0

"""Read markers (IRCv3 ``draft/read-marker``): how far each user has read each conversation.

A marker is the server-time of the last message the user read in a channel
or a private conversation. It only moves forward. Every server of the
network keeps every marker (a change travels as a link event, a burst
carries them all), so a user who reconnects to another server, after a
failover say, finds its markers there. Markers are keyed by the user's
account (``$name``) once logged in, so every connection of one account
shares them, and by the folded nick for users not logged in. Plain object, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict

from .servertime import format_time, parse_time

#: Markers kept per server (the least recently changed go first).
MAX_MARKERS = 100_000


class ReadMarkers:
    """The latest read time per (folded nick, folded target)."""

    def __init__(self, limit: int = MAX_MARKERS) -> None:
        self.limit = limit
        self._markers: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._markers)

    def get(self, nick: str, target: str) -> str:
        """The marker as MARKREAD shows it: ``timestamp=...``, or ``*`` when none."""
        ts = self._markers.get((nick, target))
        return "*" if ts is None else f"timestamp={format_time(ts)}"

    def advance(self, nick: str, target: str, ts: float) -> bool:
        """Move the marker forward to ``ts``; False when it already was there or beyond."""
        key = (nick, target)
        current = self._markers.get(key)
        if current is not None and ts <= current:
            return False
        self._markers[key] = ts
        self._markers.move_to_end(key)
        while len(self._markers) > self.limit:
            self._markers.popitem(last=False)
        return True

    def items(self) -> list[tuple[str, str, float]]:
        """Every marker, least recently changed first (for a burst)."""
        return [(nick, target, ts) for (nick, target), ts in self._markers.items()]


def parse_marker(value: str) -> float | None:
    """The time in a client's ``timestamp=YYYY-MM-DDThh:mm:ss.sssZ``, or None if malformed."""
    if not value.startswith("timestamp="):
        return None
    return parse_time(value[len("timestamp=") :])

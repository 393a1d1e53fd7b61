"""What an authenticated link peer may still not do: flood, or replay what is old.

Pure decisions, no I/O; the ``LinkManager`` asks them for every message.

* ``PeerRate``: a token bucket of link messages per link and origin server
  (``links.peerRate`` a second, ``links.peerBurst`` at once): a peer's own
  messages count for it, the events it forwards for their origin (only one
  the routes place behind it: the manager decides). A link
  whose bucket empties is flooding: the manager drops that link with the
  reason logged; other links are not touched. Counting per origin keeps a
  hub that forwards many servers' traffic under the limit; a forwarded
  origin gets twice the allowance, so a flood is cut at its first hop
  (where the origin is the peer) and never splits the network further on.
* ``Replays``: every id a server makes (``irc.ids``) is its per-start prefix
  (server ID in hex, then 6 random hex digits) and a counter, and each link
  carries one origin's events in the order they were made. So an event id,
  or a message's msgid, whose counter is not above the last one that link
  brought from that prefix is old: a replay, refused. Counted per link:
  while servers' views of a change differ, events are flooded and one
  origin's events may come by two links, a later one first by one of them
  (the copy by the other link is a duplicate, dropped by event id). Ids of
  another shape (a burst's, which restates state) are not judged here; the
  manager's duplicate check and the recent window's msgids still apply.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["PeerRate", "Replays", "counter_of"]

#: Prefixes remembered (each server start makes one); the oldest are forgotten.
MAX_PREFIXES = 4096
_HEX = frozenset("0123456789abcdef")


@dataclass
class PeerRate:
    """A token bucket of messages per link."""

    rate: float  # messages a second; 0: no limit
    burst: float
    #: (link, origin) -> (tokens, when counted)
    _tokens: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)

    def admit(self, link: int, origin: str, now: float, forwarded: bool = False) -> bool:
        """Take one token for a message of ``origin`` on ``link`` (an id); False: flooding.

        ``forwarded``: ``origin`` is behind the peer, not the peer: twice the allowance.
        """
        if self.rate <= 0:
            return True
        scale = 2.0 if forwarded else 1.0
        key = (link, origin)
        tokens, at = self._tokens.get(key, (self.burst * scale, now))
        tokens = min(self.burst * scale, tokens + (now - at) * self.rate * scale)
        if tokens < 1:
            self._tokens[key] = (tokens, now)
            return False
        self._tokens[key] = (tokens - 1, now)
        return True

    def forget(self, link: int) -> None:
        """The link is gone."""
        for key in [key for key in self._tokens if key[0] == link]:
            del self._tokens[key]


def counter_of(value: str, sid: int, mark: str = "") -> tuple[str, int] | None:
    """``(prefix, counter)`` of an id made by server ``sid``, or None for another shape.

    ``mark`` is what stands between prefix and counter (``e`` for event ids);
    a msgid's horizon suffix (``-...``) is not part of its counter.
    """
    width = len(f"{sid:x}") + 6
    prefix = value[:width]
    if not prefix.startswith(f"{sid:x}") or not set(prefix) <= _HEX:
        return None
    rest = value[width:]
    if mark:
        if not rest.startswith(mark):
            return None
        rest = rest[len(mark) :]
    digits = rest.split("-", 1)[0]
    if not digits or len(digits) > 16 or not set(digits) <= _HEX:
        return None
    return prefix, int(digits, 16)


class Replays:
    """The last counter applied per link and prefix, for event ids and msgids apart."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, int] = OrderedDict()

    def stale(self, kind: str, value: str, sid: int, mark: str = "", link: int = 0) -> str | None:
        """Why ``value`` (an id of server ``sid``, brought by ``link``) is old, or None
        (and it is now that link's last)."""
        parsed = counter_of(value, sid, mark)
        if parsed is None:
            return None
        prefix, counter = parsed
        key = f"{kind}:{link}:{prefix}"
        last = self._last.get(key)
        if last is not None and counter <= last:
            return f"replayed {kind} {value}: already applied up to {last:x} of {prefix}"
        self._last[key] = counter
        self._last.move_to_end(key)
        if len(self._last) > MAX_PREFIXES:
            self._last.popitem(last=False)
        return None

    def forget(self, link: int) -> None:
        """The link is gone (and its id may be reused by a new one)."""
        infix = f":{link}:"
        for key in [key for key in self._last if infix in key]:
            del self._last[key]

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
  (server ID in hex, then 6 random hex digits) and a counter. Per origin and
  prefix (event ids and msgids apart) it keeps the highest counter applied and
  which of the ``REPLAY_WINDOW`` counters below it were applied, the
  anti-replay window of IPsec (RFC 4303, 3.4.3): an id applied already, or
  older than the window, is a replay, refused. Within the window an id not
  yet applied is taken in any order: while servers' views of a change of
  links differ, events are flooded, and one origin's events may come by two
  paths and cross. Ids of another shape (a burst's, which restates state)
  are not judged here; the manager's duplicate check and the recent
  window's msgids still apply.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["PeerRate", "Replays", "counter_of", "foreign_msgid"]

#: Prefixes remembered (each server start makes one); the oldest are forgotten.
MAX_PREFIXES = 4096
#: Counters below a prefix's highest whose use is remembered (a bitmap each).
REPLAY_WINDOW = 8192
_WINDOW_MASK = (1 << REPLAY_WINDOW) - 1
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


def foreign_msgid(msgid: str, origin: str, sids: Iterable[int]) -> str | None:
    """Why ``msgid`` is not one ``origin`` makes (its server ID, then its start), or None.

    A server stamps its own: another's msgid, taken first, would shut out the
    line its server gives it (acknowledged there). ``sids``: the server IDs
    ``origin`` had (none known: not judged).
    """
    known = sorted(set(sids))
    if not known or any(counter_of(msgid, sid) is not None for sid in known):
        return None
    return f"msgid {msgid} is not one {origin} makes (server ID {', '.join(map(str, known))})"


class Replays:
    """Per prefix, the highest counter applied and the window of those below it."""

    def __init__(self) -> None:
        #: key -> (highest counter, bitmap: bit n set when ``highest - n`` was applied)
        self._windows: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def stale(self, kind: str, value: str, origin: str, sid: int, mark: str = "") -> str | None:
        """Why ``value`` (an id of server ``origin``, ID ``sid``) is a replay, or None.

        None: it is new, and now applied. Windows are kept per origin too: a
        server that says it has another's ID moves no window of that one's.
        """
        parsed = counter_of(value, sid, mark)
        if parsed is None:
            return None
        prefix, counter = parsed
        key = f"{kind}:{origin}:{prefix}"
        window = self._windows.get(key)
        if window is None:
            high, bits = counter, 1
        else:
            high, bits = window
            if counter > high:
                ahead = counter - high
                bits = 1 if ahead >= REPLAY_WINDOW else ((bits << ahead) | 1) & _WINDOW_MASK
                high = counter
            else:
                back = high - counter
                if back >= REPLAY_WINDOW:
                    return (
                        f"replayed {kind} {value}: older than the last {REPLAY_WINDOW} "
                        f"applied, up to {high:x} of {prefix}"
                    )
                if bits >> back & 1:
                    return f"replayed {kind} {value}: already applied up to {high:x} of {prefix}"
                bits |= 1 << back
        self._windows[key] = (high, bits)
        self._windows.move_to_end(key)
        if len(self._windows) > MAX_PREFIXES:
            self._windows.popitem(last=False)
        return None

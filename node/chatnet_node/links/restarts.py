"""A server that started again before the network saw it go: its earlier users are gone.

A leaf whose host vanished without closing its links, started again
elsewhere, finds its first uplink still holding the dead link (a second
link from the same server is refused) and dials its next one. The network
never sees it leave, so without this the users of its earlier start would
stay on every server for good, holding their nicks. Every server's ids
carry its start (``irc.ids``): its clock events' ids (twice a second, down
its tree) and its users' uids. A start not heard from a server before, on
an event stamped after the last one heard of the start before (if any), is
the one it runs now: its users of any other start quit here, before the
event is taken (so a user who reconnected under the same nick is not taken
for a collision with its own ghost). Each server sees it for itself, as it
sees a split, so nothing is sent. A start once replaced is never taken
again: the earlier process, resumed (a paused machine), is not heard.
Stamps are compared across the two starts, so this takes the two hosts'
clocks to agree within the time the server was away; where the new one's
runs behind, nothing is quit (the ghosts stay, as they did before this).

Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

from ..irc.model import Client
from .guard import counter_of

__all__ = ["Heard", "Starts", "earlier_users", "start_of", "uid_start"]

Heard = Literal["new", "current", "late", "replaced"]

_HEX = frozenset("0123456789abcdef")
#: The random part of a start (``Ids.start``): 6 hex digits.
START_WIDTH = 6
#: Replaced starts remembered per server.
REPLACED = 16


class Starts:
    """Each server's latest start, when it was last heard, and the starts it replaced."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[str, float]] = {}
        self._replaced: dict[str, deque[str]] = {}

    def replaced(self, origin: str, start: str) -> bool:
        """Is ``start`` one ``origin`` has started again since?"""
        return start in self._replaced.get(origin, ())

    def heard(self, origin: str, start: str, ts: float) -> Heard:
        """An event of ``origin``'s ``start`` stamped ``ts``, and what it means:

        * ``new``: the first start heard, or a later one: ``origin``'s users of
          any other start are gone (the first counts too: this server may not
          have heard the start before, or the other lived less than a clock's
          interval);
        * ``current``: the start heard last;
        * ``late``: another start, stamped no later than the last heard: taken,
          nothing more (a start never current here is not judged: with the new
          host's clock behind the old one's, its users must still be heard);
        * ``replaced``: a start that was current here and has been replaced
          since: its events are not taken.
        """
        if self.replaced(origin, start):
            return "replaced"
        known = self._latest.get(origin)
        if known is not None and known[0] == start:
            if ts > known[1]:
                self._latest[origin] = (start, ts)
            return "current"
        if known is not None:
            if ts <= known[1]:
                return "late"
            self._replaced.setdefault(origin, deque(maxlen=REPLACED)).append(known[0])
        self._latest[origin] = (start, ts)
        return "new"

    def forget(self, origins: Iterable[str]) -> None:
        """These servers left the network (their users quit with the split)."""
        for origin in origins:
            self._latest.pop(origin, None)
            self._replaced.pop(origin, None)


def start_of(event_id: str, sid: int) -> str | None:
    """The start an event id of server ``sid`` was made in (None: another shape)."""
    made = counter_of(event_id, sid, "e")
    return None if made is None else made[0][len(f"{sid:x}") :]


def uid_start(uid: str, sid: int) -> str | None:
    """The start a uid of server ``sid`` was made in (None: another shape).

    A uid is the server ID (decimal), ``u``, the start, then a counter; one
    of another shape (an earlier release's, or made up) names no start.
    """
    prefix = f"{sid}u"
    if not uid.startswith(prefix):
        return None
    rest = uid[len(prefix) :]
    if len(rest) <= START_WIDTH or not set(rest) <= _HEX:
        return None
    return rest[:START_WIDTH]


def earlier_users(users: Iterable[Client], sid: int, start: str) -> list[Client]:
    """Of one server's ``users``, those whose uids were made in another start than ``start``."""
    return [user for user in users if uid_start(user.uid, sid) not in (None, start)]

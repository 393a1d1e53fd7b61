"""A server that started again before the network saw it go: its earlier users are gone.

A leaf killed and started again within a link's ping timeout finds its
first uplink still holding the dead link (a second link from the same
server is refused), and dials its next one. The network never sees it
leave, so without this the users of its earlier start would stay on every
server for good, holding their nicks. Every server's clock events (twice a
second, down its tree) carry its start in their ids (``irc.ids``): a start
not heard from it before (and stamped after the last event of the one
before, if any was heard) is the one it runs now, and its users whose uids
carry another start quit here.
Each server sees it for itself, as it sees a split, so nothing is sent.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..irc.model import Client
from .guard import counter_of

__all__ = ["Starts", "earlier_users", "start_of"]

_HEX = frozenset("0123456789abcdef")
#: The random part of a start (``Ids.start``): 6 hex digits.
START_WIDTH = 6


class Starts:
    """Each server's latest start, and the stamp of its latest clock event."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[str, float]] = {}

    def heard(self, origin: str, start: str, ts: float) -> bool:
        """A clock event of ``origin``'s ``start`` stamped ``ts``: True if that start is
        news here (the first heard, or a later one): ``origin``'s users of any other
        start are gone. The first counts too: this server may not have heard the start
        before (it started later, or the other lived less than a clock's interval)."""
        known = self._latest.get(origin)
        if known is not None and known[0] == start:
            if ts > known[1]:
                self._latest[origin] = (start, ts)
            return False
        if known is not None and ts <= known[1]:
            return False  # a late event of an earlier start
        self._latest[origin] = (start, ts)
        return True

    def forget(self, origins: Iterable[str]) -> None:
        """These servers left the network (their users quit with the split)."""
        for origin in origins:
            self._latest.pop(origin, None)


def start_of(event_id: str, sid: int) -> str | None:
    """The start an event id of server ``sid`` was made in (None: another shape)."""
    made = counter_of(event_id, sid, "e")
    return None if made is None else made[0][len(f"{sid:x}") :]


def earlier_users(users: Iterable[Client], server: str, sid: int, start: str) -> list[Client]:
    """The users of ``server`` here whose uids were made in another start than ``start``.

    A uid is the server ID (decimal), ``u``, the start, then a counter; one of
    another shape (an earlier release's) is never taken for an earlier start's.
    """
    prefix = f"{sid}u"
    out = []
    for user in users:
        if not user.remote or user.server != server or not user.uid.startswith(prefix):
            continue
        rest = user.uid[len(prefix) :]
        theirs = rest[:START_WIDTH]
        if len(rest) > START_WIDTH and set(rest) <= _HEX and theirs != start:
            out.append(user)
    return out
